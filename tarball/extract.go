package tarball

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Stats counts what [Extract] did. It is returned on success and passed to
// the [WithProgress] callback as extraction runs.
type Stats struct {
	Entries   int64 `json:"entries"`   // archive entries read, including skipped ones
	Files     int64 `json:"files"`     // regular files written (a duplicate entry counts again)
	Dirs      int64 `json:"dirs"`      // directories created, including implied parents, not the target itself
	Symlinks  int64 `json:"symlinks"`  // symbolic links created
	Hardlinks int64 `json:"hardlinks"` // hard links created
	Skipped   int64 `json:"skipped"`   // entries left out: excluded ones, symbolic links under SymlinksSkip, PAX global headers
	Bytes     int64 `json:"bytes"`     // bytes written to regular files
}

// Extract unpacks the tar or tar+gzip stream r into dir and returns what it
// did. It reads r once, in a single streaming pass.
//
// # Atomicity
//
// The archive is extracted into a new directory, which becomes the content
// only when every entry has been written and the whole stream has been read
// and checked. How depends on [LayoutOf] dir:
//
//   - [LayoutSwap] (dir is not a mount point): the new tree is built beside
//     dir (".<base>.ocisource-tmp"). On Linux it is exchanged with dir in one
//     renameat2(RENAME_EXCHANGE), so a reader of dir sees the old tree or
//     the new one, never neither nor a mix. Elsewhere, or on file systems
//     without it, the old dir is first renamed aside (".<base>.ocisource-old")
//     and the new tree renamed into place, so for an instant dir does not
//     exist; if the second rename fails the old tree is put back.
//   - [LayoutLinked] (dir is a mount point, or already in that layout): the
//     new tree is a version inside dir ("..v-<random>"); the link [DataLink]
//     is switched to it in one rename, then a link "name -> ..data/name" is
//     put in place for each top-level name it has and the names it does not
//     have are removed. A path opened through dir resolves entirely in one
//     version; for a moment after the switch a top-level name new in this
//     version may be missing, or one gone from it may dangle. Content may
//     not use top-level names starting with ".." or "lost+found" there
//     ([ErrInsecurePath]).
//
// The old tree is then removed; if that removal fails, Extract still
// succeeds and the directory remains until [Recover] removes it. On any
// error, and when ctx is cancelled, dir is left exactly as it was and the
// new directory is removed; a crash leaves it behind, for [Recover]. In
// LayoutSwap the parent of dir must exist, and dir need not. If dir exists
// it must be a directory, not a symbolic link. Concurrent calls for the
// same dir must be serialised by the caller.
//
// Without [WithSync] nothing is fsynced: the new tree is complete for every
// reader of the file system, but may not survive a power loss.
//
// # Safety
//
// Entry names must be relative, must not contain "..", a backslash, a NUL or
// start with a volume name such as "C:" ([ErrInsecurePath]); "." components
// and repeated slashes are ignored. No entry is ever written through a
// symbolic link: an entry below a link fails with [ErrInsecurePath], and
// the check uses what this archive created, never what is on disk. Symbolic
// links follow [WithSymlinks] (rejected by default). Hard links may only
// point to a regular file extracted earlier from the same archive. Devices,
// FIFOs and other types fail with [ErrUnsupportedEntry]. Only the
// permission bits (0o777) of a mode are used, filtered by the process
// umask as for any file creation; directories always get owner rwx so the
// tree can be filled and removed. Modification times later than the start
// of Extract are clamped to it; symbolic links keep the time of creation.
// Owners, xattrs and PAX records are ignored.
//
// # Duplicates
//
// A later entry replaces an earlier file, symbolic link or hard link of the
// same name, as tar does. A directory entry for an existing directory keeps
// its mode and takes the later modification time. An entry that would
// replace a directory by anything else fails with [ErrInsecurePath].
//
// # Limits
//
// Limits count what is actually written, not what headers claim (a header
// that claims too much is refused before anything is written); see the
// WithMax* options for the defaults. Exceeding one fails with a
// [*LimitError].
//
// # Format
//
// The stream must be a tar archive in any format archive/tar reads (USTAR,
// PAX, GNU), gzip-compressed or not ([WithCompression]). Concatenated gzip
// members are read as one stream, at most 64 of them empty. The archive must
// end with its end-of-archive marker; what follows may only be zero padding
// (at most 1 MiB), and is read to the end so that the gzip checksum, and any
// check r does at EOF, are verified. Anything else fails with
// [ErrInvalidArchive]. An error returned by r itself is passed through,
// wrapped, and does not match ErrInvalidArchive.
//
// Extract checks ctx between entries and every chunk of a large file. The
// stream is inflated in a second goroutine, and files of up to 1 MiB are
// written by a few more (one per CPU, 2 to 4), each file after every check
// above and in archive order for any one name; the first that fails stops
// the extraction. Extract waits for all of them before it returns: once it
// has returned, nothing it started reads r or calls a callback. Like
// io.Copy, it cannot interrupt a Read of r in progress: when ctx ends it
// returns as soon as that Read does. A reader tied to ctx (the body of an
// HTTP response to a request made with ctx) returns at once; a reader that
// can block for ever must be closed by its owner when ctx ends.
//
// Errors about one entry are a [*EntryError] naming it.
func Extract(ctx context.Context, r io.Reader, dir string, opts ...Option) (*Stats, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if r == nil {
		return nil, fmt.Errorf("tarball: %w: nil reader", ErrInvalidOption)
	}
	if dir == "" {
		return nil, fmt.Errorf("tarball: %w: empty target directory", ErrInvalidOption)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("tarball: extract to %q: %w", dir, err)
	}
	_, base := filepath.Split(abs)
	if base == "" || base == "." || base == ".." {
		return nil, fmt.Errorf("tarball: %w: cannot replace %q", ErrInvalidOption, abs)
	}
	if fi, err := os.Lstat(abs); err == nil {
		if !fi.IsDir() {
			return nil, fmt.Errorf("tarball: %w", &fs.PathError{Op: "extract to", Path: abs, Err: syscall.ENOTDIR})
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("tarball: extract to %q: %w", abs, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tarball: extract to %q: %w", abs, err)
	}

	layout, err := LayoutOf(abs)
	if err != nil {
		return nil, fmt.Errorf("tarball: extract to %q: %w", abs, err)
	}
	var tmp string
	if layout == LayoutLinked {
		tmp, err = mkdirUnique(abs, versionPrefix, 0o755)
	} else {
		tmp, _ = swapNames(abs)
		err = freshDir(tmp, 0o755)
	}
	if err != nil {
		return nil, fmt.Errorf("tarball: extract to %q: %w", abs, err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = os.RemoveAll(tmp)
		}
	}()

	// The parser and the inflater run under wctx, which the writers cancel
	// when one of them fails (see writers.go).
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	x := &extractor{
		ctx:    wctx,
		o:      &o,
		tmp:    tmp,
		root:   &node{kind: kindDir},
		now:    time.Now(),
		linked: layout == LayoutLinked,
		w:      startWriters(wctx, cancel, writerCount(), o.sync),
	}
	// Registered after the removal of tmp, so it runs before it, also if
	// the progress callback panics.
	defer func() {
		x.w.wait()
		x.w.releaseAll()
		if x.buf != nil {
			copyPool.put(x.buf)
		}
	}()
	err = x.run(r)
	if werr := x.w.wait(); werr != nil && (err == nil || ctx.Err() == nil && errors.Is(err, context.Canceled)) {
		// A writer failed: the parser either did not notice or stopped
		// because of it. Report the cause.
		err = werr
	}
	if err != nil {
		return nil, fmt.Errorf("tarball: extract to %q: %w", abs, err)
	}
	if err := x.finish(); err != nil {
		return nil, fmt.Errorf("tarball: extract to %q: %w", abs, err)
	}
	for _, fn := range o.beforeCommit {
		if err := fn(tmp); err != nil {
			return nil, fmt.Errorf("tarball: extract to %q: before commit: %w", abs, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tarball: extract to %q: %w", abs, err)
	}
	if layout == LayoutLinked {
		switched, err := commitLinked(abs, filepath.Base(tmp), o.sync)
		committed = switched
		if err != nil {
			return nil, fmt.Errorf("tarball: extract to %q: %w", abs, err)
		}
	} else {
		if err := replaceDir(tmp, abs, o.sync); err != nil {
			return nil, fmt.Errorf("tarball: extract to %q: %w", abs, err)
		}
		committed = true
	}
	st := x.stats
	return &st, nil
}

type kind uint8

const (
	kindDir kind = iota
	kindFile
	kindSymlink
	// kindPending is a directory the exclude rules keep, known from the
	// name of an entry below it that was left out; it is not on disk.
	// parentDir creates it when an entry needs it.
	kindPending
	// kindExcluded is a directory the exclude rules leave out, with all it
	// holds; nothing of it is on disk.
	kindExcluded
)

// node is what the archive has created so far. It is the only authority
// used for path checks: nothing on disk is consulted or followed.
type node struct {
	kind     kind
	children map[string]*node // for directories
	// done, for a file queued to a writer, is closed once the writer is
	// done with it; see settle.
	done chan struct{}
	// writer, for a directory, is the writer its files are queued to.
	writer uint8
}

type dirTime struct {
	rel   string
	depth int
	mtime time.Time
}

type extractor struct {
	ctx     context.Context
	o       *options
	tmp     string
	root    *node
	now     time.Time
	buf     []byte
	objects int64
	stats   Stats
	// discarded counts data of excluded entries, read but not written.
	discarded int64
	dirs      []dirTime
	w         *writers
	nextDir   uint8 // for newDir's round robin
	// linked: the target is in LayoutLinked, whose top-level ".." names
	// and lost+found are not the content's to take.
	linked bool
}

// newDir returns the node of a new directory.
func (x *extractor) newDir() *node {
	x.nextDir++
	return &node{kind: kindDir, writer: x.nextDir}
}

func (x *extractor) abs(rel string) string {
	return filepath.Join(x.tmp, filepath.FromSlash(rel))
}

func (x *extractor) progress() {
	for _, fn := range x.o.progress {
		fn(x.stats)
	}
}

// countObject counts one more object against the entries limit.
func (x *extractor) countObject() error {
	x.objects++
	if x.o.maxEntries != Unlimited && x.objects > x.o.maxEntries {
		return &LimitError{Limit: LimitEntries, Max: x.o.maxEntries}
	}
	return nil
}

func (x *extractor) run(r io.Reader) error {
	src := &sourceReader{r: r}
	br := getInput(src)
	defer putInput(br)
	var stream io.Reader = br
	gz := x.o.compression == CompressionGzip
	if x.o.compression == CompressionAuto {
		// Peek blocks until two bytes (or EOF) arrive; a source that blocks
		// here stalls Extract like any Read would.
		magic, _ := br.Peek(2)
		if src.err != nil {
			return &sourceError{src.err}
		}
		gz = len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b
	}
	if gz {
		gs := newGzipStream(br)
		// Deferred before ra.stop below, so it runs after the inflating
		// goroutine has ended.
		defer gs.release()
		stream = gs
	}
	classify := func(err error) error {
		if src.err != nil {
			return &sourceError{src.err}
		}
		var le *LimitError
		if errors.As(err, &le) {
			return err
		}
		if gz && !strings.HasPrefix(err.Error(), "gzip") {
			return invalid("gzip: %w", err)
		}
		return invalid("%w", err)
	}
	ra := startReadahead(x.ctx, stream, classify)
	defer ra.stop()
	m := &meter{r: ra}
	tr := tar.NewReader(m)
	prev := ""
	for {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		m.startHeader(x.o.maxHeader)
		hdr, err := tr.Next()
		m.inHeader = false
		if err == io.EOF {
			if m.zeros < 512 {
				return invalid("truncated: the end-of-archive marker is missing")
			}
			buf := queuePool.get()
			defer queuePool.put(buf)
			return drainTrailer(m, buf)
		}
		if err != nil {
			err = x.streamErr(err)
			if prev != "" {
				return fmt.Errorf("reading the header after entry %s: %w", quoteName(prev), err)
			}
			return fmt.Errorf("reading the first header: %w", err)
		}
		if err := x.entry(tr, hdr); err != nil {
			return &EntryError{Name: hdr.Name, Err: err}
		}
		prev = hdr.Name
		x.progress()
	}
}

// streamErr classifies an error from reading the tar stream.
func (x *extractor) streamErr(err error) error {
	var le *LimitError
	var se *sourceError
	switch {
	case errors.Is(err, ErrInvalidArchive), errors.As(err, &le), errors.As(err, &se):
		return err
	case x.ctx.Err() != nil && errors.Is(err, x.ctx.Err()):
		return err
	}
	return invalid("%w", err)
}

// splitName validates an entry name or hard link target and returns its
// components without "." and empty ones.
func splitName(name string, maxLen, maxDepth int64) ([]string, error) {
	if maxLen != Unlimited && int64(len(name)) > maxLen {
		return nil, &LimitError{Limit: LimitPathLength, Max: maxLen}
	}
	if err := checkPathSyntax(name); err != nil {
		return nil, err
	}
	parts := strings.Split(name, "/")
	n := 0
	for _, p := range parts {
		switch p {
		case "", ".":
			continue
		case "..":
			return nil, insecure("%q has a \"..\" component", truncate(name))
		}
		parts[n] = p
		n++
	}
	parts = parts[:n]
	if maxDepth != Unlimited && int64(len(parts)) > maxDepth {
		return nil, &LimitError{Limit: LimitPathDepth, Max: maxDepth}
	}
	return parts, nil
}

// checkPathSyntax rejects what makes a path non-local on any platform.
func checkPathSyntax(p string) error {
	switch {
	case p == "":
		return insecure("empty name")
	case strings.IndexByte(p, 0) >= 0:
		return insecure("%q contains a NUL byte", truncate(p))
	case strings.IndexByte(p, '\\') >= 0:
		return insecure("%q contains a backslash", truncate(p))
	case p[0] == '/':
		return insecure("%q is absolute", truncate(p))
	case len(p) >= 2 && p[1] == ':' && ('a' <= p[0]|0x20 && p[0]|0x20 <= 'z'):
		return insecure("%q starts with a volume name", truncate(p))
	}
	return nil
}

func truncate(s string) string {
	if len(s) > maxQuotedName {
		return s[:maxQuotedName] + "..."
	}
	return s
}

// parentDir returns the node of the directory that will hold the last
// component of parts, creating implied directories on the way.
func (x *extractor) parentDir(parts []string) (*node, error) {
	cur := x.root
	for i, c := range parts[:len(parts)-1] {
		child := cur.children[c]
		switch {
		case child == nil || child.kind == kindPending:
			if child == nil {
				if err := x.countObject(); err != nil {
					return nil, err
				}
			}
			if err := os.Mkdir(x.abs(strings.Join(parts[:i+1], "/")), 0o755); err != nil {
				return nil, err
			}
			if child == nil {
				child = x.newDir()
				cur.add(c, child)
			} else {
				// Counted when it was found pending; keep what is known below it.
				child.kind, child.writer = kindDir, x.newDir().writer
			}
			x.stats.Dirs++
		case child.kind == kindSymlink:
			return nil, insecure("parent %q is a symbolic link", strings.Join(parts[:i+1], "/"))
		case child.kind != kindDir:
			return nil, invalid("parent %q is not a directory", strings.Join(parts[:i+1], "/"))
		}
		cur = child
	}
	return cur, nil
}

func (n *node) add(name string, child *node) {
	if n.children == nil {
		n.children = make(map[string]*node)
	}
	// Clone so the map does not keep a whole (possibly long) header name alive.
	n.children[strings.Clone(name)] = child
}

// lookup finds an existing node without creating anything.
func (x *extractor) lookup(parts []string) (*node, error) {
	cur := x.root
	for i, c := range parts {
		if cur.kind == kindSymlink {
			return nil, insecure("%q is below a symbolic link", strings.Join(parts, "/"))
		}
		if cur.kind != kindDir {
			return nil, nil
		}
		cur = cur.children[c]
		if cur != nil && (cur.kind == kindPending || cur.kind == kindExcluded) {
			return nil, nil
		}
		if cur == nil {
			return nil, nil
		}
		_ = i
	}
	return cur, nil
}

// prepare makes room for a non-directory entry named by parts: it returns
// the parent node and removes an earlier file or link of the same name.
func (x *extractor) prepare(parts []string) (*node, error) {
	parent, err := x.parentDir(parts)
	if err != nil {
		return nil, err
	}
	last := parts[len(parts)-1]
	if old := parent.children[last]; old != nil {
		if old.kind == kindPending || old.kind == kindExcluded {
			// Never written: nothing to remove.
			delete(parent.children, last)
			return parent, nil
		}
		if old.kind == kindDir {
			return nil, insecure("entry would replace directory %q", strings.Join(parts, "/"))
		}
		if err := x.settle(old); err != nil {
			return nil, err
		}
		if err := os.Remove(x.abs(strings.Join(parts, "/"))); err != nil {
			return nil, err
		}
		delete(parent.children, last)
	}
	return parent, nil
}

func (x *extractor) mtime(t time.Time) time.Time {
	if t.After(x.now) {
		return x.now
	}
	return t
}

func (x *extractor) entry(tr *tar.Reader, hdr *tar.Header) error {
	x.stats.Entries++
	if err := x.countObject(); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		x.stats.Skipped++
		return nil
	}
	parts, err := splitName(hdr.Name, x.o.maxPathLen, x.o.maxDepth)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		if hdr.Typeflag == tar.TypeDir {
			return nil // the root itself: its mode and time are not taken
		}
		return insecure("entry would replace the target directory")
	}
	if x.linked && (strings.HasPrefix(parts[0], "..") || parts[0] == lostFound) {
		return insecure("top-level name %q is reserved in a directory of layout %s", truncate(parts[0]), LayoutLinked)
	}
	if hdr.Typeflag != tar.TypeDir && strings.HasSuffix(hdr.Name, "/") {
		return invalid("name of a non-directory ends in a slash")
	}
	skip, err := x.excluded(parts, hdr.Typeflag == tar.TypeDir)
	if err != nil {
		return err
	}
	if skip {
		x.stats.Skipped++
		if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeGNUSparse {
			// Read the data here rather than let tar.Reader.Next discard
			// it: that would count it as header bytes, and nothing would
			// bound how much is inflated for nothing.
			return x.copyData(tr, io.Discard, hdr.Size)
		}
		return nil
	}
	rel := strings.Join(parts, "/")
	perm := fs.FileMode(hdr.Mode) & fs.ModePerm

	switch hdr.Typeflag {
	case tar.TypeDir:
		parent, err := x.parentDir(parts)
		if err != nil {
			return err
		}
		last := parts[len(parts)-1]
		old := parent.children[last]
		if old != nil && old.kind == kindPending {
			if err := os.Mkdir(x.abs(rel), perm|0o700); err != nil {
				return err
			}
			old.kind, old.writer = kindDir, x.newDir().writer
			x.stats.Dirs++
		} else if old != nil && old.kind == kindExcluded {
			delete(parent.children, last)
			old = nil
		}
		if old != nil && old.kind != kindDir {
			if err := x.settle(old); err != nil {
				return err
			}
			if err := os.Remove(x.abs(rel)); err != nil {
				return err
			}
			delete(parent.children, last)
			old = nil
		}
		if old == nil {
			if err := os.Mkdir(x.abs(rel), perm|0o700); err != nil {
				return err
			}
			parent.add(last, x.newDir())
			x.stats.Dirs++
		}
		if !hdr.ModTime.IsZero() {
			x.dirs = append(x.dirs, dirTime{rel: rel, depth: len(parts), mtime: x.mtime(hdr.ModTime)})
		}
		return nil

	case tar.TypeReg, tar.TypeGNUSparse:
		if x.o.maxFile != Unlimited && hdr.Size > x.o.maxFile {
			return &LimitError{Limit: LimitFileBytes, Max: x.o.maxFile}
		}
		if x.o.maxTotal != Unlimited && hdr.Size > x.o.maxTotal-x.stats.Bytes-x.discarded {
			return &LimitError{Limit: LimitTotalBytes, Max: x.o.maxTotal}
		}
		parent, err := x.prepare(parts)
		if err != nil {
			return err
		}
		dst := x.abs(rel)
		var mt time.Time
		if !hdr.ModTime.IsZero() {
			mt = x.mtime(hdr.ModTime)
		}
		if n, ok := queueable(hdr.Size, hdr.Name, dst); ok {
			// Written by a writer goroutine; see writers.go.
			done, err := x.queueFile(tr, parent, hdr.Size, n, hdr.Name, dst, perm, mt)
			if err != nil {
				return err
			}
			parent.add(parts[len(parts)-1], &node{kind: kindFile, done: done})
			x.stats.Files++
			return nil
		}
		if err := x.writeFile(tr, dst, perm); err != nil {
			return err
		}
		parent.add(parts[len(parts)-1], &node{kind: kindFile})
		x.stats.Files++
		if !mt.IsZero() {
			if err := os.Chtimes(dst, time.Time{}, mt); err != nil {
				return err
			}
		}
		return nil

	case tar.TypeSymlink:
		switch x.o.symlinks {
		case SymlinksSkip:
			x.stats.Skipped++
			return nil
		case SymlinksReject:
			return unsupported("symbolic link to %q (see WithSymlinks)", truncate(hdr.Linkname))
		}
		target, err := symlinkTarget(parts, hdr.Linkname, x.o.maxPathLen)
		if err != nil {
			return err
		}
		parent, err := x.prepare(parts)
		if err != nil {
			return err
		}
		if err := os.Symlink(filepath.FromSlash(target), x.abs(rel)); err != nil {
			return err
		}
		parent.add(parts[len(parts)-1], &node{kind: kindSymlink})
		x.stats.Symlinks++
		return nil

	case tar.TypeLink:
		tparts, err := splitName(hdr.Linkname, x.o.maxPathLen, Unlimited)
		if err != nil {
			return fmt.Errorf("hard link target: %w", err)
		}
		trel := strings.Join(tparts, "/")
		if trel == rel {
			return invalid("hard link to itself")
		}
		target, err := x.lookup(tparts)
		if err != nil {
			return fmt.Errorf("hard link target: %w", err)
		}
		switch {
		case target == nil:
			return invalid("hard link target %q was not extracted before it", truncate(hdr.Linkname))
		case target.kind == kindSymlink:
			return insecure("hard link target %q is a symbolic link", truncate(hdr.Linkname))
		case target.kind != kindFile:
			return invalid("hard link target %q is not a regular file", truncate(hdr.Linkname))
		}
		if err := x.settle(target); err != nil {
			return err
		}
		parent, err := x.prepare(parts)
		if err != nil {
			return err
		}
		if err := os.Link(x.abs(trel), x.abs(rel)); err != nil {
			return err
		}
		parent.add(parts[len(parts)-1], &node{kind: kindFile})
		x.stats.Hardlinks++
		return nil

	case tar.TypeChar, tar.TypeBlock:
		return unsupported("device node")
	case tar.TypeFifo:
		return unsupported("FIFO")
	}
	return unsupported("entry type %q", hdr.Typeflag)
}

// symlinkTarget validates a link target under SymlinksInsideRoot and returns
// the cleaned form that is written. parts names the link itself.
func symlinkTarget(parts []string, target string, maxLen int64) (string, error) {
	if maxLen != Unlimited && int64(len(target)) > maxLen {
		return "", &LimitError{Limit: LimitPathLength, Max: maxLen}
	}
	if target == "" {
		return "", invalid("empty symbolic link target")
	}
	if err := checkPathSyntax(target); err != nil {
		return "", fmt.Errorf("symbolic link target: %w", err)
	}
	// ".." may only come first: "a/../b" is refused rather than cleaned,
	// because the kernel resolves "a/.." through a as it is on disk (a link
	// to elsewhere), not lexically.
	up, named := 0, false
	for _, c := range strings.Split(target, "/") {
		switch c {
		case "", ".":
		case "..":
			if named {
				return "", insecure("symbolic link target %q has \"..\" after a name", truncate(target))
			}
			up++
		default:
			named = true
		}
	}
	if up > len(parts)-1 {
		return "", insecure("symbolic link target %q leaves the target directory", truncate(target))
	}
	clean := path.Clean(target)
	return clean, nil
}

// writeFile creates a new file and copies the entry's data into it.
func (x *extractor) writeFile(tr io.Reader, abs string, perm fs.FileMode) (err error) {
	f, err := os.OpenFile(abs, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if err := x.copyData(tr, f, -1); err != nil {
		return err
	}
	if x.o.sync {
		return f.Sync()
	}
	return nil
}

// copyData copies the current entry's data to w, counting it against the
// per-file and total limits. Data of excluded entries (w is io.Discard)
// counts too, so that no entry makes Extract inflate without bound; only
// written bytes go into Stats.Bytes. size, when not negative, is what the
// header claims, refused early if it is already over a limit.
func (x *extractor) copyData(tr io.Reader, w io.Writer, size int64) error {
	if size >= 0 {
		if x.o.maxFile != Unlimited && size > x.o.maxFile {
			return &LimitError{Limit: LimitFileBytes, Max: x.o.maxFile}
		}
		if x.o.maxTotal != Unlimited && size > x.o.maxTotal-x.stats.Bytes-x.discarded {
			return &LimitError{Limit: LimitTotalBytes, Max: x.o.maxTotal}
		}
	}
	discard := w == io.Discard
	if x.buf == nil {
		// Only large files and left-out data come here: a layer of small
		// files never takes the 1 MiB buffer.
		x.buf = copyPool.get()
	}
	var written int64
	for {
		n, rerr := readFull(tr, x.buf)
		if n > 0 {
			if err := x.count(written, n); err != nil {
				return err
			}
			if _, err := w.Write(x.buf[:n]); err != nil {
				return err
			}
			written += int64(n)
			if discard {
				x.discarded += int64(n)
			} else {
				x.stats.Bytes += int64(n)
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return x.streamErr(rerr)
		}
		if err := x.ctx.Err(); err != nil {
			return err
		}
		x.progress()
	}
}

// count checks n more bytes read from the stream for one entry, after
// written, against the per-file and total limits.
func (x *extractor) count(written int64, n int) error {
	if x.o.maxFile != Unlimited && written+int64(n) > x.o.maxFile {
		return &LimitError{Limit: LimitFileBytes, Max: x.o.maxFile}
	}
	if x.o.maxTotal != Unlimited && x.stats.Bytes+x.discarded+int64(n) > x.o.maxTotal {
		return &LimitError{Limit: LimitTotalBytes, Max: x.o.maxTotal}
	}
	return nil
}

// readData reads the whole of the current entry's data into bufs, whose
// lengths add up to what its header claims, and counts it as written,
// like copyData.
func (x *extractor) readData(tr io.Reader, bufs [][]byte) error {
	var written int64
	for _, b := range bufs {
		n, rerr := readFull(tr, b)
		if n > 0 {
			if err := x.count(written, n); err != nil {
				return err
			}
			written += int64(n)
			x.stats.Bytes += int64(n)
		}
		switch {
		case rerr == io.EOF:
			if n < len(b) {
				return invalid("truncated: entry data shorter than its header says")
			}
		case rerr != nil:
			return x.streamErr(rerr)
		}
	}
	// The buffers are full: the entry must end here.
	var one [1]byte
	n, rerr := readFull(tr, one[:])
	switch {
	case n > 0:
		return invalid("entry data longer than its header says")
	case rerr != io.EOF:
		return x.streamErr(rerr)
	}
	return nil
}

// readFull reads until buf is full or an error; io.EOF means the entry
// ended (n may be positive).
func readFull(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// finish sets directory times, deepest first so that setting one does not
// disturb another, and syncs the tree if asked.
func (x *extractor) finish() error {
	sort.SliceStable(x.dirs, func(i, j int) bool { return x.dirs[i].depth > x.dirs[j].depth })
	for _, d := range x.dirs {
		if err := os.Chtimes(x.abs(d.rel), time.Time{}, d.mtime); err != nil {
			return err
		}
	}
	if !x.o.sync {
		return nil
	}
	return syncDirs(x.tmp)
}
