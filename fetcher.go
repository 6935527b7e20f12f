package ocisource

import (
	"archive/tar"
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
	"sync"
	"time"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/semverref"
	"github.com/ocisource/ocisource/tarball"
	"github.com/ocisource/ocisource/verify"
)

// Fetcher fetches artifacts: resolve, verify, download, unpack. It is safe
// for concurrent use; fetches into the same directory are serialised.
type Fetcher struct {
	client       *oci.Client
	progress     func(Progress)
	extractOpts  []tarball.Option
	logger       *slog.Logger
	maxLayerSize int64

	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// Option configures a [Fetcher].
type Option func(*fetcherOptions) error

type fetcherOptions struct {
	client       *oci.Client
	progress     func(Progress)
	extractOpts  []tarball.Option
	logger       *slog.Logger
	maxLayerSize int64
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
			return fmt.Errorf("%w: WithMaxLayerSize(%d): want > 0", ErrInvalidSource, n)
		}
		o.maxLayerSize = n
		return nil
	}
}

// WithClient sets the registry client (auth, TLS, proxy, limits). The
// default is oci.NewClient() with no options: credentials from the docker
// config, HTTPS only.
func WithClient(c *oci.Client) Option {
	return func(o *fetcherOptions) error {
		if c == nil {
			return fmt.Errorf("%w: WithClient(nil)", ErrInvalidSource)
		}
		o.client = c
		return nil
	}
}

// WithProgress calls fn as the fetch moves through its phases and, while
// downloading, every 1 MiB or so. fn is called from the fetching goroutine
// and should return quickly. The default reports nothing.
func WithProgress(fn func(Progress)) Option {
	return func(o *fetcherOptions) error {
		o.progress = fn
		return nil
	}
}

// WithExtractOptions passes options (limits, symlink policy, fsync) to
// [tarball.Extract] for every fetch. The default is tarball's defaults. The
// Fetcher sets [tarball.WithBeforeCommit] itself (to retire the old fetch
// record before the swap), which replaces one given here, and
// [tarball.WithExclude] from [Source].Ignore.
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
		o.logger = l
		return nil
	}
}

// NewFetcher returns a Fetcher configured by opts.
func NewFetcher(opts ...Option) (*Fetcher, error) {
	o := fetcherOptions{maxLayerSize: DefaultMaxLayerSize}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.client == nil {
		c, err := oci.NewClient()
		if err != nil {
			return nil, err
		}
		o.client = c
	}
	return &Fetcher{client: o.client, progress: o.progress, extractOpts: o.extractOpts, logger: o.logger,
		maxLayerSize: o.maxLayerSize, locks: map[string]*sync.Mutex{}}, nil
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
	// Digest is the manifest digest that was verified and pulled.
	Digest oci.Digest `json:"digest"`
	// Tag is the tag that was resolved, or "" for a digest reference.
	Tag string `json:"tag,omitempty"`
	// Layer describes the layer that was extracted or copied.
	Layer oci.Descriptor `json:"layer"`
	// Size is the size of the layer in bytes.
	Size int64 `json:"size"`
	// Metadata holds the manifest annotations (org.opencontainers.image.source,
	// .revision, .created and any others).
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

// record is what is kept beside the target directory to recognise an
// unchanged artifact.
type record struct {
	Artifact
	Settings string `json:"settings"`
}

// Fetch fetches the artifact src names into dir, which it creates or
// replaces as a whole:
//
//  1. It resolves src.Ref to a digest once (a semver range through the tag
//     list); everything after uses that digest, so a tag moved meanwhile
//     cannot swap the content.
//  2. If dir already holds that revision, fetched with the same settings,
//     it returns at once with FromCache set: by digest, with no request at
//     all; by tag, after one HEAD request.
//  3. If src.Verifier is set, it must accept the digest. Nothing is written
//     before it does.
//  4. It fetches the manifest by digest, selects the layer, and streams it
//     (hashed as it arrives) into [tarball.Extract] or, for [LayerCopy], into
//     a single file. The new tree replaces dir only after the whole blob has
//     been received and its digest checked; on any failure dir is left
//     exactly as it was.
//
// The revision and settings are recorded in a file beside dir
// (".<base>.ocisource.json"). Errors are [*FetchError] values matching one of
// [ErrInvalidSource], [ErrFetchFailed], [ErrVerification], [ErrStorageFailed].
func (f *Fetcher) Fetch(ctx context.Context, src Source, dir string) (*Artifact, error) {
	abs, err := filepath.Abs(dir)
	if err != nil || filepath.Base(abs) == string(filepath.Separator) {
		return nil, &FetchError{Phase: ErrInvalidSource, URL: src.URL, Err: fmt.Errorf("target directory %q: %v", dir, err)}
	}
	lock := f.lockFor(abs)
	lock.Lock()
	defer lock.Unlock()
	return f.fetch(ctx, src, abs)
}

func (f *Fetcher) lockFor(dir string) *sync.Mutex {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.locks[dir]
	if !ok {
		l = &sync.Mutex{}
		f.locks[dir] = l
	}
	return l
}

func (f *Fetcher) emit(p Progress) {
	if f.progress != nil {
		f.progress(p)
	}
}

func (f *Fetcher) fetch(ctx context.Context, src Source, dir string) (*Artifact, error) {
	p, err := src.parse()
	if err != nil {
		return nil, &FetchError{Phase: ErrInvalidSource, URL: src.URL, Err: err}
	}
	fail := func(phase error, revision string, err error) (*Artifact, error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			// Running out of time is not a verdict on the signatures or the disk.
			phase = ErrFetchFailed
		}
		return nil, &FetchError{Phase: phase, URL: src.URL, Revision: revision, Err: err}
	}
	settings := settingsOf(src, p)

	// 1. Resolve once.
	f.emit(Progress{Phase: PhaseResolve})
	ref := p.repo
	if ref.Digest == "" {
		tag := src.Ref.Tag
		if src.Ref.SemVer != "" {
			var opts []semverref.Option
			if src.Ref.SemVerFilter != "" {
				opts = append(opts, semverref.WithFilter(src.Ref.SemVerFilter))
			}
			sel, err := semverref.Compile(src.Ref.SemVer, opts...)
			if err != nil {
				return fail(ErrInvalidSource, "", err)
			}
			tags, err := f.client.Tags(ctx, ref)
			if err != nil {
				return fail(ErrFetchFailed, "", err)
			}
			if tag, err = sel.Select(tags); err != nil {
				return fail(ErrFetchFailed, "", err)
			}
		}
		if tag == "" {
			tag = "latest"
		}
		ref = ref.WithTag(tag)
		desc, err := f.client.Resolve(ctx, ref)
		if err != nil {
			return fail(ErrFetchFailed, "", err)
		}
		ref = ref.WithDigest(desc.Digest)
	}
	revision := string(ref.Digest)
	if ref.Tag != "" {
		revision = ref.Tag + "@" + revision
	}

	// 2. Unchanged?
	if a, ok := f.cached(dir, revision, settings, src.Verifier != nil); ok {
		if src.Verifier != nil && verify.FingerprintOf(src.Verifier) == "" {
			// The verifier cannot say whether it is the policy that verified
			// the cached content: ask it again (still nothing downloaded).
			res, err := f.verify(ctx, src.Verifier, ref, revision)
			if err != nil {
				return fail(ErrVerification, revision, err)
			}
			a.Verification = res
		}
		f.log(ctx, "artifact unchanged, nothing downloaded", "url", src.URL, "revision", revision)
		f.emit(Progress{Phase: PhaseDone, Revision: revision})
		return a, nil
	}

	// 3. Verify before writing anything.
	var result *verify.Result
	if src.Verifier != nil {
		if result, err = f.verify(ctx, src.Verifier, ref, revision); err != nil {
			return fail(ErrVerification, revision, err)
		}
	}

	// 4. Pull by digest.
	m, err := f.client.Manifest(ctx, ref)
	if err != nil {
		return fail(ErrFetchFailed, revision, err)
	}
	layer, err := selectLayer(m, src.Layer.MediaType)
	if err != nil {
		return fail(ErrFetchFailed, revision, err)
	}
	if layer.Size > f.maxLayerSize {
		return fail(ErrFetchFailed, revision, fmt.Errorf("%w: layer %s declares %d bytes, the limit is %d (WithMaxLayerSize)",
			oci.ErrTooLarge, layer.Digest, layer.Size, f.maxLayerSize))
	}
	f.emit(Progress{Phase: PhaseDownload, Revision: revision, Total: layer.Size})
	rc, err := f.client.Blob(ctx, ref, layer)
	if err != nil {
		return fail(ErrFetchFailed, revision, err)
	}
	defer rc.Close()
	body := &progressReader{r: rc, total: layer.Size, emit: f.emit, revision: revision}

	a := &Artifact{
		URL:          p.repo.URL(),
		Revision:     revision,
		Digest:       ref.Digest,
		Tag:          ref.Tag,
		Layer:        layer,
		Size:         layer.Size,
		Metadata:     m.Annotations,
		Verification: result,
		Dir:          dir,
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fail(ErrStorageFailed, revision, err)
	}
	recPath := recordPath(dir)
	opts := append([]tarball.Option{}, f.extractOpts...)
	opts = append(opts, tarball.WithBeforeCommit(func(string) error {
		// The old record goes before the swap, so a crash in between
		// leaves no record claiming the new content is the old revision.
		if err := os.Remove(recPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}))
	var stats *tarball.Stats
	if p.op == LayerCopy {
		stats, err = extractCopy(ctx, body, dir, copyName(layer), layer.Size, opts)
	} else {
		if len(src.Ignore) > 0 {
			opts = append(opts, tarball.WithExclude(src.Ignore...))
		}
		stats, err = tarball.Extract(ctx, body, dir, opts...)
	}
	if err != nil {
		// A blob that failed its digest or size check, or a registry that
		// failed mid-stream, is a fetch failure; the rest is storage's.
		if errors.Is(err, tarball.ErrInvalidOption) {
			// WithExtractOptions given something tarball refuses.
			return fail(ErrInvalidSource, revision, err)
		}
		if errors.Is(err, oci.ErrDigestMismatch) || errors.Is(err, oci.ErrSizeMismatch) || body.readErr != nil {
			return fail(ErrFetchFailed, revision, err)
		}
		return fail(ErrStorageFailed, revision, err)
	}
	a.Stats = *stats
	if err := writeRecord(recPath, record{Artifact: *a, Settings: settings}); err != nil {
		return fail(ErrStorageFailed, revision, err)
	}
	f.log(ctx, "artifact fetched", "url", src.URL, "revision", revision, "bytes", stats.Bytes, "files", stats.Files)
	f.emit(Progress{Phase: PhaseDone, Revision: revision, Bytes: layer.Size, Total: layer.Size})
	return a, nil
}

// verify asks v to accept ref, and insists on at least one signature.
func (f *Fetcher) verify(ctx context.Context, v verify.Verifier, ref oci.Reference, revision string) (*verify.Result, error) {
	f.emit(Progress{Phase: PhaseVerify, Revision: revision})
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
		return oci.Descriptor{}, fmt.Errorf("manifest %s has no layers (media type %q)", m.Descriptor.Digest, m.MediaType)
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
	return oci.Descriptor{}, fmt.Errorf("manifest %s has no layer of media type %q (it has %s)", m.Descriptor.Digest, mediaType, strings.Join(types, ", "))
}

// settingsOf fingerprints what decides the content of dir besides the revision.
func settingsOf(src Source, p parsed) string {
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
	b, _ := json.Marshal(struct {
		URL, MediaType, Operation, Verifier string
		Ignore                              []string
	}{p.repo.URL(), src.Layer.MediaType, string(p.op), verifier, src.Ignore})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func recordPath(dir string) string {
	return filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".ocisource.json")
}

func (f *Fetcher) cached(dir, revision, settings string, wantVerified bool) (*Artifact, bool) {
	b, err := os.ReadFile(recordPath(dir))
	if err != nil {
		return nil, false
	}
	var r record
	if json.Unmarshal(b, &r) != nil || r.Revision != revision || r.Settings != settings {
		return nil, false
	}
	if wantVerified && r.Verification == nil {
		return nil, false
	}
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return nil, false
	}
	a := r.Artifact
	a.FromCache = true
	a.Dir = dir
	return &a, true
}

func writeRecord(path string, r record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// copyName is the file name for LayerCopy: the layer's title annotation if
// it is a plain file name, else "layer".
func copyName(l oci.Descriptor) string {
	t := l.Annotations["org.opencontainers.image.title"]
	if t == "" || t != path.Base(t) || t == "." || t == ".." || strings.ContainsAny(t, `/\:`) || len(t) > 255 {
		return "layer"
	}
	return t
}

// extractCopy writes r as one file in dir, atomically, by streaming it as
// a one-entry tar archive through tarball.Extract (so the copy gets the same
// atomic replacement and limits as an extraction).
func extractCopy(ctx context.Context, r io.Reader, dir, name string, size int64, opts []tarball.Option) (*tarball.Stats, error) {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: time.Now()})
		if err == nil {
			_, err = io.Copy(tw, r)
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	defer pr.Close()
	return tarball.Extract(ctx, pr, dir, append(opts, tarball.WithCompression(tarball.CompressionNone))...)
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
