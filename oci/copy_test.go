package oci_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/oci/push"
)

// signedFixture is app:v1 in reg with a legacy ".sig" tag, an SBOM referrer,
// and a signature on that SBOM (an attachment of an attachment).
type signedFixture struct {
	reg              *ocitest.Registry
	artifact         oci.Descriptor
	sig, sbom, sbom2 oci.Descriptor
}

// pushReferrer pushes a one-layer manifest whose subject is subject, by
// digest, and returns its descriptor.
func pushReferrer(t *testing.T, c *oci.Client, repo oci.Reference, subject oci.Descriptor, artifactType, content string) oci.Descriptor {
	t.Helper()
	ctx := context.Background()
	layer := push.LayerFromBytes("application/octet-stream", []byte(content))
	config := push.LayerFromBytes("application/vnd.oci.empty.v1+json", []byte("{}"))
	for _, l := range []push.Layer{layer, config} {
		rc, _ := l.Open()
		if err := c.PushBlob(ctx, repo, l.Descriptor, rc); err != nil {
			t.Fatal(err)
		}
	}
	subj := oci.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	raw, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": oci.MediaTypeOCIManifest, "artifactType": artifactType,
		"config": config.Descriptor, "layers": []oci.Descriptor{layer.Descriptor}, "subject": subj,
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.PushManifest(ctx, repo.WithDigest(oci.DigestOf(raw)), oci.MediaTypeOCIManifest, raw)
	if err != nil {
		t.Fatal(err)
	}
	d.ArtifactType = artifactType
	return d
}

func newSignedFixture(t *testing.T) *signedFixture {
	t.Helper()
	ctx := context.Background()
	reg := ocitest.NewT(t)
	c := reg.Client()
	fx := &signedFixture{reg: reg}
	var err error
	if fx.artifact, err = reg.PushBytes(ctx, "app:v1", oci.MediaTypeFluxContent, []byte("content v1")); err != nil {
		t.Fatal(err)
	}
	if fx.sig, err = reg.PushBytes(ctx, "app:"+oci.CosignTag(fx.artifact.Digest, oci.CosignSignature), "application/vnd.dev.cosign.simplesigning.v1+json", []byte(`{"critical":{}}`)); err != nil {
		t.Fatal(err)
	}
	fx.sbom = pushReferrer(t, c, reg.Ref("app"), fx.artifact, "application/spdx+json", `{"spdxVersion":"SPDX-2.3"}`)
	fx.sbom2 = pushReferrer(t, c, reg.Ref("app"), fx.sbom, "application/vnd.dev.sigstore.bundle.v0.3+json", `{"bundle":"on the sbom"}`)
	return fx
}

// checkMirror asserts that dst holds the fixture: same digests, the tag,
// the legacy tag, both referrers.
func checkMirror(t *testing.T, c *oci.Client, dst oci.Reference, fx *signedFixture) {
	t.Helper()
	ctx := context.Background()
	got, err := c.Resolve(ctx, dst.WithTag("v1"))
	if err != nil || got.Digest != fx.artifact.Digest {
		t.Fatalf("mirror v1 = %v, %v; want %s", got.Digest, err, fx.artifact.Digest)
	}
	sig, err := c.Resolve(ctx, dst.WithTag(oci.CosignTag(fx.artifact.Digest, oci.CosignSignature)))
	if err != nil || sig.Digest != fx.sig.Digest {
		t.Errorf("mirror .sig = %v, %v; want %s", sig.Digest, err, fx.sig.Digest)
	}
	for _, tc := range []struct{ subject, want oci.Descriptor }{{fx.artifact, fx.sbom}, {fx.sbom, fx.sbom2}} {
		refs, err := c.Referrers(ctx, dst.WithTag("").WithDigest(tc.subject.Digest), "")
		if err != nil {
			t.Fatal(err)
		}
		if len(refs) != 1 || refs[0].Digest != tc.want.Digest {
			t.Errorf("referrers of %s = %+v, want %s", tc.subject.Digest, refs, tc.want.Digest)
		}
	}
	m, err := c.Manifest(ctx, dst.WithTag("").WithDigest(fx.artifact.Digest))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Blob(ctx, dst.WithTag(""), m.Layers[0]); err != nil {
		t.Errorf("mirror layer: %v", err)
	}
}

func TestCopyRegistryToRegistry(t *testing.T) {
	ctx := context.Background()
	fx := newSignedFixture(t)
	dstReg := ocitest.NewT(t)
	src, dst := fx.reg.Client(), dstReg.Client()

	res, err := oci.Copy(ctx, src, fx.reg.Ref("app:v1"), dst, dstReg.Ref("mirror/app"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Descriptor.Digest != fx.artifact.Digest || res.Tag != "v1" {
		t.Errorf("result %s tag %q, want %s tag v1", res.Descriptor.Digest, res.Tag, fx.artifact.Digest)
	}
	// artifact, .sig, sbom, signature on the sbom
	if res.Manifests != 4 || len(res.Attachments) != 3 {
		t.Errorf("manifests %d, attachments %+v; want 4 and 3", res.Manifests, res.Attachments)
	}
	checkMirror(t, dst, dstReg.Ref("mirror/app"), fx)

	// Run again: nothing is sent but the referrers (always written, see
	// registryTarget) and the cheap checks.
	dstReg.ResetRequests()
	res, err = oci.Copy(ctx, src, fx.reg.Ref("app:v1"), dst, dstReg.Ref("mirror/app"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Blobs != 0 || res.Bytes != 0 || res.BlobsSkipped == 0 {
		t.Errorf("second copy: %d blobs (%d bytes) sent, %d skipped; want 0 sent", res.Blobs, res.Bytes, res.BlobsSkipped)
	}
	if n := dstReg.CountRequests(http.MethodPost, "/blobs/uploads/"); n != 0 {
		t.Errorf("second copy started %d blob uploads, want 0", n)
	}
}

func TestCopyToNewTagAndByDigest(t *testing.T) {
	ctx := context.Background()
	fx := newSignedFixture(t)
	dstReg := ocitest.NewT(t)
	dst := dstReg.Client()
	res, err := oci.Copy(ctx, fx.reg.Client(), fx.reg.Ref("app:v1"), dst, dstReg.Ref("app:release"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Tag != "release" {
		t.Errorf("tag = %q, want release", res.Tag)
	}
	if d, err := dst.Resolve(ctx, dstReg.Ref("app:release")); err != nil || d.Digest != fx.artifact.Digest {
		t.Errorf("release = %v, %v", d.Digest, err)
	}
	// By digest: no tag is written, the artifact is there by digest.
	res, err = oci.Copy(ctx, fx.reg.Client(), fx.reg.Ref("app").WithDigest(fx.artifact.Digest), dst, dstReg.Ref("other"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Tag != "" {
		t.Errorf("by-digest copy tagged %q", res.Tag)
	}
	if _, err := dst.Resolve(ctx, dstReg.Ref("other").WithDigest(fx.artifact.Digest)); err != nil {
		t.Error(err)
	}
	if _, err := dst.Resolve(ctx, dstReg.Ref("other:latest")); !errors.Is(err, oci.ErrNotFound) {
		t.Errorf("by-digest copy made a latest tag: %v", err)
	}
	// A destination digest that is not the source's is refused.
	_, err = oci.Copy(ctx, fx.reg.Client(), fx.reg.Ref("app:v1"), dst, dstReg.Ref("x").WithDigest(fx.sig.Digest))
	if !errors.Is(err, oci.ErrDigestMismatch) {
		t.Errorf("wrong destination digest: %v, want ErrDigestMismatch", err)
	}
}

func TestCopyOptionsLeaveAttachments(t *testing.T) {
	ctx := context.Background()
	fx := newSignedFixture(t)
	dstReg := ocitest.NewT(t)
	dst := dstReg.Client()
	res, err := oci.Copy(ctx, fx.reg.Client(), fx.reg.Ref("app:v1"), dst, dstReg.Ref("app"),
		oci.WithCopyReferrers(false), oci.WithCopyCosignTags(false))
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifests != 1 || len(res.Attachments) != 0 {
		t.Errorf("manifests %d attachments %d, want 1 and 0", res.Manifests, len(res.Attachments))
	}
	if _, err := dst.Resolve(ctx, dstReg.Ref("app:"+oci.CosignTag(fx.artifact.Digest, oci.CosignSignature))); !errors.Is(err, oci.ErrNotFound) {
		t.Errorf(".sig copied although WithCopyCosignTags(false): %v", err)
	}
}

// A copy that fails leaves no destination tag; the next one sends only
// what is missing.
func TestCopyResumesAfterFailure(t *testing.T) {
	ctx := context.Background()
	fx := newSignedFixture(t)
	dstReg := ocitest.NewT(t)
	dst := dstReg.Client()
	m, err := fx.reg.Client().Manifest(ctx, fx.reg.Ref("app").WithDigest(fx.artifact.Digest))
	if err != nil {
		t.Fatal(err)
	}
	// The SBOM's layer is refused: the artifact's own blobs are in by then.
	sbomManifest, err := fx.reg.Client().Manifest(ctx, fx.reg.Ref("app").WithDigest(fx.sbom.Digest))
	if err != nil {
		t.Fatal(err)
	}
	fx.reg.Inject(ocitest.Fault{Method: http.MethodGet, PathContains: string(sbomManifest.Layers[0].Digest), Status: http.StatusServiceUnavailable})
	_, err = oci.Copy(ctx, fx.reg.Client(), fx.reg.Ref("app:v1"), dst, dstReg.Ref("app"), oci.WithCopyMaxManifests(100))
	if err == nil {
		t.Fatal("copy succeeded through a failing blob")
	}
	var oe *oci.Error
	if !errors.As(err, &oe) || oe.Op != "copy" && oe.Op != "blob" {
		t.Errorf("err = %v, want an *oci.Error", err)
	}
	if _, err := dst.Resolve(ctx, dstReg.Ref("app:v1")); !errors.Is(err, oci.ErrNotFound) {
		t.Errorf("failed copy tagged the destination: %v", err)
	}
	fx.reg.ClearFaults()
	dstReg.ResetRequests()
	res, err := oci.Copy(ctx, fx.reg.Client(), fx.reg.Ref("app:v1"), dst, dstReg.Ref("app"))
	if err != nil {
		t.Fatal(err)
	}
	if res.BlobsSkipped < 2 {
		t.Errorf("resumed copy skipped %d blobs, want the artifact's config and layer at least", res.BlobsSkipped)
	}
	if n := dstReg.CountRequests(http.MethodPatch, string(m.Layers[0].Digest)) + dstReg.CountRequests(http.MethodPut, "digest="+string(m.Layers[0].Digest)); n != 0 {
		t.Errorf("resumed copy sent the artifact's layer again (%d requests)", n)
	}
	checkMirror(t, dst, dstReg.Ref("app"), fx)
}

func TestCopyRegistryToLayoutAndBack(t *testing.T) {
	ctx := context.Background()
	fx := newSignedFixture(t)
	c := fx.reg.Client()
	dir := filepath.Join(t.TempDir(), "layout")
	lay := oci.Reference{Layout: dir}
	res, err := oci.Copy(ctx, c, fx.reg.Ref("app:v1"), c, lay)
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifests != 4 {
		t.Errorf("manifests = %d, want 4", res.Manifests)
	}
	checkMirror(t, c, lay, fx)
	// No temporary file is left in the layout.
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(filepath.Dir(p)) == "" && len(d.Name()) > 0 && d.Name()[0] == '.' {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})

	// Copying again into the layout writes no blob.
	res, err = oci.Copy(ctx, c, fx.reg.Ref("app:v1"), c, lay)
	if err != nil {
		t.Fatal(err)
	}
	if res.Blobs != 0 || res.Manifests != 0 {
		t.Errorf("second copy into the layout wrote %d blobs and %d manifests", res.Blobs, res.Manifests)
	}
	idx := readIndex(t, dir)
	if n := countRefName(idx, "v1"); n != 1 {
		t.Errorf("index.json lists tag v1 %d times, want once", n)
	}

	// And from the layout into another registry.
	back := ocitest.NewT(t)
	if _, err := oci.Copy(ctx, c, lay.WithTag("v1"), back.Client(), back.Ref("restored")); err != nil {
		t.Fatal(err)
	}
	checkMirror(t, back.Client(), back.Ref("restored"), fx)
}

func readIndex(t *testing.T, dir string) []oci.Descriptor {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx struct{ Manifests []oci.Descriptor }
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	return idx.Manifests
}

func countRefName(ds []oci.Descriptor, tag string) int {
	n := 0
	for _, d := range ds {
		if d.Annotations["org.opencontainers.image.ref.name"] == tag {
			n++
		}
	}
	return n
}

func TestCopyIndexWithSignedChild(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.NewT(t)
	c := reg.Client()
	amd, err := reg.PushBytes(ctx, "app:amd64", oci.MediaTypeFluxContent, []byte("amd64"))
	if err != nil {
		t.Fatal(err)
	}
	arm, err := reg.PushBytes(ctx, "app:arm64", oci.MediaTypeFluxContent, []byte("arm64"))
	if err != nil {
		t.Fatal(err)
	}
	amd.Platform = &oci.Platform{OS: "linux", Architecture: "amd64"}
	arm.Platform = &oci.Platform{OS: "linux", Architecture: "arm64"}
	idx, err := reg.PushIndex(ctx, "app:multi", "", amd, arm)
	if err != nil {
		t.Fatal(err)
	}
	childSig, err := reg.PushBytes(ctx, "app:"+oci.CosignTag(arm.Digest, oci.CosignSignature), "application/vnd.dev.cosign.simplesigning.v1+json", []byte("sig"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	res, err := oci.Copy(ctx, c, reg.Ref("app:multi"), c, oci.Reference{Layout: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.Descriptor.Digest != idx.Digest {
		t.Errorf("copied %s, want the index %s", res.Descriptor.Digest, idx.Digest)
	}
	lay := oci.Reference{Layout: dir}
	for _, d := range []oci.Descriptor{amd, arm} {
		m, err := c.Manifest(ctx, lay.WithDigest(d.Digest))
		if err != nil {
			t.Fatalf("child %s: %v", d.Digest, err)
		}
		if _, err := c.Blob(ctx, lay, m.Layers[0]); err != nil {
			t.Errorf("child layer: %v", err)
		}
	}
	if got, err := c.Resolve(ctx, lay.WithTag(oci.CosignTag(arm.Digest, oci.CosignSignature))); err != nil || got.Digest != childSig.Digest {
		t.Errorf("child signature in layout = %v, %v", got.Digest, err)
	}
}

func TestCopyLimits(t *testing.T) {
	ctx := context.Background()
	fx := newSignedFixture(t)
	dstReg := ocitest.NewT(t)
	_, err := oci.Copy(ctx, fx.reg.Client(), fx.reg.Ref("app:v1"), dstReg.Client(), dstReg.Ref("app"), oci.WithCopyMaxManifests(2))
	if !errors.Is(err, oci.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if _, err := dstReg.Client().Resolve(ctx, dstReg.Ref("app:v1")); !errors.Is(err, oci.ErrNotFound) {
		t.Errorf("a copy over its limit tagged the destination: %v", err)
	}
	for _, opt := range []oci.CopyOption{oci.WithCopyMaxManifests(0), oci.WithCopyMaxManifests(-1)} {
		if _, err := oci.Copy(ctx, fx.reg.Client(), fx.reg.Ref("app:v1"), dstReg.Client(), dstReg.Ref("app"), opt); !errors.Is(err, oci.ErrInvalidOption) {
			t.Errorf("err = %v, want ErrInvalidOption", err)
		}
	}
	if _, err := oci.Copy(ctx, nil, fx.reg.Ref("app:v1"), dstReg.Client(), dstReg.Ref("app")); !errors.Is(err, oci.ErrInvalidOption) {
		t.Errorf("nil client: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := oci.Copy(cctx, fx.reg.Client(), fx.reg.Ref("app:v1"), dstReg.Client(), dstReg.Ref("app")); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

// A destination directory that is not a layout is not written into.
func TestCopyRefusesForeignDirectory(t *testing.T) {
	ctx := context.Background()
	fx := newSignedFixture(t)
	c := fx.reg.Client()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := oci.Copy(ctx, c, fx.reg.Ref("app:v1"), c, oci.Reference{Layout: dir})
	if !errors.Is(err, oci.ErrInvalidLayout) {
		t.Fatalf("err = %v, want ErrInvalidLayout", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("refused copy wrote into the directory: %v", ents)
	}
	// A file is not a destination either (a layout tar is read-only).
	file := filepath.Join(dir, "notes.txt")
	if _, err := oci.Copy(ctx, c, fx.reg.Ref("app:v1"), c, oci.Reference{Layout: file}); !errors.Is(err, oci.ErrInvalidLayout) {
		t.Errorf("file destination: %v, want ErrInvalidLayout", err)
	}
}

// A link planted in the destination layout does not lead writes outside it.
func TestCopyLayoutPlantedLink(t *testing.T) {
	ctx := context.Background()
	fx := newSignedFixture(t)
	c := fx.reg.Client()
	dir := filepath.Join(t.TempDir(), "layout")
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "blobs", "sha256")); err != nil {
		t.Fatal(err)
	}
	if _, err := oci.Copy(ctx, c, fx.reg.Ref("app:v1"), c, oci.Reference{Layout: dir}); err == nil {
		t.Error("copy through a planted link succeeded")
	}
	ents, _ := os.ReadDir(outside)
	if len(ents) != 0 {
		t.Errorf("copy wrote outside the layout: %v", ents)
	}
}

// Two copies into one layout at once keep both tags.
func TestCopyConcurrentIntoOneLayout(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.NewT(t)
	c := reg.Client()
	const n = 6
	for i := range n {
		if _, err := reg.PushBytes(ctx, fmt.Sprintf("app:v%d", i), oci.MediaTypeFluxContent, []byte(fmt.Sprint("content ", i))); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "layout")
	if _, err := oci.Copy(ctx, c, reg.Ref("app:v0"), c, oci.Reference{Layout: dir}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 1; i < n; i++ {
		wg.Go(func() {
			_, errs[i] = oci.Copy(ctx, c, reg.Ref(fmt.Sprintf("app:v%d", i)), c, oci.Reference{Layout: dir})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	idx := readIndex(t, dir)
	var tags []string
	for _, d := range idx {
		tags = append(tags, d.Annotations["org.opencontainers.image.ref.name"])
	}
	slices.Sort(tags)
	if want := []string{"v0", "v1", "v2", "v3", "v4", "v5"}; !slices.Equal(tags, want) {
		t.Errorf("tags = %v, want %v", tags, want)
	}
}

// inflightSpy counts the blob GETs in flight at once.
type inflightSpy struct {
	inner     http.RoundTripper
	mu        sync.Mutex
	now, peak int
}

func (s *inflightSpy) RoundTrip(req *http.Request) (*http.Response, error) {
	blob := req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/")
	if blob {
		s.mu.Lock()
		s.now++
		s.peak = max(s.peak, s.now)
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.now--
			s.mu.Unlock()
		}()
	}
	return s.inner.RoundTrip(req)
}

// The blobs of a manifest are copied WithCopyJobs at a time.
func TestCopyJobs(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.NewT(t, ocitest.WithLatency(20*time.Millisecond))
	c := reg.Client()
	var layers []oci.Descriptor
	for i := range 8 {
		l := push.LayerFromBytes("application/octet-stream", []byte(fmt.Sprint("layer ", i)))
		rc, _ := l.Open()
		if err := c.PushBlob(ctx, reg.Ref("app"), l.Descriptor, rc); err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l.Descriptor)
	}
	config := push.LayerFromBytes("application/vnd.oci.empty.v1+json", []byte("{}"))
	rc, _ := config.Open()
	if err := c.PushBlob(ctx, reg.Ref("app"), config.Descriptor, rc); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeOCIManifest, "config": config.Descriptor, "layers": layers})
	if _, err := c.PushManifest(ctx, reg.Ref("app:v1"), oci.MediaTypeOCIManifest, raw); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		jobs      int
		min, max_ int
	}{{1, 1, 1}, {4, 2, 4}} {
		t.Run(fmt.Sprint(tc.jobs, " jobs"), func(t *testing.T) {
			spy := &inflightSpy{inner: http.DefaultTransport}
			src := reg.Client(oci.WithTransport(spy))
			dst := ocitest.NewT(t)
			res, err := oci.Copy(ctx, src, reg.Ref("app:v1"), dst.Client(), dst.Ref("app"), oci.WithCopyJobs(tc.jobs))
			if err != nil {
				t.Fatal(err)
			}
			if res.Blobs != 9 {
				t.Errorf("%d blobs copied, want 9", res.Blobs)
			}
			if spy.peak < tc.min || spy.peak > tc.max_ {
				t.Errorf("%d blob GETs in flight at once, want %d to %d", spy.peak, tc.min, tc.max_)
			}
		})
	}
	if _, err := oci.Copy(ctx, c, reg.Ref("app:v1"), c, reg.Ref("x"), oci.WithCopyJobs(0)); !errors.Is(err, oci.ErrInvalidOption) {
		t.Errorf("WithCopyJobs(0): %v", err)
	}
}

// A source serving other bytes for a blob fails the copy, and the bytes go
// nowhere: not into a layout under the blob's name, not into a registry.
func TestCopyRefusesCorruptedBlob(t *testing.T) {
	ctx := context.Background()
	fx := newSignedFixture(t)
	c := fx.reg.Client()
	m, err := c.Manifest(ctx, fx.reg.Ref("app").WithDigest(fx.artifact.Digest))
	if err != nil {
		t.Fatal(err)
	}
	layer := m.Layers[0]
	fx.reg.Inject(ocitest.Fault{Method: http.MethodGet, PathContains: string(layer.Digest), Body: []byte(strings.Repeat("x", int(layer.Size)))})

	dir := filepath.Join(t.TempDir(), "layout")
	if _, err := oci.Copy(ctx, c, fx.reg.Ref("app:v1"), c, oci.Reference{Layout: dir}); !errors.Is(err, oci.ErrDigestMismatch) {
		t.Fatalf("into a layout: err = %v, want ErrDigestMismatch", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "blobs", "sha256", layer.Digest.Hex())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the corrupted layer was written under its digest: %v", err)
	}
	dst := ocitest.NewT(t)
	if _, err := oci.Copy(ctx, c, fx.reg.Ref("app:v1"), dst.Client(), dst.Ref("app")); !errors.Is(err, oci.ErrDigestMismatch) && !errors.Is(err, oci.ErrRegistry) {
		t.Fatalf("into a registry: err = %v, want the upload refused", err)
	}
	if rc, err := dst.Client().Blob(ctx, dst.Ref("app"), layer); err == nil {
		rc.Close()
		t.Error("the destination registry holds the layer after a corrupted copy")
	}
}
