package tarball

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// exchange atomically swaps the directories a and b with
// renameat2(RENAME_EXCHANGE). It reports false, with no error, when the
// kernel or file system does not support it.
func exchange(a, b string) (bool, error) {
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOTSUP), errors.Is(err, unix.EPERM):
		return false, nil
	}
	return false, &os.LinkError{Op: "renameat2", Old: a, New: b, Err: err}
}
