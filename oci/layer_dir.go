package oci

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/ocisource/ocisource/tarball"
)

// LayerFromDir packs dir into a reproducible tar+gzip layer with
// [tarball.Build] (same tree, same bytes, same digest) of media type
// [MediaTypeFluxContent], as `flux push artifact --path` does. The archive
// is written to a temporary file, removed by the returned cleanup function
// once the push is done. Build options set ignore patterns and the like.
func LayerFromDir(ctx context.Context, dir string, opts ...tarball.BuildOption) (Layer, func(), error) {
	f, err := os.CreateTemp("", "ocisource-layer-*.tar.gz")
	if err != nil {
		return Layer{}, nil, err
	}
	cleanup := func() { f.Close(); os.Remove(f.Name()) }
	h := newHash("sha256")
	cw := &countWriter{w: io.MultiWriter(f, h)}
	if err := tarball.Build(ctx, dir, cw, opts...); err != nil {
		cleanup()
		return Layer{}, nil, err
	}
	if err := f.Sync(); err != nil {
		cleanup()
		return Layer{}, nil, err
	}
	name := f.Name()
	return Layer{
		Descriptor: Descriptor{MediaType: MediaTypeFluxContent, Digest: Digest(fmt.Sprintf("sha256:%x", h.Sum(nil))), Size: cw.n},
		Open:       func() (io.ReadCloser, error) { return os.Open(name) },
	}, cleanup, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
