package tarball

import (
	"path/filepath"

	"golang.org/x/sys/unix"
)

// isMountPoint reports whether dir is the root of a mount, which cannot be
// renamed over (EBUSY). statx says so directly (Linux 5.8 and later, which
// also sees bind mounts within one file system); on older kernels a device
// different from the parent's tells.
func isMountPoint(dir string) (bool, error) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, dir, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &st); err != nil {
		return false, err
	}
	if st.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 {
		return st.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, nil
	}
	var parent unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, filepath.Dir(dir), 0, unix.STATX_BASIC_STATS, &parent); err != nil {
		return false, err
	}
	return st.Dev_major != parent.Dev_major || st.Dev_minor != parent.Dev_minor, nil
}
