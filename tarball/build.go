package tarball

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/gzip"
)

// BuildOption configures [Build].
type BuildOption func(*buildOptions) error

type buildOptions struct {
	ignore  []string
	modTime time.Time
	level   int
}

// WithIgnorePatterns leaves out files and directories matching the given
// gitignore-style patterns (relative to the directory being built). Several
// calls add up; the last matching pattern wins. Supported: blank lines and
// "#" comments; "!" negation; "*", "?" and "[...]" within a path component;
// "**" as a whole component ("**/x", "a/**", "a/**/b"); a leading or inner
// "/" anchoring the pattern to the root (otherwise it matches at any depth);
// a trailing "/" for directories only; "\" escaping a leading "#" or "!".
// Not supported: ".gitignore" files inside the tree. An ignored directory is
// not descended into. The default is to ignore nothing; see
// [DefaultIgnorePatterns].
func WithIgnorePatterns(patterns ...string) BuildOption {
	return func(o *buildOptions) error {
		if _, err := parseIgnore(patterns); err != nil {
			return err
		}
		o.ignore = append(o.ignore, patterns...)
		return nil
	}
}

// WithModTime sets the modification time recorded for every entry,
// truncated to whole seconds. The default is the Unix epoch
// (1970-01-01T00:00:00Z).
func WithModTime(t time.Time) BuildOption {
	return func(o *buildOptions) error {
		if t.Before(time.Unix(0, 0)) {
			return fmt.Errorf("tarball: %w: WithModTime(%v) is before the Unix epoch", ErrInvalidOption, t)
		}
		o.modTime = t.Truncate(time.Second).UTC()
		return nil
	}
}

// WithCompressionLevel sets the gzip level, from gzip.BestSpeed (1) to
// gzip.BestCompression (9), or gzip.DefaultCompression (-1). The bytes
// produced depend on it. The default is gzip.DefaultCompression.
func WithCompressionLevel(level int) BuildOption {
	return func(o *buildOptions) error {
		if level != gzip.DefaultCompression && (level < gzip.BestSpeed || level > gzip.BestCompression) {
			return fmt.Errorf("tarball: %w: compression level %d", ErrInvalidOption, level)
		}
		o.level = level
		return nil
	}
}

// Build writes a reproducible tar+gzip archive of the tree at dir to w: the
// same tree and options give the same bytes, and so the same digest, on
// every run and machine (for a given version of this module, which pins the
// compressor).
//
// Entries are the tree's directories, regular files and symbolic links,
// relative to dir (dir itself has no entry), in depth-first order with
// names sorted bytewise within each directory, so a directory comes before
// its content. Every header has uid and gid 0, no user or group names, the
// modification time of [WithModTime] and no access or change time; modes
// are normalised to 0o755 for directories and for files with the owner
// execute bit, 0o644 for other files and 0o777 for links. Symbolic links are
// stored as links, never followed (dir itself may be one). Hard links in the
// tree are stored as separate regular files. Any other file type fails with
// [ErrUnsupportedEntry]. The gzip header has no name, no time and the
// "unknown" OS byte.
//
// Build checks ctx between files. On error, what was written to w is
// incomplete and must be discarded.
func Build(ctx context.Context, dir string, w io.Writer, opts ...BuildOption) error {
	o := buildOptions{modTime: time.Unix(0, 0).UTC(), level: gzip.DefaultCompression}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return err
		}
	}
	rules, err := parseIgnore(o.ignore)
	if err != nil {
		return err
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("tarball: build %q: %w", dir, err)
	}
	if fi, err := os.Stat(root); err != nil {
		return fmt.Errorf("tarball: build %q: %w", dir, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("tarball: build %q: %w", dir, &fs.PathError{Op: "build", Path: dir, Err: errors.New("not a directory")})
	}

	bw := bufio.NewWriterSize(w, 256<<10)
	zw, err := gzip.NewWriterLevel(bw, o.level)
	if err != nil {
		return fmt.Errorf("tarball: build %q: %w", dir, err)
	}
	zw.Header = gzip.Header{OS: 255}
	tw := tar.NewWriter(zw)
	buf := make([]byte, copyBufferSize)

	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == root {
			return nil
		}
		relOS, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(relOS)
		if ignored(rules, rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if err := addEntry(tw, p, rel, d, o.modTime, buf); err != nil {
			return &EntryError{Name: rel, Err: err}
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("tarball: build %q: %w", dir, err)
	}
	return nil
}

func addEntry(tw *tar.Writer, p, rel string, d fs.DirEntry, mtime time.Time, buf []byte) error {
	hdr := &tar.Header{Name: rel, ModTime: mtime}
	var f *os.File
	switch t := d.Type(); {
	case t.IsDir():
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
		hdr.Mode = 0o755
	case t&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = filepath.ToSlash(target)
		hdr.Mode = 0o777
	case t.IsRegular():
		var err error
		if f, err = os.Open(p); err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return unsupported("%s changed type while reading", rel)
		}
		hdr.Typeflag = tar.TypeReg
		hdr.Size = fi.Size()
		hdr.Mode = 0o644
		if fi.Mode()&0o100 != 0 {
			hdr.Mode = 0o755
		}
	default:
		return unsupported("file type %v", t)
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if f == nil {
		return nil
	}
	n, err := io.CopyBuffer(tw, struct{ io.Reader }{f}, buf)
	if err != nil {
		return err
	}
	if n != hdr.Size {
		return fmt.Errorf("file changed size while reading (%d bytes, then %d)", hdr.Size, n)
	}
	return nil
}
