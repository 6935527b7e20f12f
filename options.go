package ocisource

import (
	"fmt"
	"log/slog"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/tarball"
)

// Option configures a [Fetcher]. Options are checked by [NewFetcher]: an
// invalid or contradictory one is an error wrapping [ErrInvalidOption]
// there, never a failure of a later Fetch.
type Option func(*fetcherOptions) error

type fetcherOptions struct {
	client           *oci.Client
	progress         func(Progress)
	extractOpts      []tarball.Option
	logger           *slog.Logger
	maxLayerSize     int64
	replaceUnmanaged bool
}

// DefaultMaxLayerSize bounds the compressed size of the layer a fetch
// downloads (1 GiB, as tarball's default bound on what an extraction may
// write). The descriptor's size is checked before the download starts.
const DefaultMaxLayerSize = 1 << 30

// WithMaxLayerSize bounds the size of the layer a fetch downloads, checked
// against the manifest before any byte of it is requested; larger layers
// fail with an error wrapping [oci.ErrTooLarge]. Raise it together with
// tarball's limits ([WithExtractOptions]). The default is [DefaultMaxLayerSize].
func WithMaxLayerSize(n int64) Option {
	return func(o *fetcherOptions) error {
		if n <= 0 {
			return fmt.Errorf("%w: WithMaxLayerSize(%d): want > 0", ErrInvalidOption, n)
		}
		o.maxLayerSize = n
		return nil
	}
}

// WithClient sets the registry client (auth, TLS, proxy, limits). The
// Fetcher also lends it to a Source's verifier that has no client of its
// own ([verify.BindClient]), so signatures are read with the same settings
// as the artifact. The default is oci.NewClient() with no options:
// credentials from the docker config, HTTPS only.
func WithClient(c *oci.Client) Option {
	return func(o *fetcherOptions) error {
		if c == nil {
			return fmt.Errorf("%w: WithClient(nil)", ErrInvalidOption)
		}
		if o.client != nil && o.client != c {
			return fmt.Errorf("%w: WithClient given twice", ErrInvalidOption)
		}
		o.client = c
		return nil
	}
}

// WithProgress calls fn as the fetch moves through its phases and, while
// downloading, every 1 MiB or so. fn is called from the goroutine of Fetch
// or one it waits for, never after Fetch has returned, and should return
// quickly. The default reports nothing.
func WithProgress(fn func(Progress)) Option {
	return func(o *fetcherOptions) error {
		if fn == nil {
			return fmt.Errorf("%w: WithProgress(nil)", ErrInvalidOption)
		}
		o.progress = fn
		return nil
	}
}

// WithExtractOptions passes options (limits, symlink policy, fsync) to
// [tarball.Extract] for every fetch; they are checked by NewFetcher, and
// they are part of the settings a cache hit must match, so a stricter
// Fetcher never accepts content a laxer one wrote. Several calls add up.
// [tarball.WithCompression] is the Fetcher's own and refused here (the
// layer's compression is read from its bytes, and a copied layer is written
// as it is). A [tarball.WithBeforeCommit] hook runs before the Fetcher's
// own, which records what is being committed. [tarball.WithExclude] comes
// from [Source].Ignore. The default is tarball's defaults.
func WithExtractOptions(opts ...tarball.Option) Option {
	return func(o *fetcherOptions) error {
		o.extractOpts = append(o.extractOpts, opts...)
		return nil
	}
}

// WithLogger logs each fetch's decisions (resolved revision, cache hit,
// verification) at info level. The default logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(o *fetcherOptions) error {
		if l == nil {
			return fmt.Errorf("%w: WithLogger(nil)", ErrInvalidOption)
		}
		o.logger = l
		return nil
	}
}

// WithReplaceUnmanaged lets Fetch replace a target directory that holds
// files no fetch wrote (it has no fetch record): they are removed when the
// new content is swapped in. Without it such a directory is refused with
// [ErrUnmanagedDir], so that a mistyped path never deletes a project. The
// empty path, the working directory and its parents are refused even with
// it. The default refuses.
func WithReplaceUnmanaged() Option {
	return func(o *fetcherOptions) error {
		o.replaceUnmanaged = true
		return nil
	}
}

// checkExtractOptions validates the extract options and returns what they
// decide.
func checkExtractOptions(opts []tarball.Option) (tarball.Config, error) {
	c, err := tarball.Settings(opts...)
	if err != nil {
		return c, fmt.Errorf("%w: WithExtractOptions: %w", ErrInvalidOption, err)
	}
	if c.Compression != tarball.CompressionAuto {
		return c, fmt.Errorf("%w: WithExtractOptions: tarball.WithCompression is the Fetcher's own (it reads the layer's compression from its bytes)", ErrInvalidOption)
	}
	return c, nil
}
