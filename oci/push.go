package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Layer is content ready to push: its descriptor and a way to read it
// (possibly more than once). Build one with [LayerFromBytes],
// [LayerFromFile] or [LayerFromDir].
type Layer struct {
	// Descriptor describes the content; MediaType defaults to [MediaTypeFluxContent].
	Descriptor Descriptor
	// Open returns a fresh reader of the content.
	Open func() (io.ReadCloser, error)
}

// LayerFromBytes returns a layer holding b.
func LayerFromBytes(mediaType string, b []byte) Layer {
	return Layer{
		Descriptor: Descriptor{MediaType: mediaType, Digest: DigestOf(b), Size: int64(len(b))},
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
	h := newHash("sha256")
	n, err := io.Copy(h, f)
	if err != nil {
		return Layer{}, fmt.Errorf("hashing %s: %w", path, err)
	}
	return Layer{
		Descriptor: Descriptor{MediaType: mediaType, Digest: Digest(fmt.Sprintf("sha256:%x", h.Sum(nil))), Size: n},
		Open:       func() (io.ReadCloser, error) { return os.Open(path) },
	}, nil
}

// PushOption configures [Client.Push].
type PushOption func(*pushOptions) error

type pushOptions struct {
	annotations map[string]string
	created     time.Time
	artifactTyp string
	configType  string
}

// WithSource records where the content came from (for example a Git URL)
// in the org.opencontainers.image.source annotation. The default is none.
func WithSource(source string) PushOption {
	return WithAnnotations(map[string]string{AnnotationSource: source})
}

// WithRevision records the content's revision (for example
// "main@sha1:<commit>") in the org.opencontainers.image.revision annotation.
// The default is none.
func WithRevision(revision string) PushOption {
	return WithAnnotations(map[string]string{AnnotationRevision: revision})
}

// WithCreated sets the org.opencontainers.image.created annotation. The
// default is the time of the push; pass a fixed time for reproducible manifests.
func WithCreated(t time.Time) PushOption {
	return func(o *pushOptions) error {
		o.created = t
		return nil
	}
}

// WithAnnotations adds manifest annotations. The default is only
// org.opencontainers.image.created.
func WithAnnotations(a map[string]string) PushOption {
	return func(o *pushOptions) error {
		if o.annotations == nil {
			o.annotations = map[string]string{}
		}
		for k, v := range a {
			o.annotations[k] = v
		}
		return nil
	}
}

// WithArtifactType sets the manifest's artifactType. The default is none, as
// `flux push artifact` does.
func WithArtifactType(t string) PushOption {
	return func(o *pushOptions) error {
		o.artifactTyp = t
		return nil
	}
}

// WithConfigMediaType sets the media type of the (empty JSON) config blob.
// The default is [MediaTypeFluxConfig].
func WithConfigMediaType(mt string) PushOption {
	return func(o *pushOptions) error {
		if mt == "" {
			return fmt.Errorf("%w: WithConfigMediaType: empty media type", ErrInvalidOption)
		}
		o.configType = mt
		return nil
	}
}

// Push uploads layer as a single-layer artifact in the layout `flux push
// artifact` produces (config [MediaTypeFluxConfig] holding "{}", layer
// [MediaTypeFluxContent] unless the layer says otherwise, OCI annotations),
// and tags it with ref's tag, or "latest". When ref carries a digest, the
// pushed manifest must hash to it. It returns the manifest's descriptor.
func (c *Client) Push(ctx context.Context, ref Reference, layer Layer, opts ...PushOption) (Descriptor, error) {
	d, err := c.push(ctx, ref, layer, opts...)
	return d, opError("push", ref.display(), err)
}

func (c *Client) push(ctx context.Context, ref Reference, layer Layer, opts ...PushOption) (Descriptor, error) {
	// Refuse a bad reference before any blob is uploaded.
	if err := ref.Validate(); err != nil {
		return Descriptor{}, err
	}
	if err := layer.Descriptor.Validate(); err != nil {
		return Descriptor{}, err
	}
	o := pushOptions{configType: MediaTypeFluxConfig}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return Descriptor{}, err
		}
	}
	if o.created.IsZero() {
		o.created = time.Now()
	}
	annotations := map[string]string{AnnotationCreated: o.created.UTC().Format(time.RFC3339)}
	for k, v := range o.annotations {
		annotations[k] = v
	}
	ld := layer.Descriptor
	if ld.MediaType == "" {
		ld.MediaType = MediaTypeFluxContent
	}
	config := LayerFromBytes(o.configType, []byte("{}"))
	m := Manifest{
		MediaType:    MediaTypeOCIManifest,
		ArtifactType: o.artifactTyp,
		Config:       config.Descriptor,
		Layers:       []Descriptor{ld},
		Annotations:  annotations,
	}
	raw, err := json.Marshal(struct {
		SchemaVersion int `json:"schemaVersion"`
		Manifest
	}{2, m})
	if err != nil {
		return Descriptor{}, err
	}
	if err := c.pushBlob(ctx, ref, config.Descriptor, config.Open); err != nil {
		return Descriptor{}, err
	}
	if err := c.pushBlob(ctx, ref, ld, layer.Open); err != nil {
		return Descriptor{}, err
	}
	if ref.Digest == "" && ref.Tag == "" {
		ref.Tag = "latest"
	}
	return c.pushManifest(ctx, ref, MediaTypeOCIManifest, raw)
}

// PushBlob uploads the content r holds, which must match desc (digest and
// size); a blob the registry already has is not uploaded again.
func (c *Client) PushBlob(ctx context.Context, repo Reference, desc Descriptor, r io.Reader) error {
	used := false
	open := func() (io.ReadCloser, error) {
		if used {
			return nil, fmt.Errorf("blob %s: reader already consumed", desc.Digest)
		}
		used = true
		return io.NopCloser(r), nil
	}
	return opError("push blob", repo.displayRepo()+"@"+truncate(string(desc.Digest)), c.pushBlob(ctx, repo, desc, open))
}

func (c *Client) pushBlob(ctx context.Context, repo Reference, desc Descriptor, open func() (io.ReadCloser, error)) error {
	if err := desc.Validate(); err != nil {
		return err
	}
	if err := repo.Validate(); err != nil {
		return err
	}
	ctx = withOp(ctx, opPush)
	rt, r, err := c.transport(ctx, repo, true)
	if err != nil {
		return err
	}
	h, err := v1.NewHash(string(desc.Digest))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidDigest, err)
	}
	l := &pushLayer{desc: desc, hash: h, open: func() (io.ReadCloser, error) {
		rc, err := open()
		if err != nil {
			return nil, err
		}
		// Check what is uploaded, so a wrong descriptor fails here, not at the registry.
		return newVerifyingReader(rc, desc), nil
	}}
	return mapError(remote.WriteLayer(r, l, c.remoteOptions(ctx, rt)...))
}

// PushManifest uploads raw as a manifest of the given media type under ref's
// tag (or digest), and returns its descriptor. The blobs it names must
// already be in the repository. A manifest with a subject is also recorded
// in the referrers tag schema when the registry lacks the referrers API.
func (c *Client) PushManifest(ctx context.Context, ref Reference, mediaType string, raw []byte) (Descriptor, error) {
	d, err := c.pushManifest(ctx, ref, mediaType, raw)
	return d, opError("push manifest", ref.display(), err)
}

func (c *Client) pushManifest(ctx context.Context, ref Reference, mediaType string, raw []byte) (Descriptor, error) {
	if err := ref.Validate(); err != nil {
		return Descriptor{}, err
	}
	ctx = withOp(ctx, opPush)
	if int64(len(raw)) > c.opts.maxManifestSize {
		return Descriptor{}, fmt.Errorf("%w: manifest of %d bytes exceeds the limit of %d", ErrTooLarge, len(raw), c.opts.maxManifestSize)
	}
	algo := "sha256"
	if ref.Digest != "" {
		algo = ref.Digest.Algorithm()
	}
	d := Descriptor{MediaType: mediaType, Digest: digestBytes(algo, raw), Size: int64(len(raw))}
	if ref.Digest != "" && ref.Digest != d.Digest {
		return Descriptor{}, fmt.Errorf("%w: manifest hashes to %s, reference says %s", ErrDigestMismatch, d.Digest, ref.Digest)
	}
	rt, repo, err := c.transport(ctx, ref, true)
	if err != nil {
		return Descriptor{}, err
	}
	var target name.Reference = repo.Tag(ref.identifier())
	if ref.Digest != "" {
		target = repo.Digest(string(ref.Digest))
	}
	h, err := v1.NewHash(string(d.Digest))
	if err != nil {
		return Descriptor{}, err
	}
	if err := remote.Put(target, &rawManifest{raw: raw, mediaType: mediaType, hash: h}, c.remoteOptions(ctx, rt)...); err != nil {
		return Descriptor{}, mapError(err)
	}
	return d, nil
}

// Tag points tag at the manifest ref names (which must carry a digest).
func (c *Client) Tag(ctx context.Context, ref Reference, tag string) error {
	return opError("tag", ref.display(), c.tag(ctx, ref, tag))
}

func (c *Client) tag(ctx context.Context, ref Reference, tag string) error {
	if ref.Digest == "" {
		return fmt.Errorf("%w: tagging needs a digest-pinned reference", ErrInvalidReference)
	}
	if err := ValidateTag(tag); err != nil {
		return err
	}
	if err := ref.Validate(); err != nil {
		return err
	}
	target := ref.WithTag(tag)
	if err := target.Validate(); err != nil {
		return err
	}
	m, err := c.manifest(ctx, ref)
	if err != nil {
		return err
	}
	_, err = c.pushManifest(ctx, target, m.MediaType, m.Raw)
	return err
}

// pushLayer adapts a descriptor and an opener to go-containerregistry's v1.Layer.
type pushLayer struct {
	desc Descriptor
	hash v1.Hash
	open func() (io.ReadCloser, error)
}

func (l *pushLayer) Digest() (v1.Hash, error)             { return l.hash, nil }
func (l *pushLayer) DiffID() (v1.Hash, error)             { return l.hash, nil }
func (l *pushLayer) Compressed() (io.ReadCloser, error)   { return l.open() }
func (l *pushLayer) Uncompressed() (io.ReadCloser, error) { return l.open() }
func (l *pushLayer) Size() (int64, error)                 { return l.desc.Size, nil }
func (l *pushLayer) MediaType() (types.MediaType, error) {
	return types.MediaType(l.desc.MediaType), nil
}

// rawManifest adapts manifest bytes to go-containerregistry's remote.Taggable.
type rawManifest struct {
	raw       []byte
	mediaType string
	hash      v1.Hash
}

func (m *rawManifest) RawManifest() ([]byte, error) { return m.raw, nil }
func (m *rawManifest) MediaType() (types.MediaType, error) {
	return types.MediaType(m.mediaType), nil
}
func (m *rawManifest) Digest() (v1.Hash, error) { return m.hash, nil }
func (m *rawManifest) Size() (int64, error)     { return int64(len(m.raw)), nil }
