package tarball

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Layout is how [Extract] keeps the content of a target directory.
type Layout int

const (
	// LayoutSwap: the target directory is the content tree itself. A new
	// tree is built beside it and exchanged with it in one rename. It is
	// the layout of every target that is not a mount point.
	LayoutSwap Layout = iota
	// LayoutLinked: the target directory holds versions of the content,
	// as Kubernetes' atomic writer keeps ConfigMap volumes. The current
	// version is the directory the symbolic link "..data" names; each
	// top-level entry of the content appears as a symbolic link
	// "name -> ..data/name". A new version is built inside the target and
	// "..data" is switched to it in one rename. Extract uses it for a
	// target that is a mount point (which cannot be renamed over: a volume
	// of a container, a tmpfs), and for a target already in this layout.
	LayoutLinked
)

// String returns "swap" or "linked".
func (l Layout) String() string {
	switch l {
	case LayoutSwap:
		return "swap"
	case LayoutLinked:
		return "linked"
	}
	return fmt.Sprintf("Layout(%d)", int(l))
}

// Names inside a target in LayoutLinked. Every name starting with ".." is
// reserved there: Extract refuses content with such a top-level name, and
// never removes one it did not make, so callers may keep their own files
// under such names (the root package keeps its fetch record and lock).
const (
	// DataLink is the symbolic link naming the current version.
	DataLink = "..data"
	// versionPrefix starts the name of a version directory.
	versionPrefix = "..v-"
	// linkTempPrefix starts the name of a link being put in place.
	linkTempPrefix = "..tmp-"
	// lostFound is kept at a mount root, where mkfs puts it.
	lostFound = "lost+found"
)

// LayoutOf reports the layout [Extract] uses for dir: LayoutLinked if dir
// is a mount point or already holds a [DataLink] symbolic link, else
// LayoutSwap (also when dir does not exist).
func LayoutOf(dir string) (Layout, error) {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return LayoutSwap, nil
	}
	if err != nil {
		return LayoutSwap, err
	}
	if !fi.IsDir() {
		return LayoutSwap, nil
	}
	if li, err := os.Lstat(filepath.Join(dir, DataLink)); err == nil && li.Mode()&fs.ModeSymlink != 0 {
		return LayoutLinked, nil
	}
	mp, err := isMountPoint(dir)
	if err != nil {
		return LayoutSwap, err
	}
	if mp {
		return LayoutLinked, nil
	}
	return LayoutSwap, nil
}

// ContentDir returns the directory that holds dir's content now: dir itself
// in LayoutSwap, the version [DataLink] names in LayoutLinked. Callers that
// record what they extracted can compare its identity (os.SameFile) with the
// directory [WithBeforeCommit] was given, to tell whether the content is
// still the one they recorded.
func ContentDir(dir string) (string, error) {
	l, err := LayoutOf(dir)
	if err != nil || l == LayoutSwap {
		return dir, err
	}
	target, err := os.Readlink(filepath.Join(dir, DataLink))
	if err != nil {
		return "", err
	}
	if !isVersionName(target) {
		return "", fmt.Errorf("tarball: %s points to %q, not to a version directory", filepath.Join(dir, DataLink), target)
	}
	return filepath.Join(dir, target), nil
}

func isVersionName(name string) bool {
	return strings.HasPrefix(name, versionPrefix) && isRandomSuffix(name[len(versionPrefix):])
}

// isRandomSuffix reports whether s is what mkdirUnique and uniqueName put
// after a prefix: a uint64 in base 36.
func isRandomSuffix(s string) bool {
	if s == "" || len(s) > 13 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// commitLinked makes the version directory version (a name inside dir)
// current: it points DataLink to it in one rename, then puts a link
// "name -> ..data/name" for each of its top-level entries, removes the
// links and entries the version does not have (but never a ".." name that
// is not its own, nor lost+found), and removes the other versions but the
// one DataLink named until now. That one stays until the next commit: a
// reader that resolved DataLink an instant before the switch is still
// walking into it, and would find nothing if it went at once (Kubernetes'
// atomic writer has that window). A mount point so holds two versions.
//
// It reports whether DataLink was switched: from then on the version is
// the content, also if putting its links in place fails (the error is
// returned, and [Recover] finishes the job).
func commitLinked(dir, version string, sync bool) (bool, error) {
	prev := ""
	if t, err := os.Readlink(filepath.Join(dir, DataLink)); err == nil && isVersionName(t) && t != version {
		prev = t
	}
	tmp, err := uniqueName(dir, linkTempPrefix)
	if err != nil {
		return false, err
	}
	if err := os.Symlink(version, tmp); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, filepath.Join(dir, DataLink)); err != nil {
		_ = os.Remove(tmp)
		return false, err
	}
	if err := syncParent(dir, sync); err != nil {
		return true, err
	}
	return true, tidyLinked(dir, version, prev, sync)
}

// tidyLinked brings the top-level links of dir in line with version, the
// current one, and removes what older versions (but keep, when not "") and
// interrupted commits left.
func tidyLinked(dir, version, keep string, sync bool) error {
	names, err := readNames(filepath.Join(dir, version))
	if err != nil {
		return err
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
		if err := ensureLink(dir, n); err != nil {
			return err
		}
	}
	have, err := readNames(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range have {
		switch {
		case want[n]:
		case n == keep:
			// The previous version, for readers still on their way into it.
		case strings.HasPrefix(n, versionPrefix) && n != version && isVersionName(n),
			strings.HasPrefix(n, linkTempPrefix) && isRandomSuffix(n[len(linkTempPrefix):]):
			errs = append(errs, os.RemoveAll(filepath.Join(dir, n)))
		case strings.HasPrefix(n, ".."), n == lostFound:
			// Reserved for the layout and its callers, or the file system's.
		default:
			// Not in this version: a link of an older one, or what was
			// there before the directory was first extracted into.
			errs = append(errs, os.RemoveAll(filepath.Join(dir, n)))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return syncParent(dir, sync)
}

// ensureLink makes dir/name the link "..data/name", replacing whatever
// else is there.
func ensureLink(dir, name string) error {
	target := DataLink + "/" + name
	p := filepath.Join(dir, name)
	if t, err := os.Readlink(p); err == nil && t == target {
		return nil
	}
	if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	tmp, err := uniqueName(dir, linkTempPrefix)
	if err != nil {
		return err
	}
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// Recover removes what an interrupted [Extract] into dir left behind (on a
// crash, a kill, or a failure to remove an old tree): the temporary trees
// beside dir (LayoutSwap: ".<base>.ocisource-tmp" and ".<base>.ocisource-old",
// two removals, the parent is never listed) or the unused versions and
// half-made links inside it (LayoutLinked, whose top-level links it also
// brings in line with the current version). It removes only names Extract
// makes. It must not run while an Extract into dir is in progress: the
// caller serialises them (the root package holds a lock on dir).
func Recover(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	l, err := LayoutOf(abs)
	if err != nil {
		return err
	}
	if l == LayoutLinked {
		if _, err := os.Lstat(filepath.Join(abs, DataLink)); errors.Is(err, fs.ErrNotExist) {
			// A mount point never extracted into: only versions of a
			// commit that did not happen can be here.
			return removeStale(abs, func(n string) bool {
				return isVersionName(n) || strings.HasPrefix(n, linkTempPrefix) && isRandomSuffix(n[len(linkTempPrefix):])
			})
		}
		cur, err := ContentDir(abs)
		if err != nil {
			return err
		}
		return tidyLinked(abs, filepath.Base(cur), "", false)
	}
	// Two fixed names: no listing of the parent, whatever it holds.
	tmp, old := swapNames(abs)
	return errors.Join(removeIfPresent(tmp), removeIfPresent(old))
}

func removeStale(dir string, stale func(string) bool) error {
	names, err := readNames(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		if stale(n) {
			errs = append(errs, os.RemoveAll(filepath.Join(dir, n)))
		}
	}
	return errors.Join(errs...)
}
