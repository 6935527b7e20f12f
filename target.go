package ocisource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/ocisource/ocisource/tarball"
)

// The target directory and what is kept with it
//
// A fetch keeps two files of its own with the content of a target
// directory: the record of what it wrote (revision, settings, the
// verification result, and the identity of the content tree it describes)
// and a lock file. Where they live depends on the directory's layout
// (tarball.LayoutOf):
//
//   - an ordinary directory (tarball.LayoutSwap) is exactly the artifact's
//     content; the record and lock are beside it, ".<base>.ocisource.json"
//     and ".<base>.ocisource.lock";
//   - a mount point (tarball.LayoutLinked) holds its versions inside, and
//     the record and lock with them: "..ocisource.json", "..ocisource.lock".
//
// The record is written (to a fresh temporary file, then renamed) just
// before the new tree is swapped in, and names that tree by its identity
// (device and inode): whatever a crash interrupts, the record either names
// the tree that is there, and a cache hit may trust it, or names another,
// and the next fetch downloads again. A directory with a record is one a
// fetch wrote; without one, only an empty directory is taken.

// maxRecordSize bounds the record read from disk.
const maxRecordSize = 1 << 20

// target is a validated target directory.
type target struct {
	dir    string // absolute
	layout tarball.Layout
	record string // path of the fetch record
	lock   string // path of the lock file
}

// newTarget checks dir without touching the network, and without writing:
// it must be named, must not be the working directory or one of its
// parents (nor the root), and must be a directory or not exist yet.
func newTarget(dir string) (*target, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: no target directory given (an empty path would mean the working directory)", ErrInvalidTarget)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrInvalidTarget, dir, err)
	}
	if filepath.Dir(abs) == abs {
		return nil, fmt.Errorf("%w: %s is the root of the file system", ErrInvalidTarget, abs)
	}
	fi, err := os.Lstat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrInvalidTarget, err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil, fmt.Errorf("%w: %s is a symbolic link: give the directory it points to", ErrInvalidTarget, abs)
	case !fi.IsDir():
		return nil, fmt.Errorf("%w: %s exists and is not a directory (%s)", ErrInvalidTarget, abs, fi.Mode().Type())
	default:
		if cwd, err := os.Getwd(); err == nil && isSelfOrAncestor(fi, abs, cwd) {
			return nil, fmt.Errorf("%w: %s is the working directory or one of its parents; fetch into a directory of its own", ErrInvalidTarget, abs)
		}
	}
	layout, err := tarball.LayoutOf(abs)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidTarget, err)
	}
	t := &target{dir: abs, layout: layout}
	if layout == tarball.LayoutLinked {
		t.record = filepath.Join(abs, "..ocisource.json")
		t.lock = filepath.Join(abs, "..ocisource.lock")
	} else {
		parent, base := filepath.Split(abs)
		t.record = filepath.Join(parent, "."+base+".ocisource.json")
		t.lock = filepath.Join(parent, "."+base+".ocisource.lock")
	}
	return t, nil
}

// isSelfOrAncestor reports whether the directory fi (at abs) is cwd or one
// of its parents, also through symbolic links or bind mounts.
func isSelfOrAncestor(fi fs.FileInfo, abs, cwd string) bool {
	for d := cwd; ; d = filepath.Dir(d) {
		if d == abs {
			return true
		}
		if di, err := os.Stat(d); err == nil && os.SameFile(fi, di) {
			return true
		}
		if filepath.Dir(d) == d {
			return false
		}
	}
}

// record is what is kept with the target directory to recognise content a
// fetch wrote, and an unchanged artifact.
type record struct {
	Artifact
	Settings string `json:"settings"`
	// Tree identifies the content tree the record describes (treeID).
	Tree string `json:"tree"`
}

// readRecord reads the record of t, or returns nil if there is none. A
// planted symbolic link, FIFO or directory is not a record: it is not
// followed, not waited on, and reported as an error.
func (t *target) readRecord() (*record, error) {
	f, err := openNoFollow(t.record, os.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fetch record %s: %w", t.record, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRecordSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetch record %s: %w", t.record, err)
	}
	if len(b) > maxRecordSize {
		return nil, fmt.Errorf("fetch record %s: larger than %d bytes", t.record, maxRecordSize)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil || r.Revision == "" {
		// A regular file at our record's name is ours, even when a power
		// loss left it empty or torn: the directory stays ours, and this
		// record matches nothing, so the next fetch downloads again.
		return &record{}, nil
	}
	return &r, nil
}

// writeRecord replaces the record atomically: the record's fixed temporary
// name (".tmp" added; whatever a crash left there is removed first, a link
// included, never followed) is created exclusively, written, synced and
// renamed over it. The name is fixed so that removing a crash's leftover
// never lists the parent; writes are serialised by the lock.
//
// The record is fsynced only with sync (tarball.WithSync in the extract
// options): without it the tree is not synced either, and a record that a
// power loss tears or loses only costs a download.
func (t *target) writeRecord(r *record, sync bool) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := t.record + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		// A crash's leftover (a link included: O_EXCL does not follow it).
		if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, t.record)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// removeStaleRecordTemp removes the temporary record a crash left.
func (t *target) removeStaleRecordTemp() {
	tmp := t.record + ".tmp"
	if fi, err := os.Lstat(tmp); err == nil && !fi.IsDir() {
		_ = os.Remove(tmp)
	}
}

// checkOwned decides whether Fetch may write into t.dir: it may if the
// directory does not exist, is empty, or has a record; otherwise only with
// replaceUnmanaged. It returns the record, if any.
func (t *target) checkOwned(replaceUnmanaged bool) (*record, error) {
	rec, err := t.readRecord()
	if err != nil && !replaceUnmanaged {
		return nil, err
	}
	if rec != nil {
		return rec, nil
	}
	names, err := t.foreignEntries()
	if err != nil || len(names) == 0 || replaceUnmanaged {
		return nil, err
	}
	return nil, &UnmanagedDirError{Dir: t.dir, Record: t.record, Entries: names}
}

// foreignEntries lists (at most a few of) the entries of t.dir that are not
// the layout's or the file system's own.
func (t *target) foreignEntries() ([]string, error) {
	f, err := os.Open(t.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var names []string
	for {
		batch, err := f.Readdirnames(64)
		for _, n := range batch {
			if t.layout == tarball.LayoutLinked && (n == "lost+found" || n == filepath.Base(t.lock)) {
				continue
			}
			names = append(names, n)
		}
		if len(names) >= 5 || err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(names)
	return names, nil
}

// UnmanagedDirError reports a target directory that holds files no fetch
// wrote. It matches [ErrUnmanagedDir].
type UnmanagedDirError struct {
	// Dir is the target directory.
	Dir string
	// Record is where its fetch record would be.
	Record string
	// Entries names a few of the entries found in it.
	Entries []string
}

// Error implements error.
func (e *UnmanagedDirError) Error() string {
	return fmt.Sprintf("target directory %s holds files no fetch wrote (%s, and no fetch record %s): fetch into a new or empty directory, or opt in to replacing it with WithReplaceUnmanaged",
		e.Dir, strings.Join(e.Entries, ", "), e.Record)
}

// Is makes errors.Is(err, ErrUnmanagedDir) and errors.Is(err, ErrInvalidTarget) hold.
func (e *UnmanagedDirError) Is(target error) bool {
	return target == ErrUnmanagedDir || target == ErrInvalidTarget
}

// dirLocks serialises fetches into one directory within the process, with
// waiters that can give up with their context. Entries go when unused.
type dirLocks struct {
	mu sync.Mutex
	m  map[string]*dirLock
}

type dirLock struct {
	ch   chan struct{} // holds a token while the directory is locked
	refs int
}

// lock takes the lock of dir, in this process and, through the lock file,
// against other processes. The returned func releases both.
func (l *dirLocks) lock(ctx context.Context, t *target) (func(), error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*dirLock{}
	}
	e := l.m[t.dir]
	if e == nil {
		e = &dirLock{ch: make(chan struct{}, 1)}
		l.m[t.dir] = e
	}
	e.refs++
	l.mu.Unlock()
	drop := func() {
		l.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(l.m, t.dir)
		}
		l.mu.Unlock()
	}
	select {
	case e.ch <- struct{}{}:
	case <-ctx.Done():
		drop()
		return nil, fmt.Errorf("waiting for another fetch into %s: %w", t.dir, ctx.Err())
	}
	unlockFile, err := lockFile(ctx, t.lock)
	if err != nil {
		<-e.ch
		drop()
		return nil, err
	}
	return func() {
		unlockFile()
		<-e.ch
		drop()
	}, nil
}

// size reports the number of directories with a lock entry (for tests).
func (l *dirLocks) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// Stored returns what a fetch recorded in dir, without any request: the
// artifact of its record, if the record describes the tree that is there
// now (as for a cache hit, FromCache is set). It returns nil and no error
// when dir holds nothing a fetch recorded. A controller uses it at startup
// to know each directory's revision before touching the network.
func (f *Fetcher) Stored(dir string) (*Artifact, error) {
	t, err := newTarget(dir)
	if err != nil {
		return nil, err
	}
	rec, err := t.readRecord()
	if err != nil || rec == nil {
		return nil, err
	}
	content, err := tarball.ContentDir(t.dir)
	if err != nil {
		return nil, nil
	}
	if id, err := treeID(content); err != nil || id != rec.Tree {
		return nil, nil
	}
	a := rec.Artifact
	a.FromCache = true
	a.Dir = t.dir
	return &a, nil
}
