// Package push builds and uploads artifacts in the layout `flux push
// artifact` produces: one content layer ([oci.MediaTypeFluxContent], a
// reproducible tar+gzip of a directory), a config blob holding "{}" of media
// type [oci.MediaTypeFluxConfig], and OCI annotations (source, revision,
// created).
//
// It lives apart from package oci so the client a controller imports to read
// artifacts does not carry the write-side layout or the tar writer: oci has
// only the registry operations ([oci.Client.PushBlob],
// [oci.Client.PushManifest], [oci.Client.Tag]) that this package, mirroring
// and tests build on.
package push

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"time"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/tarball"
)

// Layer is content ready to push: its descriptor and a way to read it
// (possibly more than once, when an upload is retried). Build one with
// [LayerFromBytes], [LayerFromFile] or [LayerFromDir].
type Layer struct {
	// Descriptor describes the content; MediaType defaults to [oci.MediaTypeFluxContent].
	Descriptor oci.Descriptor
	// Open returns a fresh reader of the content.
	Open func() (io.ReadCloser, error)
}

// LayerFromBytes returns a layer holding b.
func LayerFromBytes(mediaType string, b []byte) Layer {
	return Layer{
		Descriptor: oci.Descriptor{MediaType: mediaType, Digest: oci.DigestOf(b), Size: int64(len(b))},
		Open:       func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
	}
}

// LayerFromFile returns a layer reading the file at path, which it hashes
// once now. The file must not change until the push is done.
func LayerFromFile(mediaType, path string) (Layer, error) {
	f, err := os.Open(path)
	if err != nil {
		return Layer{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Layer{}, fmt.Errorf("hashing %s: %w", path, err)
	}
	return Layer{
		Descriptor: oci.Descriptor{MediaType: mediaType, Digest: oci.Digest(fmt.Sprintf("sha256:%x", h.Sum(nil))), Size: n},
		Open:       func() (io.ReadCloser, error) { return os.Open(path) },
	}, nil
}

// LayerFromDir packs dir into a reproducible tar+gzip layer with
// [tarball.Build] (same tree, same bytes, same digest) of media type
// [oci.MediaTypeFluxContent], as `flux push artifact --path` does. The
// archive is written to a temporary file, removed by the returned cleanup
// function once the push is done. Build options set ignore patterns and the
// like.
func LayerFromDir(ctx context.Context, dir string, opts ...tarball.BuildOption) (Layer, func(), error) {
	f, err := os.CreateTemp("", "ocisource-layer-*.tar.gz")
	if err != nil {
		return Layer{}, nil, err
	}
	cleanup := func() { f.Close(); os.Remove(f.Name()) }
	h := sha256.New()
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
		Descriptor: oci.Descriptor{MediaType: oci.MediaTypeFluxContent, Digest: oci.Digest(fmt.Sprintf("sha256:%x", h.Sum(nil))), Size: cw.n},
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

// Option configures [Artifact].
type Option func(*options) error

type options struct {
	annotations map[string]string
	created     time.Time
	artifactTyp string
	configType  string
}

// WithSource records where the content came from (for example a Git URL)
// in the org.opencontainers.image.source annotation. The default is none.
func WithSource(source string) Option {
	return WithAnnotations(map[string]string{oci.AnnotationSource: source})
}

// WithRevision records the content's revision (for example
// "main@sha1:<commit>") in the org.opencontainers.image.revision annotation.
// The default is none.
func WithRevision(revision string) Option {
	return WithAnnotations(map[string]string{oci.AnnotationRevision: revision})
}

// WithCreated sets the org.opencontainers.image.created annotation. The
// default is the time of the push; pass a fixed time for reproducible manifests.
func WithCreated(t time.Time) Option {
	return func(o *options) error {
		o.created = t
		return nil
	}
}

// WithAnnotations adds manifest annotations. The default is only
// org.opencontainers.image.created.
func WithAnnotations(a map[string]string) Option {
	return func(o *options) error {
		if o.annotations == nil {
			o.annotations = map[string]string{}
		}
		maps.Copy(o.annotations, a)
		return nil
	}
}

// WithArtifactType sets the manifest's artifactType. The default is none, as
// `flux push artifact` does.
func WithArtifactType(t string) Option {
	return func(o *options) error {
		o.artifactTyp = t
		return nil
	}
}

// WithConfigMediaType sets the media type of the (empty JSON) config blob.
// The default is [oci.MediaTypeFluxConfig].
func WithConfigMediaType(mt string) Option {
	return func(o *options) error {
		if mt == "" {
			return fmt.Errorf("%w: WithConfigMediaType: empty media type", oci.ErrInvalidOption)
		}
		o.configType = mt
		return nil
	}
}

// Artifact uploads layer with c as a single-layer artifact in the layout
// `flux push artifact` produces (config [oci.MediaTypeFluxConfig] holding
// "{}", layer [oci.MediaTypeFluxContent] unless the layer says otherwise,
// OCI annotations), and tags it with ref's tag, or "latest". When ref
// carries a digest, the pushed manifest must hash to it. Blobs the registry
// already has are not uploaded again. It returns the manifest's descriptor.
func Artifact(ctx context.Context, c *oci.Client, ref oci.Reference, layer Layer, opts ...Option) (oci.Descriptor, error) {
	d, err := artifact(ctx, c, ref, layer, opts...)
	var oe *oci.Error
	if err != nil && !errors.As(err, &oe) {
		err = &oci.Error{Op: "push", Ref: ref.Redacted(), Err: err}
	}
	return d, err
}

func artifact(ctx context.Context, c *oci.Client, ref oci.Reference, layer Layer, opts ...Option) (oci.Descriptor, error) {
	if c == nil {
		return oci.Descriptor{}, fmt.Errorf("%w: nil client", oci.ErrInvalidOption)
	}
	// Refuse a bad reference or layer before any blob is uploaded.
	if err := ref.Validate(); err != nil {
		return oci.Descriptor{}, err
	}
	if err := layer.Descriptor.Validate(); err != nil {
		return oci.Descriptor{}, err
	}
	if layer.Open == nil {
		return oci.Descriptor{}, fmt.Errorf("%w: layer has no Open function", oci.ErrInvalidOption)
	}
	o := options{configType: oci.MediaTypeFluxConfig}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return oci.Descriptor{}, err
		}
	}
	if o.created.IsZero() {
		o.created = time.Now()
	}
	annotations := map[string]string{oci.AnnotationCreated: o.created.UTC().Format(time.RFC3339)}
	maps.Copy(annotations, o.annotations)
	ld := layer.Descriptor
	if ld.MediaType == "" {
		ld.MediaType = oci.MediaTypeFluxContent
	}
	config := LayerFromBytes(o.configType, []byte("{}"))
	m := oci.Manifest{
		MediaType:    oci.MediaTypeOCIManifest,
		ArtifactType: o.artifactTyp,
		Config:       config.Descriptor,
		Layers:       []oci.Descriptor{ld},
		Annotations:  annotations,
	}
	raw, err := json.Marshal(struct {
		SchemaVersion int `json:"schemaVersion"`
		oci.Manifest
	}{2, m})
	if err != nil {
		return oci.Descriptor{}, err
	}
	if err := c.PushBlobFrom(ctx, ref, config.Descriptor, config.Open); err != nil {
		return oci.Descriptor{}, err
	}
	if err := c.PushBlobFrom(ctx, ref, ld, layer.Open); err != nil {
		return oci.Descriptor{}, err
	}
	if ref.Digest == "" && ref.Tag == "" {
		ref.Tag = "latest"
	}
	return c.PushManifest(ctx, ref, oci.MediaTypeOCIManifest, raw)
}
