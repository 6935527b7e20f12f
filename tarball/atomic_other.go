//go:build !linux

package tarball

// exchange reports that an atomic swap is not available here; replaceDir
// falls back to two renames.
func exchange(a, b string) (bool, error) { return false, nil }
