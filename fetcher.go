package ocisource

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/tarball"
	"github.com/ocisource/ocisource/verify"
)

// Fetcher fetches artifacts: resolve, verify, download, unpack. It is safe
// for concurrent use; fetches into the same directory are serialised, also
// across processes (see [Fetcher.Fetch]).
type Fetcher struct {
	client           *oci.Client
	progress         func(Progress)
	extractOpts      []tarball.Option
	extractSettings  string
	sync             bool // the extract options fsync: so is the record
	logger           *slog.Logger
	maxLayerSize     int64
	replaceUnmanaged bool

	locks dirLocks
}

// NewFetcher returns a Fetcher configured by opts. Every option is checked
// here: an invalid or contradictory one is an error wrapping
// [ErrInvalidOption].
func NewFetcher(opts ...Option) (*Fetcher, error) {
	o := fetcherOptions{maxLayerSize: DefaultMaxLayerSize}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	extract, err := checkExtractOptions(o.extractOpts)
	if err != nil {
		return nil, err
	}
	if o.client == nil {
		c, err := oci.NewClient()
		if err != nil {
			return nil, fmt.Errorf("%w: the default registry client: %w", ErrInvalidOption, err)
		}
		o.client = c
	}
	return &Fetcher{client: o.client, progress: o.progress, extractOpts: o.extractOpts, extractSettings: extract.String(), sync: extract.Sync,
		logger: o.logger, maxLayerSize: o.maxLayerSize, replaceUnmanaged: o.replaceUnmanaged}, nil
}

// Phase is a step of a fetch, reported through [WithProgress].
type Phase string

// The phases of a fetch, in order. A cache hit goes from PhaseResolve to PhaseDone.
const (
	PhaseResolve  Phase = "resolve"
	PhaseVerify   Phase = "verify"
	PhaseDownload Phase = "download"
	PhaseDone     Phase = "done"
)

// Progress is one progress event.
type Progress struct {
	Phase Phase
	// Revision is the resolved revision, once known.
	Revision string
	// Bytes of the layer downloaded so far, and its Total size (PhaseDownload).
	Bytes, Total int64
}

// Artifact describes what [Fetcher.Fetch] put in the target directory.
type Artifact struct {
	// URL is the source URL ("oci://host/repository").
	URL string `json:"url"`
	// Revision is "<tag>@sha256:<hex>", or "sha256:<hex>" for a digest reference.
	Revision string `json:"revision"`
	// Digest is the digest the reference resolved to: the manifest pulled,
	// or the image index that names it (see Ref.Platform). It is the one
	// in Revision, and the one verified first.
	Digest oci.Digest `json:"digest"`
	// ManifestDigest is the manifest whose layer was pulled: Digest itself,
	// unless Digest names an index.
	ManifestDigest oci.Digest `json:"manifestDigest,omitempty"`
	// Platform is the platform the index declares for ManifestDigest
	// ("linux/arm64/v8"), or "" when Digest is not an index or its entry
	// declares none.
	Platform string `json:"platform,omitempty"`
	// Tag is the tag that was resolved, or "" for a digest reference.
	Tag string `json:"tag,omitempty"`
	// Layer describes the layer that was extracted or copied.
	Layer oci.Descriptor `json:"layer"`
	// Size is the size of the layer in bytes.
	Size int64 `json:"size"`
	// Metadata holds the manifest annotations (org.opencontainers.image.source,
	// .revision, .created and any others); for an index, its annotations
	// too, the manifest's winning.
	Metadata map[string]string `json:"metadata,omitempty"`
	// Verification is the verifier's result, or nil when the Source had no verifier.
	Verification *verify.Result `json:"verification,omitempty"`
	// FromCache is true when the directory already held this revision with
	// the same settings, and nothing was downloaded.
	FromCache bool `json:"-"`
	// Stats counts what was written (for a cache hit: what was written then).
	Stats tarball.Stats `json:"stats"`
	// Dir is the directory holding the content.
	Dir string `json:"-"`
}

// Source returns the org.opencontainers.image.source annotation.
func (a *Artifact) Source() string { return a.Metadata[oci.AnnotationSource] }

// SourceRevision returns the org.opencontainers.image.revision annotation.
func (a *Artifact) SourceRevision() string { return a.Metadata[oci.AnnotationRevision] }

// Created returns the org.opencontainers.image.created annotation, or the
// zero time when absent or malformed.
func (a *Artifact) Created() time.Time {
	t, _ := time.Parse(time.RFC3339, a.Metadata[oci.AnnotationCreated])
	return t
}

// Fetch fetches the artifact src names into dir, and returns what it put
// there:
//
//  1. It checks src and dir before any request (see below).
//  2. It resolves src.Ref to a digest once (a semver range through the tag
//     list); everything after uses that digest, so a tag moved meanwhile
//     cannot swap the content.
//  3. If dir already holds that revision, fetched with the same settings
//     (Source, verifier policy, extract options, layer size limit), it
//     returns at once with FromCache set: by digest, with no request at
//     all; by tag, after one HEAD request.
//  4. It fetches the manifest by digest (unless resolving brought it); an
//     image index leads, by digest, to the manifest for src.Ref.Platform.
//  5. If src.Verifier is set, it must accept the digest. Nothing is written
//     before it does. For an index, the verifier is asked about the index
//     digest (what `cosign sign` of a multi-platform image signs) and, only
//     if that carries no signature ([verify.ErrNoSignatures]), about the
//     platform's manifest (what signing one platform's image signs);
//     Artifact.Verification.Ref names the digest verified. A verifier
//     without a registry client of its own reads signatures through the
//     Fetcher's ([verify.BindClient]).
//  6. It selects the layer, and streams it (hashed as it arrives) into
//     [tarball.Extract] or, for [LayerCopy], into a single file.
//
// # What Fetch guarantees about dir
//
//   - It never removes a file it did not write. A directory that exists, is
//     not empty and has no fetch record is refused with [ErrUnmanagedDir]
//     (an [*UnmanagedDirError] naming it), unless [WithReplaceUnmanaged]; the
//     empty path, the working directory and its parents, a file and a
//     symbolic link are refused with [ErrInvalidTarget], always, before any
//     request.
//   - The swap is atomic: a reader of dir sees the complete old content or
//     the complete new content ([tarball.Extract] says how, for an ordinary
//     directory and for a mount point such as a volume).
//   - After a crash at any point, dir holds the complete old or the complete
//     new content, and the fetch record either describes what is there or
//     names another tree, so the next fetch downloads again; that fetch also
//     removes the temporary trees the crash left ([tarball.Recover]).
//   - Fetches into one directory are serialised, in the process and across
//     processes (a lock file, held from before the first check of dir until
//     the record is written), so content and record always agree.
//   - Nothing beside dir is created or opened by following a symbolic link,
//     and a FIFO planted there is never waited on.
//   - On any failure dir is left exactly as it was; when Fetch returns, no
//     goroutine it started reads the network or calls back.
//
// The record and the lock file are kept beside an ordinary dir
// (".<base>.ocisource.json", ".<base>.ocisource.lock"), and inside a dir
// that is a mount point ("..ocisource.json", "..ocisource.lock"), so that it
// travels with the volume. Errors are [*FetchError] values matching one of
// [ErrInvalidSource], [ErrFetchFailed], [ErrVerification], [ErrStorageFailed].
func (f *Fetcher) Fetch(ctx context.Context, src Source, dir string) (*Artifact, error) {
	p, err := src.parse()
	if err != nil {
		return nil, &FetchError{Phase: ErrInvalidSource, URL: src.URL, Err: err}
	}
	t, err := newTarget(dir)
	if err != nil {
		return nil, &FetchError{Phase: ErrInvalidSource, URL: src.URL, Err: err}
	}
	// Checked once before anything is written (not even the lock file, in a
	// directory that is not ours), and again under the lock.
	if _, err := t.checkOwned(f.replaceUnmanaged); errors.Is(err, ErrInvalidTarget) {
		return nil, &FetchError{Phase: ErrInvalidSource, URL: src.URL, Err: err}
	}
	if t.layout == tarball.LayoutSwap {
		if err := os.MkdirAll(filepath.Dir(t.dir), 0o755); err != nil {
			return nil, &FetchError{Phase: ErrStorageFailed, URL: src.URL, Err: err}
		}
	}
	unlock, err := f.locks.lock(ctx, t)
	if err != nil {
		phase := ErrStorageFailed
		if ctx.Err() != nil {
			phase = ErrFetchFailed
		}
		return nil, &FetchError{Phase: phase, URL: src.URL, Err: err}
	}
	defer unlock()
	rec, err := t.checkOwned(f.replaceUnmanaged)
	if err != nil {
		phase := ErrStorageFailed
		if errors.Is(err, ErrInvalidTarget) {
			phase = ErrInvalidSource
		}
		return nil, &FetchError{Phase: phase, URL: src.URL, Err: err}
	}
	if err := tarball.Recover(t.dir); err != nil {
		return nil, &FetchError{Phase: ErrStorageFailed, URL: src.URL, Err: fmt.Errorf("removing what an interrupted fetch left: %w", err)}
	}
	t.removeStaleRecordTemp()
	return f.fetch(ctx, src, p, t, rec)
}

func (f *Fetcher) emit(ctx context.Context, p Progress) {
	if f.progress != nil {
		f.progress(p)
	}
	if h, ok := ctx.Value(progressHookKey{}).(func(Progress)); ok {
		h(p)
	}
}

// progressHookKey carries a second progress callback in a Fetch's context,
// for the Reconciler's phase timings: a per-call hook in the context, the
// way net/http/httptrace carries its per-request trace. Unexported, so only
// this package sets it.
type progressHookKey struct{}

func (f *Fetcher) fetch(ctx context.Context, src Source, p parsed, t *target, rec *record) (*Artifact, error) {
	fail := func(phase error, revision string, err error) (*Artifact, error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			// Running out of time is not a verdict on the signatures or the disk.
			phase = ErrFetchFailed
		}
		return nil, &FetchError{Phase: phase, URL: src.URL, Revision: revision, Err: err}
	}
	settings := f.settingsOf(src, p)
	var verifier verify.Verifier
	if src.Verifier != nil {
		verifier = verify.BindClient(src.Verifier, f.client)
	}

	// Resolve once.
	f.emit(ctx, Progress{Phase: PhaseResolve})
	// With no record of these settings a cache hit is impossible: resolve
	// with a GET of the manifest by tag, which also gives the manifest (one
	// request less); else a HEAD, which is all an unchanged artifact costs.
	likelyHit := rec != nil && rec.Settings == settings
	ref, m, err := f.resolve(ctx, src, p, !likelyHit)
	if err != nil {
		return fail(ErrFetchFailed, "", err)
	}
	revision := string(ref.Digest)
	if ref.Tag != "" {
		revision = ref.Tag + "@" + revision
	}

	// Unchanged?
	if a, ok := f.cached(t, rec, revision, settings, verifier != nil); ok {
		if verifier != nil && verify.FingerprintOf(verifier) == "" {
			// The verifier cannot say whether it is the policy that verified
			// the cached content: ask it again (still nothing downloaded).
			res, err := f.verify(ctx, verifier, ref, a.ManifestDigest, revision)
			if err != nil {
				return fail(verifyPhase(err), revision, err)
			}
			a.Verification = res
		}
		f.log(ctx, "artifact unchanged, nothing downloaded", "url", src.URL, "revision", revision)
		f.emit(ctx, Progress{Phase: PhaseDone, Revision: revision})
		return a, nil
	}

	// The manifest by digest; for an index, the platform's.
	if m == nil {
		if m, err = f.client.Manifest(ctx, ref); err != nil {
			return fail(ErrFetchFailed, revision, err)
		}
	}
	image, err := f.client.PlatformManifest(ctx, ref, m, p.platform)
	if err != nil {
		var pe *oci.PlatformError
		if errors.As(err, &pe) {
			return fail(ErrInvalidSource, revision, fmt.Errorf("%w: set Source.Ref.Platform to one it offers", err))
		}
		return fail(ErrFetchFailed, revision, err)
	}

	// Verify before writing anything.
	var result *verify.Result
	if verifier != nil {
		if result, err = f.verify(ctx, verifier, ref, image.Descriptor.Digest, revision); err != nil {
			return fail(verifyPhase(err), revision, err)
		}
	}

	layer, err := selectLayer(image, src.Layer.MediaType)
	if err != nil {
		return fail(ErrFetchFailed, revision, err)
	}
	if layer.Size > f.maxLayerSize {
		return fail(ErrFetchFailed, revision, fmt.Errorf("%w: layer %s declares %d bytes, the limit is %d (WithMaxLayerSize)",
			oci.ErrTooLarge, layer.Digest, layer.Size, f.maxLayerSize))
	}
	a := &Artifact{
		URL:            p.repo.URL(),
		Revision:       revision,
		Digest:         ref.Digest,
		ManifestDigest: image.Descriptor.Digest,
		Tag:            ref.Tag,
		Layer:          layer,
		Size:           layer.Size,
		Metadata:       metadataOf(m, image),
		Verification:   result,
		Dir:            t.dir,
	}
	if image.Descriptor.Platform != nil {
		a.Platform = image.Descriptor.Platform.String()
	}
	stats, ferr := f.pull(ctx, ref, layer, p, src, t, a, settings)
	if ferr != nil {
		ferr.URL, ferr.Revision = src.URL, revision
		return nil, ferr
	}
	a.Stats = *stats
	f.log(ctx, "artifact fetched", "url", src.URL, "revision", revision, "bytes", stats.Bytes, "files", stats.Files)
	f.emit(ctx, Progress{Phase: PhaseDone, Revision: revision, Bytes: layer.Size, Total: layer.Size})
	return a, nil
}

// resolve turns src's reference into a digest-pinned one. With getManifest
// a tag is resolved by fetching its manifest, which is returned too (its
// digest is computed from the bytes received, so what is verified and
// pulled is exactly that manifest).
func (f *Fetcher) resolve(ctx context.Context, src Source, p parsed, getManifest bool) (oci.Reference, *oci.Manifest, error) {
	ref := p.repo
	if ref.Digest != "" {
		return ref, nil, nil
	}
	tag := src.Ref.Tag
	if p.semver != nil {
		tags, err := f.client.Tags(ctx, ref)
		if err != nil {
			return ref, nil, err
		}
		if tag, err = p.semver.Select(tags); err != nil {
			return ref, nil, err
		}
	}
	if tag == "" {
		tag = "latest"
	}
	ref = ref.WithTag(tag)
	if getManifest {
		m, err := f.client.Manifest(ctx, ref)
		if err != nil {
			return ref, nil, err
		}
		return ref.WithDigest(m.Descriptor.Digest), m, nil
	}
	desc, err := f.client.Resolve(ctx, ref)
	if err != nil {
		return ref, nil, err
	}
	return ref.WithDigest(desc.Digest), nil, nil
}

// verifyPhase files an error of the verify step: signatures that could not
// be read (the registry failed) are a fetch failure, to retry; the rest is
// a verdict.
func verifyPhase(err error) error {
	if errors.Is(err, verify.ErrUnavailable) {
		return ErrFetchFailed
	}
	return ErrVerification
}

// pull downloads the layer into t and records it. Its errors carry the
// phase; the caller sets URL and revision.
func (f *Fetcher) pull(ctx context.Context, ref oci.Reference, layer oci.Descriptor, p parsed, src Source, t *target, a *Artifact, settings string) (*tarball.Stats, *FetchError) {
	f.emit(ctx, Progress{Phase: PhaseDownload, Revision: a.Revision, Total: layer.Size})
	rc, err := f.client.Blob(ctx, ref, layer)
	if err != nil {
		return nil, &FetchError{Phase: ErrFetchFailed, Err: err}
	}
	defer rc.Close()
	body := &progressReader{r: rc, total: layer.Size, emit: func(p Progress) { f.emit(ctx, p) }, revision: a.Revision}

	// The last progress report before the commit holds the final counts.
	var last tarball.Stats
	opts := append([]tarball.Option{}, f.extractOpts...)
	opts = append(opts, tarball.WithProgress(func(s tarball.Stats) { last = s }), tarball.WithBeforeCommit(func(tree string) error {
		// The record names the new tree and is in place before the swap:
		// whatever a crash interrupts, it describes the tree that is there
		// or one that is not (and then is not trusted).
		id, err := treeID(tree)
		if err != nil {
			return err
		}
		r := &record{Artifact: *a, Settings: settings, Tree: id}
		r.Stats = last
		return t.writeRecord(r, f.sync)
	}))
	var stats *tarball.Stats
	if p.op == LayerCopy {
		stats, err = tarball.Extract(ctx, copyStream(body, copyName(layer, a.Metadata), layer.Size), t.dir,
			append(opts, tarball.WithCompression(tarball.CompressionNone))...)
	} else {
		if len(src.Ignore) > 0 {
			opts = append(opts, tarball.WithExclude(src.Ignore...))
		}
		stats, err = tarball.Extract(ctx, body, t.dir, opts...)
	}
	if err != nil {
		err = blameContent(err, body, layer.Size)
		// A blob that failed its digest or size check, or a registry that
		// failed mid-stream, is a fetch failure; the rest is storage's.
		// Extract has returned, so nothing reads body any more.
		phase := ErrStorageFailed
		if errors.Is(err, oci.ErrDigestMismatch) || errors.Is(err, oci.ErrSizeMismatch) || body.readErr != nil ||
			errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			phase = ErrFetchFailed
		}
		return nil, &FetchError{Phase: phase, Err: err}
	}
	return stats, nil
}

// maxBlameDrain bounds what blameContent reads to find out whether a layer
// that failed to extract was the one its digest names.
const maxBlameDrain = 256 << 20

// blameContent tells a corrupted layer from a bad archive. The extractor
// reads the layer as it streams, so bytes changed in transit or in a layout
// usually break the tar or gzip framing before the digest check at the end
// is reached. When extraction failed on the content (invalid archive,
// unsafe path, unsupported entry, limit) with less than maxBlameDrain left,
// the rest is read and discarded: if the layer then fails its digest or
// size check, that is the error, with the extractor's as its detail.
func blameContent(err error, body *progressReader, size int64) error {
	if errors.Is(err, oci.ErrDigestMismatch) || errors.Is(err, oci.ErrSizeMismatch) || body.readErr != nil {
		return err
	}
	if !errors.Is(err, tarball.ErrInvalidArchive) && !errors.Is(err, tarball.ErrInsecurePath) &&
		!errors.Is(err, tarball.ErrUnsupportedEntry) && !errors.Is(err, tarball.ErrLimitExceeded) {
		return err
	}
	if size-body.n > maxBlameDrain {
		return err
	}
	if _, derr := io.Copy(io.Discard, io.LimitReader(body, maxBlameDrain+1)); derr != nil &&
		(errors.Is(derr, oci.ErrDigestMismatch) || errors.Is(derr, oci.ErrSizeMismatch)) {
		return fmt.Errorf("%w (the layer is not the one its digest names; extracting it failed with: %v)", derr, err)
	}
	return err
}

// metadataOf returns the annotations of image, and of the index it was
// chosen from (when it was), image's winning.
func metadataOf(index, image *oci.Manifest) map[string]string {
	if index == image || len(index.Annotations) == 0 {
		return image.Annotations
	}
	out := make(map[string]string, len(index.Annotations)+len(image.Annotations))
	for k, v := range index.Annotations {
		out[k] = v
	}
	for k, v := range image.Annotations {
		out[k] = v
	}
	return out
}

// verify asks v about ref, the digest resolved. When that names an index
// without any signature, v is asked about manifest, the digest of the
// platform's manifest chosen from it: a signature on the image that is
// pulled proves it as well. The result's Ref names the digest verified.
func (f *Fetcher) verify(ctx context.Context, v verify.Verifier, ref oci.Reference, manifest oci.Digest, revision string) (*verify.Result, error) {
	f.emit(ctx, Progress{Phase: PhaseVerify, Revision: revision})
	res, err := f.verifyDigest(ctx, v, ref)
	if err == nil || manifest == "" || manifest == ref.Digest || !errors.Is(err, verify.ErrNoSignatures) {
		return res, err
	}
	res, err2 := f.verifyDigest(ctx, v, ref.WithDigest(manifest))
	if err2 != nil {
		return nil, fmt.Errorf("%w; and for its platform manifest %s: %w", err, manifest, err2)
	}
	return res, nil
}

func (f *Fetcher) verifyDigest(ctx context.Context, v verify.Verifier, ref oci.Reference) (*verify.Result, error) {
	res, err := v.Verify(ctx, ref)
	if err != nil {
		return nil, err
	}
	if res == nil || len(res.Signatures) == 0 {
		return nil, fmt.Errorf("%w: the verifier accepted %s without naming a verified signature", verify.ErrVerificationFailed, ref)
	}
	f.log(ctx, "artifact verified", "ref", ref.String(), "signatures", len(res.Signatures))
	return res, nil
}

func (f *Fetcher) log(ctx context.Context, msg string, args ...any) {
	if f.logger != nil {
		f.logger.InfoContext(ctx, msg, args...)
	}
}

func selectLayer(m *oci.Manifest, mediaType string) (oci.Descriptor, error) {
	if len(m.Layers) == 0 {
		return oci.Descriptor{}, fmt.Errorf("%w: manifest %s has no layers (media type %q)", ErrLayerNotFound, m.Descriptor.Digest, m.MediaType)
	}
	if mediaType == "" {
		return m.Layers[0], nil
	}
	var types []string
	for _, l := range m.Layers {
		if l.MediaType == mediaType {
			return l, nil
		}
		types = append(types, l.MediaType)
	}
	return oci.Descriptor{}, fmt.Errorf("%w: manifest %s has no layer of media type %q (it has %s); set Source.Layer.MediaType to one of them",
		ErrLayerNotFound, m.Descriptor.Digest, mediaType, strings.Join(types, ", "))
}

// settingsOf fingerprints everything that decides what lands in dir, or
// what is accepted, besides the revision: the Source's platform, layer
// selection and ignore patterns, the verifier's policy, the extract options and the layer
// size limit.
func (f *Fetcher) settingsOf(src Source, p parsed) string {
	verifier := ""
	if src.Verifier != nil {
		// A verifier's fingerprint covers its whole policy (keys, roots,
		// identities), so a cache hit never stands in for a verification
		// by another policy. One without is re-asked on every cache hit.
		verifier = verify.FingerprintOf(src.Verifier)
		if verifier == "" {
			verifier = "unfingerprinted:" + reflect.TypeOf(src.Verifier).String()
		}
	}
	platform := ""
	if p.platform != nil {
		platform = p.platform.String()
	}
	// Platform is left out when empty, so records made before it existed
	// (which never came from an index) stay cache hits.
	b, _ := json.Marshal(struct {
		URL, MediaType, Operation, Verifier string
		Ignore                              []string
		Extract                             string
		MaxLayerSize                        int64
		Platform                            string `json:",omitempty"`
	}{p.repo.URL(), src.Layer.MediaType, string(p.op), verifier, src.Ignore, f.extractSettings, f.maxLayerSize, platform})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// cached returns the recorded artifact if rec describes revision, fetched
// with settings, and the tree that is in t.dir now.
func (f *Fetcher) cached(t *target, rec *record, revision, settings string, wantVerified bool) (*Artifact, bool) {
	if rec == nil || rec.Revision != revision || rec.Settings != settings {
		return nil, false
	}
	if wantVerified && rec.Verification == nil {
		return nil, false
	}
	content, err := tarball.ContentDir(t.dir)
	if err != nil {
		return nil, false
	}
	if fi, err := os.Lstat(content); err != nil || !fi.IsDir() {
		return nil, false
	}
	if id, err := treeID(content); err != nil || id != rec.Tree {
		return nil, false
	}
	a := rec.Artifact
	if a.ManifestDigest == "" {
		// A record from before indexes were followed: Digest was pulled.
		a.ManifestDigest = a.Digest
	}
	a.FromCache = true
	a.Dir = t.dir
	return &a, true
}

// copyName is the file name for LayerCopy: the layer's title annotation if
// it is a plain file name; for a Helm chart (whose layer has none) the
// "<name>-<version>.tgz" helm itself would write, from the manifest's title
// and version annotations; else "layer".
func copyName(l oci.Descriptor, manifest map[string]string) string {
	if t := l.Annotations[oci.AnnotationTitle]; safeFileName(t) {
		return t
	}
	if l.MediaType == oci.MediaTypeHelmChart {
		if t := manifest[oci.AnnotationTitle] + "-" + manifest[oci.AnnotationVersion] + ".tgz"; manifest[oci.AnnotationTitle] != "" && manifest[oci.AnnotationVersion] != "" && safeFileName(t) {
			return t
		}
	}
	return "layer"
}

func safeFileName(t string) bool {
	return t != "" && t == path.Base(t) && t != "." && t != ".." && !strings.HasPrefix(t, "..") && !strings.ContainsAny(t, `/\:`) && len(t) <= 255 && t != "lost+found"
}

// copyStream presents r, size bytes, as a one-entry tar archive holding the
// file name, so a copied layer gets the same atomic replacement and limits
// as an extraction. It is a plain io.MultiReader: no goroutine, so nothing
// reads r once Extract has returned.
func copyStream(r io.Reader, name string, size int64) io.Reader {
	var hdr bytes.Buffer
	tw := tar.NewWriter(&hdr)
	// Writing a header to a buffer cannot fail for a valid name and size.
	_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: time.Now()})
	pad := (512 - size%512) % 512
	trailer := make([]byte, pad+1024) // padding, then the end-of-archive marker
	return io.MultiReader(&hdr, &exactReader{r: r, left: size}, bytes.NewReader(trailer))
}

// exactReader reads exactly left bytes of r and then makes sure r is at its
// end (which is also when a verifying reader checks the digest): a layer
// shorter or longer than its descriptor fails rather than pass as a copy.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left == 0 {
		var one [1]byte
		for {
			n, err := e.r.Read(one[:])
			switch {
			case n > 0:
				return 0, fmt.Errorf("%w: the layer is longer than its descriptor says", oci.ErrSizeMismatch)
			case err == io.EOF:
				return 0, io.EOF
			case err != nil:
				return 0, err
			}
		}
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		return n, fmt.Errorf("%w: the layer is shorter than its descriptor says", oci.ErrSizeMismatch)
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}

// progressReader reports download progress and remembers read errors, so a
// failure can be attributed to the network rather than to storage.
type progressReader struct {
	r        io.Reader
	n, total int64
	last     int64
	emit     func(Progress)
	revision string
	readErr  error
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.n-p.last >= 1<<20 {
		p.last = p.n
		p.emit(Progress{Phase: PhaseDownload, Revision: p.revision, Bytes: p.n, Total: p.total})
	}
	if err != nil && err != io.EOF {
		p.readErr = err
	}
	return n, err
}
