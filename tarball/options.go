package tarball

import (
	"fmt"
	"strconv"
	"strings"
)

// Unlimited turns a limit off when passed to one of the WithMax* options.
// Zero and other negative values are rejected, so that an unset variable
// cannot silently disable a limit.
const Unlimited int64 = -1

// Default limits of [Extract]. They are generous for any configuration or
// manifest bundle and small enough that a hostile archive cannot fill a
// disk or exhaust memory.
const (
	// DefaultMaxTotalBytes bounds the bytes written to all files: 1 GiB.
	DefaultMaxTotalBytes int64 = 1 << 30
	// DefaultMaxFileBytes bounds the bytes written to one file: 1 GiB,
	// so by default only the total binds.
	DefaultMaxFileBytes int64 = 1 << 30
	// DefaultMaxEntries bounds the objects created (entries plus implied
	// parent directories): 100,000.
	DefaultMaxEntries int64 = 100_000
	// DefaultMaxPathLength bounds entry names and link targets in bytes:
	// 4096, Linux's PATH_MAX.
	DefaultMaxPathLength int64 = 4096
	// DefaultMaxPathDepth bounds the number of components of a name: 256.
	DefaultMaxPathDepth int64 = 256
	// DefaultMaxHeaderBytes bounds one entry's headers including PAX and GNU
	// long-name records: 64 KiB, room for two PATH_MAX names and more.
	// (archive/tar itself stops at 1 MiB per record.)
	DefaultMaxHeaderBytes int64 = 64 << 10
)

// Fixed bounds that have no option.
const (
	// maxTrailingBytes bounds the zero padding after the end-of-archive
	// marker. Tar tools pad to a record (10 KiB for GNU tar).
	maxTrailingBytes = 1 << 20
	// maxEmptyGzipMembers bounds gzip members that inflate to nothing
	// (BGZF ends with one; concatenated empty files give a few).
	maxEmptyGzipMembers = 64
)

// SymlinkPolicy says what [Extract] does with symbolic links.
type SymlinkPolicy int

const (
	// SymlinksReject fails the extraction on the first symbolic link with
	// [ErrUnsupportedEntry]. It is the default.
	SymlinksReject SymlinkPolicy = iota
	// SymlinksSkip leaves symbolic links out and counts them in
	// [Stats].Skipped.
	SymlinksSkip
	// SymlinksInsideRoot creates symbolic links whose target stays inside
	// the target directory and fails with [ErrInsecurePath] on any other.
	// A target must be relative, its ".." components must all come first
	// ("../../x", not "a/../../x"), and it may climb no higher than the
	// link's own directory is deep; it is stored cleaned (no "." or
	// repeated slashes). Since no entry is ever written through a symbolic
	// link, each link's ".." components are resolved from real directories
	// of the tree, so no link or chain of links, whatever entries come
	// before or after it, resolves outside the target.
	SymlinksInsideRoot
)

// String returns "reject", "skip" or "inside-root".
func (p SymlinkPolicy) String() string {
	switch p {
	case SymlinksReject:
		return "reject"
	case SymlinksSkip:
		return "skip"
	case SymlinksInsideRoot:
		return "inside-root"
	}
	return fmt.Sprintf("SymlinkPolicy(%d)", int(p))
}

// Compression says how [Extract] treats the input stream.
type Compression int

const (
	// CompressionAuto inflates the stream if it starts with the gzip magic
	// bytes (1f 8b) and reads it as a plain tar otherwise. It is the default.
	CompressionAuto Compression = iota
	// CompressionGzip requires a gzip stream.
	CompressionGzip
	// CompressionNone reads a plain tar stream.
	CompressionNone
)

// String returns "auto", "gzip" or "none".
func (c Compression) String() string {
	switch c {
	case CompressionAuto:
		return "auto"
	case CompressionGzip:
		return "gzip"
	case CompressionNone:
		return "none"
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

// Option configures [Extract].
type Option func(*options) error

type options struct {
	maxTotal, maxFile, maxEntries int64
	maxPathLen, maxDepth          int64
	maxHeader                     int64
	symlinks                      SymlinkPolicy
	compression                   Compression
	sync                          bool
	progress                      []func(Stats)
	beforeCommit                  []func(dir string) error
	exclude                       []ignoreRule
}

func defaultOptions() options {
	return options{
		maxTotal:   DefaultMaxTotalBytes,
		maxFile:    DefaultMaxFileBytes,
		maxEntries: DefaultMaxEntries,
		maxPathLen: DefaultMaxPathLength,
		maxDepth:   DefaultMaxPathDepth,
		maxHeader:  DefaultMaxHeaderBytes,
	}
}

func limitOption(name string, n, min int64, dst *int64) error {
	if n == Unlimited {
		*dst = Unlimited
		return nil
	}
	if n < min {
		return fmt.Errorf("tarball: %w: %s must be at least %d or Unlimited, got %d", ErrInvalidOption, name, min, n)
	}
	*dst = n
	return nil
}

// WithMaxTotalBytes bounds the bytes actually written to all files (not
// what headers claim). The default is [DefaultMaxTotalBytes] (1 GiB).
// n must be positive or [Unlimited].
func WithMaxTotalBytes(n int64) Option {
	return func(o *options) error { return limitOption("WithMaxTotalBytes", n, 1, &o.maxTotal) }
}

// WithMaxFileBytes bounds the bytes actually written to any one file.
// The default is [DefaultMaxFileBytes] (1 GiB). n must be positive or
// [Unlimited].
func WithMaxFileBytes(n int64) Option {
	return func(o *options) error { return limitOption("WithMaxFileBytes", n, 1, &o.maxFile) }
}

// WithMaxEntries bounds the number of objects created: every archive entry
// (including skipped ones) and every parent directory an entry implies
// without its own entry. The default is [DefaultMaxEntries] (100,000).
// n must be positive or [Unlimited].
func WithMaxEntries(n int64) Option {
	return func(o *options) error { return limitOption("WithMaxEntries", n, 1, &o.maxEntries) }
}

// WithMaxPathLength bounds the length in bytes of entry names and link
// targets. The default is [DefaultMaxPathLength] (4096). n must be
// positive or [Unlimited].
func WithMaxPathLength(n int64) Option {
	return func(o *options) error { return limitOption("WithMaxPathLength", n, 1, &o.maxPathLen) }
}

// WithMaxPathDepth bounds the number of components of an entry name
// ("a/b/c" has 3). The default is [DefaultMaxPathDepth] (256). n must be
// positive or [Unlimited].
func WithMaxPathDepth(n int64) Option {
	return func(o *options) error { return limitOption("WithMaxPathDepth", n, 1, &o.maxDepth) }
}

// WithMaxHeaderBytes bounds the bytes of one entry's headers: its 512-byte
// header block and any PAX or GNU long-name records before it (plus up to
// 511 bytes of block padding of the entry before). The default is
// [DefaultMaxHeaderBytes] (64 KiB). n must be at least 512 or [Unlimited];
// archive/tar still refuses a single record over 1 MiB.
func WithMaxHeaderBytes(n int64) Option {
	return func(o *options) error { return limitOption("WithMaxHeaderBytes", n, 512, &o.maxHeader) }
}

// WithSymlinks sets the symbolic link policy. The default is
// [SymlinksReject].
func WithSymlinks(p SymlinkPolicy) Option {
	return func(o *options) error {
		switch p {
		case SymlinksReject, SymlinksSkip, SymlinksInsideRoot:
			o.symlinks = p
			return nil
		}
		return fmt.Errorf("tarball: %w: unknown %v", ErrInvalidOption, p)
	}
}

// WithCompression says whether the input is gzip-compressed. The default
// is [CompressionAuto], which looks at the first two bytes.
func WithCompression(c Compression) Option {
	return func(o *options) error {
		switch c {
		case CompressionAuto, CompressionGzip, CompressionNone:
			o.compression = c
			return nil
		}
		return fmt.Errorf("tarball: %w: unknown %v", ErrInvalidOption, c)
	}
}

// WithSync makes [Extract] fsync every file and directory of the new tree,
// and the parent directory after the rename, before returning. The default
// is false: the tree is complete and atomically in place for every reader
// of the file system, but a power loss shortly after may lose it, as for
// any unsynced write.
func WithSync(sync bool) Option {
	return func(o *options) error {
		o.sync = sync
		return nil
	}
}

// WithProgress registers fn to be called synchronously with the running
// totals after each entry and after each chunk (at most 1 MiB) of a large
// file. Files and Bytes count a small file once its data has been read
// from the archive, which may be a moment before it is on disk. fn must be
// quick and must not retain anything beyond the Stats value. Several calls
// add up: the callbacks run in the order given. The default is no callback.
func WithProgress(fn func(Stats)) Option {
	return func(o *options) error {
		if fn == nil {
			return fmt.Errorf("tarball: %w: WithProgress(nil)", ErrInvalidOption)
		}
		o.progress = append(o.progress, fn)
		return nil
	}
}

// WithBeforeCommit registers fn to be called once every entry has been
// extracted, with the path of the new tree, just before it replaces the
// target directory. fn may add files to the tree (a caller's metadata,
// for example); they become visible together with the content. If fn
// returns an error, the extraction fails and the target is left as it was.
// Several calls add up: the callbacks run in the order given. The default
// is no callback.
func WithBeforeCommit(fn func(dir string) error) Option {
	return func(o *options) error {
		if fn == nil {
			return fmt.Errorf("tarball: %w: WithBeforeCommit(nil)", ErrInvalidOption)
		}
		o.beforeCommit = append(o.beforeCommit, fn)
		return nil
	}
}

// Config is what a list of options decides about the result of an
// extraction, as [Settings] reads it. Callbacks ([WithProgress],
// [WithBeforeCommit]) are not part of it.
type Config struct {
	MaxTotalBytes, MaxFileBytes, MaxEntries     int64
	MaxPathLength, MaxPathDepth, MaxHeaderBytes int64
	Symlinks                                    SymlinkPolicy
	Compression                                 Compression
	Sync                                        bool
	// Exclude holds the exclude patterns as given (blank and comment
	// lines left out).
	Exclude []string
}

// String is a canonical text of c, in a fixed order: two configurations
// with the same text extract any archive to the same tree, or refuse it
// alike, so a cache of extractions can key on it (the root package's
// Fetcher does).
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "maxTotalBytes=%d maxFileBytes=%d maxEntries=%d maxPathLength=%d maxPathDepth=%d maxHeaderBytes=%d symlinks=%s compression=%s sync=%t exclude=",
		c.MaxTotalBytes, c.MaxFileBytes, c.MaxEntries, c.MaxPathLength, c.MaxPathDepth, c.MaxHeaderBytes, c.Symlinks, c.Compression, c.Sync)
	for i, p := range c.Exclude {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(p))
	}
	return b.String()
}

// Settings checks opts as [Extract] would and returns what they decide: the
// limits, the symbolic link policy, compression, fsync and the exclude
// patterns. An invalid option is an error wrapping [ErrInvalidOption], so
// Settings also validates options ahead of use.
func Settings(opts ...Option) (Config, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return Config{}, err
		}
	}
	c := Config{
		MaxTotalBytes: o.maxTotal, MaxFileBytes: o.maxFile, MaxEntries: o.maxEntries,
		MaxPathLength: o.maxPathLen, MaxPathDepth: o.maxDepth, MaxHeaderBytes: o.maxHeader,
		Symlinks: o.symlinks, Compression: o.compression, Sync: o.sync,
	}
	for _, r := range o.exclude {
		c.Exclude = append(c.Exclude, r.source)
	}
	return c, nil
}
