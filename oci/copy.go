package oci

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
)

// Copy options and limits.
const (
	// DefaultCopyMaxManifests caps the manifests one [Copy] reads: the
	// artifact, the children of its indexes and everything attached to them.
	DefaultCopyMaxManifests = 1_000
	// maxAttachmentDepth bounds how deep attachments of attachments are
	// followed (a signature on an SBOM attached to the artifact is depth 2).
	maxAttachmentDepth = 3
)

// CopyOption configures [Copy].
type CopyOption func(*copyOptions) error

type copyOptions struct {
	referrers    bool
	cosignTags   bool
	maxManifests int
	jobs         int
	progress     func(CopyEvent)
}

// DefaultCopyJobs is how many blobs of one manifest [Copy] copies at once.
const DefaultCopyJobs = 4

// WithCopyJobs sets how many blobs of one manifest are copied at once
// ([DefaultCopyJobs]); 1 copies them one after the other.
func WithCopyJobs(n int) CopyOption {
	return func(o *copyOptions) error {
		if n < 1 {
			return fmt.Errorf("%w: WithCopyJobs(%d): want at least 1", ErrInvalidOption, n)
		}
		o.jobs = n
		return nil
	}
}

// WithCopyReferrers sets whether manifests that name a copied manifest as
// their subject (OCI referrers: Sigstore bundles, notation signatures, SBOMs)
// are copied. The default is true.
func WithCopyReferrers(on bool) CopyOption {
	return func(o *copyOptions) error { o.referrers = on; return nil }
}

// WithCopyCosignTags sets whether cosign's legacy attachments, the tags
// "sha256-<hex>.sig", ".att" and ".sbom" ([CosignTag]) of each copied
// manifest, are copied under the same tags. The default is true.
func WithCopyCosignTags(on bool) CopyOption {
	return func(o *copyOptions) error { o.cosignTags = on; return nil }
}

// WithCopyMaxManifests caps the manifests read ([DefaultCopyMaxManifests]
// unless set); a copy that would read more fails with an error wrapping
// [ErrTooLarge] before the destination is tagged.
func WithCopyMaxManifests(n int) CopyOption {
	return func(o *copyOptions) error {
		if n < 1 {
			return fmt.Errorf("%w: WithCopyMaxManifests(%d): want at least 1", ErrInvalidOption, n)
		}
		o.maxManifests = n
		return nil
	}
}

// WithCopyProgress calls f after each blob and manifest is handled, one call
// at a time (blobs are copied by several goroutines, see [WithCopyJobs]). It
// must not block for long.
func WithCopyProgress(f func(CopyEvent)) CopyOption {
	return func(o *copyOptions) error { o.progress = f; return nil }
}

// CopyEvent is one step of a [Copy], as [WithCopyProgress] reports it.
type CopyEvent struct {
	// Kind is "blob" or "manifest".
	Kind string
	// Descriptor is what was handled.
	Descriptor Descriptor
	// Skipped is true when the destination already had it.
	Skipped bool
}

// CopyResult says what a [Copy] did.
type CopyResult struct {
	// Descriptor is the copied artifact's manifest (or index), unchanged:
	// a copy keeps every digest.
	Descriptor Descriptor
	// Tag is the tag the copy was given at the destination, "" when it was
	// copied by digest only.
	Tag string
	// Manifests counts the manifests written; ManifestsSkipped those the
	// destination already had.
	Manifests, ManifestsSkipped int
	// Blobs counts the blobs written; BlobsSkipped those the destination
	// already had (a resumed copy sends only what is missing).
	Blobs, BlobsSkipped int
	// Bytes counts the blob bytes written.
	Bytes int64
	// Attachments lists what was copied because it is attached to the
	// artifact: legacy cosign tags and referrers.
	Attachments []Attachment
}

// Attachment is a manifest attached to a copied one.
type Attachment struct {
	// Subject is the digest of the manifest it is attached to.
	Subject Digest
	// Descriptor describes the attached manifest.
	Descriptor Descriptor
	// Tag is its cosign tag ("sha256-<hex>.sig"), or "" for a referrer.
	Tag string
}

// Copy copies the artifact src names (by tag or digest) from the registry or
// OCI image layout of srcClient to dst with dstClient, with the children of
// its indexes and everything attached to it: cosign's legacy ".sig", ".att"
// and ".sbom" tags and OCI referrers (each followed for attachments of its
// own, a few levels deep). Registry to registry, registry to layout and
// layout to registry all work; the two clients may be the same.
//
// The copy keeps every digest: manifests are written byte for byte and each
// blob is streamed through a digest and size check. It is bounded (the
// clients' limits, [WithCopyMaxManifests], [MaxIndexDepth]) and resumable:
// blobs and manifests the destination already has are not sent again. The
// destination tag (dst's tag, else src's, else none: by digest only) is
// written last, after every attachment, so whoever reads the tag finds the
// signatures with it.
//
// A layout destination ("oci-layout:///abs/dir") is a directory, created
// when missing; an existing directory must already be an OCI image layout.
// Blobs are written to temporary names and renamed, and index.json is
// replaced in one rename under a lock on the layout, so a killed copy
// leaves the layout as it was plus some complete blobs, and two copies into
// one layout do not lose each other's entries. A layout tar is not a
// destination.
func Copy(ctx context.Context, srcClient *Client, src Reference, dstClient *Client, dst Reference, opts ...CopyOption) (*CopyResult, error) {
	res, err := copyArtifact(ctx, srcClient, src, dstClient, dst, opts)
	if err != nil {
		return res, opError("copy", src.display()+" to "+dst.display(), err)
	}
	return res, nil
}

func copyArtifact(ctx context.Context, srcClient *Client, src Reference, dstClient *Client, dst Reference, opts []CopyOption) (*CopyResult, error) {
	o := copyOptions{referrers: true, cosignTags: true, maxManifests: DefaultCopyMaxManifests, jobs: DefaultCopyJobs}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if srcClient == nil || dstClient == nil {
		return nil, fmt.Errorf("%w: Copy needs a source and a destination client", ErrInvalidOption)
	}
	if err := src.Validate(); err != nil {
		return nil, err
	}
	if err := dst.Validate(); err != nil {
		return nil, err
	}
	if dst.Digest != "" && src.Digest != "" && dst.Digest != src.Digest {
		return nil, fmt.Errorf("%w: destination digest %s differs from the source's %s: a copy keeps digests", ErrInvalidReference, dst.Digest, src.Digest)
	}
	desc, err := srcClient.Resolve(ctx, src)
	if err != nil {
		return nil, err
	}
	if dst.Digest != "" && dst.Digest != desc.Digest {
		return nil, fmt.Errorf("%w: destination digest %s, but %s resolves to %s", ErrDigestMismatch, dst.Digest, src.display(), desc.Digest)
	}
	tag := dst.Tag
	if tag == "" && dst.Digest == "" {
		tag = src.Tag
	}
	var target copyTarget
	if dst.Layout != "" {
		lt, err := openLayoutTarget(dst.Layout)
		if err != nil {
			return nil, err
		}
		defer lt.close()
		target = lt
	} else {
		target = &registryTarget{c: dstClient, repo: dst.WithTag("").WithDigest("")}
	}
	cp := &copier{src: srcClient, srcRepo: src.WithTag("").WithDigest(""), dst: target, o: o, res: &CopyResult{Descriptor: desc, Tag: tag}, seen: map[Digest]bool{}}
	if err := cp.artifact(ctx, desc, 0); err != nil {
		return cp.res, err
	}
	if err := target.commit(ctx, desc, tag); err != nil {
		return cp.res, err
	}
	return cp.res, nil
}

type copier struct {
	mu      sync.Mutex // seen, res and progress calls, while blobs are copied side by side
	src     *Client
	srcRepo Reference
	dst     copyTarget
	o       copyOptions
	res     *CopyResult
	seen    map[Digest]bool
	read    int
}

// artifact copies the manifest desc names, what it references and what is
// attached to it.
func (cp *copier) artifact(ctx context.Context, desc Descriptor, depth int) error {
	if cp.seen[desc.Digest] {
		return nil
	}
	if err := cp.manifest(ctx, desc, 0); err != nil {
		return err
	}
	if depth >= maxAttachmentDepth {
		return nil
	}
	return cp.attachments(ctx, desc.Digest, depth)
}

// manifest copies one manifest (children first, for an index) with its
// blobs, without attachments.
func (cp *copier) manifest(ctx context.Context, desc Descriptor, indexDepth int) error {
	if cp.seen[desc.Digest] {
		return nil
	}
	cp.seen[desc.Digest] = true
	if cp.read++; cp.read > cp.o.maxManifests {
		return fmt.Errorf("%w: more than %d manifests to copy (WithCopyMaxManifests)", ErrTooLarge, cp.o.maxManifests)
	}
	m, err := cp.src.Manifest(ctx, cp.srcRepo.WithDigest(desc.Digest))
	if err != nil {
		return err
	}
	mt := m.MediaType
	if mt == "" {
		mt = desc.MediaType
	}
	if m.IsIndex() {
		if indexDepth >= MaxIndexDepth {
			return fmt.Errorf("%w: indexes nested deeper than %d", ErrTooLarge, MaxIndexDepth)
		}
		if len(m.Manifests) > MaxIndexManifests {
			return fmt.Errorf("%w: index %s lists %d manifests, more than %d", ErrTooLarge, desc.Digest, len(m.Manifests), MaxIndexManifests)
		}
		for _, child := range m.Manifests {
			if err := cp.manifest(ctx, child, indexDepth+1); err != nil {
				return err
			}
			// A child can be signed on its own.
			if err := cp.attachments(ctx, child.Digest, 0); err != nil {
				return err
			}
		}
	} else {
		var blobs []Descriptor
		for _, b := range append([]Descriptor{m.Config}, m.Layers...) {
			if b.Digest != "" && !isForeignLayer(b) {
				blobs = append(blobs, b)
			}
		}
		if err := cp.blobs(ctx, blobs); err != nil {
			return err
		}
	}
	d := Descriptor{MediaType: mt, Digest: m.Descriptor.Digest, Size: m.Descriptor.Size, ArtifactType: m.ArtifactType}
	if d.Digest != desc.Digest {
		return fmt.Errorf("%w: manifest %s hashes to %s", ErrDigestMismatch, desc.Digest, d.Digest)
	}
	written, err := cp.dst.putManifest(ctx, d, m.Raw, m.Subject != nil)
	if err != nil {
		return err
	}
	if written {
		cp.res.Manifests++
	} else {
		cp.res.ManifestsSkipped++
	}
	cp.event("manifest", d, !written)
	return nil
}

// blobs copies ds, cp.o.jobs at a time; the first failure stops the rest.
func (cp *copier) blobs(ctx context.Context, ds []Descriptor) error {
	if len(ds) <= 1 || cp.o.jobs == 1 {
		for _, d := range ds {
			if err := cp.blob(ctx, d); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, cp.o.jobs)
	var wg sync.WaitGroup
	var first error
	var once sync.Once
	for _, d := range ds {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := cp.blob(ctx, d); err != nil {
				once.Do(func() { first = err; cancel(err) })
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return context.Cause(ctx)
}

func (cp *copier) blob(ctx context.Context, d Descriptor) error {
	cp.mu.Lock()
	if cp.seen[d.Digest] {
		cp.mu.Unlock()
		return nil
	}
	cp.seen[d.Digest] = true
	cp.mu.Unlock()
	open := func() (io.ReadCloser, error) { return cp.src.Blob(ctx, cp.srcRepo, d) }
	written, err := cp.dst.putBlob(ctx, d, open)
	if err != nil {
		return err
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if written {
		cp.res.Blobs++
		cp.res.Bytes += d.Size
	} else {
		cp.res.BlobsSkipped++
	}
	cp.emit("blob", d, !written)
	return nil
}

// event reports a step; cp.mu must not be held.
func (cp *copier) event(kind string, d Descriptor, skipped bool) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.emit(kind, d, skipped)
}

// emit reports a step; cp.mu is held, so calls come one at a time.
func (cp *copier) emit(kind string, d Descriptor, skipped bool) {
	if cp.o.progress != nil {
		cp.o.progress(CopyEvent{Kind: kind, Descriptor: d, Skipped: skipped})
	}
}

// attachments copies what is attached to subject: legacy cosign tags and
// referrers.
func (cp *copier) attachments(ctx context.Context, subject Digest, depth int) error {
	if cp.o.cosignTags {
		for _, kind := range []string{CosignSignature, CosignAttestation, CosignSBOM} {
			tag := CosignTag(subject, kind)
			d, err := cp.src.Resolve(ctx, cp.srcRepo.WithTag(tag))
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if err := cp.artifact(ctx, d, depth+1); err != nil {
				return err
			}
			if err := cp.dst.tag(ctx, d, tag); err != nil {
				return err
			}
			cp.res.Attachments = append(cp.res.Attachments, Attachment{Subject: subject, Descriptor: d, Tag: tag})
		}
	}
	if cp.o.referrers {
		refs, err := cp.src.Referrers(ctx, cp.srcRepo.WithDigest(subject), "")
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		// A stable order: the same copy writes the same things in the same order.
		slices.SortFunc(refs, func(a, b Descriptor) int { return cmp.Compare(a.Digest, b.Digest) })
		for _, d := range refs {
			if cp.seen[d.Digest] {
				continue
			}
			if err := cp.artifact(ctx, d, depth+1); err != nil {
				return err
			}
			cp.res.Attachments = append(cp.res.Attachments, Attachment{Subject: subject, Descriptor: d})
		}
	}
	return nil
}

// isForeignLayer reports a layer a registry does not serve (Windows base
// layers with URLs): copies leave them out, as docker and crane do.
func isForeignLayer(d Descriptor) bool {
	switch d.MediaType {
	case "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd":
		return true
	}
	return false
}

// copyTarget is where a copy writes: a registry repository or a layout.
type copyTarget interface {
	// putBlob writes the blob unless present; written reports whether it did.
	putBlob(ctx context.Context, d Descriptor, open func() (io.ReadCloser, error)) (written bool, err error)
	// putManifest writes the manifest by digest unless present. referrer
	// says it has a subject (a layout lists it in index.json then).
	putManifest(ctx context.Context, d Descriptor, raw []byte, referrer bool) (written bool, err error)
	// tag points tag at d (cosign attachment tags, written as they come).
	tag(ctx context.Context, d Descriptor, tag string) error
	// commit finishes the copy: tags the artifact (tag may be "").
	commit(ctx context.Context, d Descriptor, tag string) error
}

type registryTarget struct {
	c    *Client
	repo Reference
}

// putBlob streams the blob from open, whose readers are the source Client's
// (Blob checks size and digest as it streams): it is not hashed again.
func (t *registryTarget) putBlob(ctx context.Context, d Descriptor, open func() (io.ReadCloser, error)) (bool, error) {
	ok, err := t.c.blobExists(ctx, t.repo, d)
	if err != nil || ok {
		return false, err
	}
	err = t.c.pushBlob(ctx, t.repo, d, open, true)
	return true, opError("push blob", t.repo.displayRepo()+"@"+truncate(string(d.Digest)), err)
}

func (t *registryTarget) putManifest(ctx context.Context, d Descriptor, raw []byte, referrer bool) (bool, error) {
	// A referrer is always written: on a registry without the referrers API
	// the write also updates the referrers tag schema index, which a copy
	// killed between the two steps would otherwise leave without it.
	if referrer {
		_, err := t.c.PushManifest(ctx, t.repo.WithDigest(d.Digest), d.MediaType, raw)
		return err == nil, err
	}
	if got, err := t.c.Resolve(ctx, t.repo.WithDigest(d.Digest)); err == nil && got.Digest == d.Digest {
		return false, nil
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return false, err
	}
	_, err := t.c.PushManifest(ctx, t.repo.WithDigest(d.Digest), d.MediaType, raw)
	return err == nil, err
}

func (t *registryTarget) tag(ctx context.Context, d Descriptor, tag string) error {
	if got, err := t.c.Resolve(ctx, t.repo.WithTag(tag)); err == nil && got.Digest == d.Digest {
		return nil
	}
	// The manifest is in the repository by now: Tag reads it back from there,
	// so the copy keeps no manifest bytes for the tags it writes at the end.
	return t.c.Tag(ctx, t.repo.WithDigest(d.Digest), tag)
}

func (t *registryTarget) commit(ctx context.Context, d Descriptor, tag string) error {
	if tag == "" {
		return nil
	}
	return t.tag(ctx, d, tag)
}

// blobExists asks the registry whether repo holds the blob d names.
func (c *Client) blobExists(ctx context.Context, repo Reference, d Descriptor) (bool, error) {
	if err := d.Validate(); err != nil {
		return false, err
	}
	ctx = withOp(ctx, opPush)
	rt, r, err := c.transport(ctx, repo, true)
	if err != nil {
		return false, err
	}
	resp, err := c.do(ctx, rt, http.MethodHead, c.url(r, "blobs", string(d.Digest)), nil, http.StatusOK)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	// A blob of another size under that digest is not the one we mean;
	// pushing it again lets the registry sort it out.
	if resp.ContentLength >= 0 && resp.ContentLength != d.Size {
		return false, nil
	}
	return true, nil
}
