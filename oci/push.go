package oci

import (
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

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
	return c.PushBlobFrom(ctx, repo, desc, open)
}

// PushBlobFrom uploads the content open returns, which must match desc
// (digest and size, checked as it streams); a blob the registry already has
// is not uploaded again, and open is then not called. open may be called
// again when an upload is retried, so it must return a fresh reader each
// time (a blob read from another registry, a file).
func (c *Client) PushBlobFrom(ctx context.Context, repo Reference, desc Descriptor, open func() (io.ReadCloser, error)) error {
	if open == nil {
		return opError("push blob", repo.displayRepo(), fmt.Errorf("%w: nil open function", ErrInvalidOption))
	}
	return opError("push blob", repo.displayRepo()+"@"+truncate(string(desc.Digest)), c.pushBlob(ctx, repo, desc, open, false))
}

// pushBlob uploads what open returns as desc. Unless checked (open's readers
// verify desc themselves, as Blob's do), what is uploaded is hashed and
// counted on the way, so a wrong descriptor fails here.
func (c *Client) pushBlob(ctx context.Context, repo Reference, desc Descriptor, open func() (io.ReadCloser, error), checked bool) error {
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
		if checked {
			return rc, nil
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
