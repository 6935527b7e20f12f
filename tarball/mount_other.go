//go:build !linux

package tarball

// isMountPoint reports false: outside Linux, a target that is a mount point
// is not detected, and replacing it fails with the rename's error.
func isMountPoint(dir string) (bool, error) { return false, nil }
