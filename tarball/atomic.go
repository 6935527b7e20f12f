package tarball

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// mkdirUnique creates a new directory named prefix+<random> in parent.
// Unlike os.MkdirTemp it takes a mode, so the final tree gets the usual
// umask-filtered permissions rather than 0o700.
func mkdirUnique(parent, prefix string, perm fs.FileMode) (string, error) {
	for range 100 {
		name := filepath.Join(parent, prefix+strconv.FormatUint(rand.Uint64(), 36))
		err := os.Mkdir(name, perm)
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", &fs.PathError{Op: "mkdir", Path: filepath.Join(parent, prefix+"*"), Err: fs.ErrExist}
}

// uniqueName returns a name in parent that does not exist yet.
func uniqueName(parent, prefix string) (string, error) {
	for range 100 {
		name := filepath.Join(parent, prefix+strconv.FormatUint(rand.Uint64(), 36))
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			return name, nil
		}
	}
	return "", &fs.PathError{Op: "rename", Path: filepath.Join(parent, prefix+"*"), Err: fs.ErrExist}
}

// replaceDir puts the tree tmp in place of dst. See Extract for the
// guarantee. On error dst is as it was and tmp still exists.
func replaceDir(tmp, dst string, sync bool) error {
	parent := filepath.Dir(dst)
	if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(tmp, dst); err != nil {
			return err
		}
		return syncParent(parent, sync)
	}
	switch exchanged, err := exchange(tmp, dst); {
	case err != nil:
		return err
	case exchanged:
		// tmp now holds the previous tree.
		err := syncParent(parent, sync)
		_ = os.RemoveAll(tmp)
		return err
	}
	if err := renameAside(tmp, dst); err != nil {
		return err
	}
	return syncParent(parent, sync)
}

// swapNames returns the fixed names of the new tree beside dst and of the
// old one set aside by renameAside. They are fixed, not random, so that
// removing what a crash left costs two removals, never a listing of the
// parent (which holds the directories of every other source of a
// controller): concurrent extractions into one dst are the caller's to
// serialise anyway.
func swapNames(dst string) (tmp, old string) {
	parent, base := filepath.Split(dst)
	return filepath.Join(parent, "."+base+tmpSuffix), filepath.Join(parent, "."+base+oldSuffix)
}

const (
	tmpSuffix = ".ocisource-tmp"
	oldSuffix = ".ocisource-old"
)

// freshDir creates the directory name after removing whatever a crash left
// there (a symbolic link planted there is removed, never followed).
func freshDir(name string, perm fs.FileMode) error {
	// Nothing is there almost always: one mkdir, and the removal only
	// when it finds something.
	err := os.Mkdir(name, perm)
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	if err := os.RemoveAll(name); err != nil {
		return err
	}
	return os.Mkdir(name, perm)
}

// removeIfPresent removes path (a tree, or a link, never followed) when
// something is there: one lstat when nothing is, where os.RemoveAll tries
// an unlink and an rmdir.
func removeIfPresent(path string) error {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return os.RemoveAll(path)
}

// renameAside replaces dst by tmp with two renames: dst to its fixed
// ".<base>.ocisource-old" name, tmp to dst, then removes the old tree. If
// the second rename fails, dst is renamed back.
func renameAside(tmp, dst string) error {
	_, old := swapNames(dst)
	if err := os.Rename(dst, old); err != nil {
		// Something a crash left holds the name: remove it, try again.
		if _, lerr := os.Lstat(old); lerr != nil {
			return err
		}
		if err := os.RemoveAll(old); err != nil {
			return err
		}
		if err := os.Rename(dst, old); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		if rerr := os.Rename(old, dst); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	_ = os.RemoveAll(old)
	return nil
}

func syncParent(dir string, sync bool) error {
	if !sync {
		return nil
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDirs fsyncs every directory of the tree at root (files were synced as
// they were written).
func syncDirs(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		return syncDir(p)
	})
}
