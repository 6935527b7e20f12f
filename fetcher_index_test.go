package ocisource_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

var (
	amdFiles = map[string]string{"arch.txt": "amd64\n"}
	armFiles = map[string]string{"arch.txt": "arm64\n"}
)

// indexEnv is an env whose repository "app" holds two platform artifacts
// (tags "amd" and "arm", different content) and indexes over them.
type indexEnv struct {
	*env
	amd, arm oci.Descriptor
}

func newIndexEnv(t *testing.T) *indexEnv {
	e := &indexEnv{env: newEnv(t)}
	e.amd, e.arm = e.push("app:amd", amdFiles), e.push("app:arm", armFiles)
	return e
}

// at returns d as an index entry for platform.
func at(t *testing.T, d oci.Descriptor, platform string) oci.Descriptor {
	t.Helper()
	p, err := oci.ParsePlatform(platform)
	if err != nil {
		t.Fatal(err)
	}
	d.Platform = &p
	return d
}

func (e *indexEnv) index(ref, mediaType string, entries ...oci.Descriptor) oci.Descriptor {
	e.t.Helper()
	d, err := e.reg.PushIndex(e.ctx, ref, mediaType, entries...)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// multi pushes the two-platform index under tag.
func (e *indexEnv) multi(tag, mediaType string) oci.Descriptor {
	return e.index("app:"+tag, mediaType, at(e.t, e.amd, "linux/amd64"), at(e.t, e.arm, "linux/arm64/v8"))
}

// TestFetchIndexSelectsPlatform fetches each platform of a multi-platform
// OCI index and Docker manifest list, by tag and by digest, and checks the
// content, what Artifact reports and the requests: one GET of the index,
// one of the platform's manifest by digest, one blob.
func TestFetchIndexSelectsPlatform(t *testing.T) {
	e := newIndexEnv(t)
	for _, mt := range []string{oci.MediaTypeOCIIndex, oci.MediaTypeDockerList} {
		idx := e.multi("multi", mt)
		for _, tc := range []struct {
			platform, wantPlatform string
			want                   oci.Descriptor
			files                  map[string]string
		}{
			{"linux/amd64", "linux/amd64", e.amd, amdFiles},
			{"linux/arm64", "linux/arm64/v8", e.arm, armFiles},
			{"linux/arm64/v8", "linux/arm64/v8", e.arm, armFiles},
		} {
			for _, ref := range []ocisource.Ref{{Tag: "multi"}, {Digest: string(idx.Digest)}} {
				name := mt[strings.LastIndex(mt, ".")+1:] + "/" + tc.platform + "/tag"
				if ref.Digest != "" {
					name = strings.TrimSuffix(name, "tag") + "digest"
				}
				t.Run(name, func(t *testing.T) {
					ref.Platform = tc.platform
					dir := filepath.Join(t.TempDir(), "out")
					e.reg.ResetRequests()
					a, err := e.f.Fetch(e.ctx, e.src(ref), dir)
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(tc.files, tree(t, dir)); diff != "" {
						t.Errorf("content (-want +got):\n%s", diff)
					}
					if a.Digest != idx.Digest || a.ManifestDigest != tc.want.Digest || a.Platform != tc.wantPlatform {
						t.Errorf("Digest, ManifestDigest, Platform = %s, %s, %q; want %s, %s, %q",
							a.Digest, a.ManifestDigest, a.Platform, idx.Digest, tc.want.Digest, tc.wantPlatform)
					}
					if !strings.HasSuffix(a.Revision, "sha256:"+idx.Digest.Hex()) {
						t.Errorf("Revision = %q, want the index digest", a.Revision)
					}
					if a.Source() != "https://github.com/org/repo" {
						t.Errorf("Source() = %q: the manifest's annotations are lost", a.Source())
					}
					want := map[string]int{"GET manifest by digest": 2, "GET blob": 1}
					if ref.Tag != "" {
						want = map[string]int{"GET manifest by tag": 1, "GET manifest by digest": 1, "GET blob": 1}
					}
					if diff := cmp.Diff(want, kindsAfterPing(e.reg.Requests())); diff != "" {
						t.Errorf("requests (-want +got):\n%s", diff)
					}
				})
			}
		}
	}
}

// TestFetchIndexSingleManifest: an index with one manifest (and a buildx
// attestation beside it) needs no platform; a plain manifest is used as it
// is whatever the platform says.
func TestFetchIndexSingleManifest(t *testing.T) {
	e := newIndexEnv(t)
	att := e.push("app:att", map[string]string{"provenance.json": "{}"})
	att.Platform = &oci.Platform{OS: "unknown", Architecture: "unknown"}
	att.Annotations = map[string]string{"vnd.docker.reference.type": "attestation-manifest"}
	e.index("app:single", "", at(t, e.arm, "linux/arm64"), att)
	for _, tc := range []struct {
		name string
		ref  ocisource.Ref
		want map[string]string
	}{
		{"index, no platform", ocisource.Ref{Tag: "single"}, armFiles},
		{"index, its platform", ocisource.Ref{Tag: "single", Platform: "linux/arm64"}, armFiles},
		{"plain manifest, a platform", ocisource.Ref{Tag: "amd", Platform: "linux/s390x"}, amdFiles},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			a, err := e.f.Fetch(e.ctx, e.src(tc.ref), dir)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, tree(t, dir)); diff != "" {
				t.Errorf("content (-want +got):\n%s", diff)
			}
			if tc.ref.Tag == "amd" && (a.ManifestDigest != a.Digest || a.Platform != "") {
				t.Errorf("plain manifest: ManifestDigest %s, Digest %s, Platform %q", a.ManifestDigest, a.Digest, a.Platform)
			}
		})
	}
}

// TestFetchIndexPlatformErrors: no platform for a multi-platform index, or
// one it does not offer, is ErrInvalidSource with a *PlatformError whose
// message lists what the index offers; nothing is downloaded or written.
func TestFetchIndexPlatformErrors(t *testing.T) {
	e := newIndexEnv(t)
	e.multi("multi", "")
	for _, tc := range []struct{ name, platform string }{
		{"no platform", ""},
		{"not offered", "linux/s390x"},
		{"variant not offered", "linux/arm64/v9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			e.reg.ResetRequests()
			_, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "multi", Platform: tc.platform}), dir)
			var pe *oci.PlatformError
			if !errors.Is(err, ocisource.ErrInvalidSource) || !errors.As(err, &pe) || !errors.Is(err, oci.ErrPlatformNotFound) {
				t.Fatalf("err = %v, want ErrInvalidSource with a *PlatformError", err)
			}
			if diff := cmp.Diff([]string{"linux/amd64", "linux/arm64/v8"}, pe.Offered); diff != "" {
				t.Errorf("Offered (-want +got):\n%s", diff)
			}
			for _, p := range []string{"linux/amd64", "linux/arm64/v8", "Ref.Platform"} {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("message %q does not mention %s", err, p)
				}
			}
			if got := ocisource.Reason(err); got != ocisource.ReasonInvalidSource {
				t.Errorf("Reason = %q", got)
			}
			if n := e.reg.CountRequests("GET", "/blobs/"); n != 0 {
				t.Errorf("%d blobs downloaded", n)
			}
			if _, err := os.Lstat(dir); !os.IsNotExist(err) {
				t.Errorf("dir exists after the error: %v", err)
			}
		})
	}
}

// TestFetchInvalidPlatform: a malformed Ref.Platform is ErrInvalidSource
// before any request.
func TestFetchInvalidPlatform(t *testing.T) {
	e := newIndexEnv(t)
	e.multi("multi", "")
	for _, p := range []string{"linux", "linux/amd64/v8/x", "Linux/amd64", "linux//amd64", "linux/amd64:10.0"} {
		e.reg.ResetRequests()
		_, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "multi", Platform: p}), filepath.Join(t.TempDir(), "out"))
		if !errors.Is(err, ocisource.ErrInvalidSource) || !errors.Is(err, oci.ErrInvalidPlatform) {
			t.Errorf("Platform %q: err = %v, want ErrInvalidSource wrapping oci.ErrInvalidPlatform", p, err)
		}
		if reqs := e.reg.Requests(); len(reqs) != 0 {
			t.Errorf("Platform %q: %d requests before the error: %v", p, len(reqs), reqs)
		}
	}
}

// TestFetchNestedIndex follows an index of indexes to the platform's
// manifest, and refuses one nested deeper than oci.MaxIndexDepth.
func TestFetchNestedIndex(t *testing.T) {
	e := newIndexEnv(t)
	inner := e.multi("inner", "")
	e.index("app:nested", "", inner)
	deep := inner
	for range oci.MaxIndexDepth {
		deep = e.index("app", "", deep)
	}
	if err := e.reg.Client().Tag(e.ctx, e.reg.Ref("app").WithDigest(deep.Digest), "deep"); err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(t.TempDir(), "out")
	e.reg.ResetRequests()
	a, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "nested", Platform: "linux/amd64"}), dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(amdFiles, tree(t, dir)); diff != "" {
		t.Errorf("content (-want +got):\n%s", diff)
	}
	if a.ManifestDigest != e.amd.Digest || a.Platform != "linux/amd64" {
		t.Errorf("ManifestDigest, Platform = %s, %q", a.ManifestDigest, a.Platform)
	}
	if diff := cmp.Diff(map[string]int{"GET manifest by tag": 1, "GET manifest by digest": 2, "GET blob": 1}, kindsAfterPing(e.reg.Requests())); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}

	_, err = e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "deep", Platform: "linux/amd64"}), filepath.Join(t.TempDir(), "out"))
	var le *oci.IndexLimitError
	if !errors.Is(err, ocisource.ErrFetchFailed) || !errors.Is(err, oci.ErrTooLarge) || !errors.As(err, &le) || le.Limit != "depth" {
		t.Fatalf("err = %v, want ErrFetchFailed with an *oci.IndexLimitError on depth", err)
	}
}

// TestFetchIndexCachePerPlatform: the platform is part of the fetch
// settings, so the same index for another platform is never a cache hit,
// and the same platform again is.
func TestFetchIndexCachePerPlatform(t *testing.T) {
	e := newIndexEnv(t)
	e.multi("multi", "")
	dir := filepath.Join(t.TempDir(), "out")
	for i, step := range []struct {
		platform string
		hit      bool
		files    map[string]string
	}{
		{"linux/amd64", false, amdFiles},
		{"linux/amd64", true, amdFiles},
		{"linux/arm64", false, armFiles},
		{"linux/arm64", true, armFiles},
		{"linux/arm64/v8", false, armFiles}, // another string, other settings: fetched again, never wrongly a hit
		{"linux/amd64", false, amdFiles},
	} {
		e.reg.ResetRequests()
		a, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "multi", Platform: step.platform}), dir)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if a.FromCache != step.hit {
			t.Errorf("step %d (%s): FromCache = %v, want %v", i, step.platform, a.FromCache, step.hit)
		}
		if diff := cmp.Diff(step.files, tree(t, dir)); diff != "" {
			t.Errorf("step %d (%s): content (-want +got):\n%s", i, step.platform, diff)
		}
		if step.hit {
			if diff := cmp.Diff(map[string]int{"HEAD manifest by tag": 1}, kindsAfterPing(e.reg.Requests())); diff != "" {
				t.Errorf("step %d: cache hit requests (-want +got):\n%s", i, diff)
			}
			if want := map[bool]oci.Digest{true: e.amd.Digest, false: e.arm.Digest}[step.platform == "linux/amd64"]; a.ManifestDigest != want {
				t.Errorf("step %d: cached ManifestDigest = %s, want %s", i, a.ManifestDigest, want)
			}
		}
	}
}

// TestFetchIndexVerification: the verifier is asked about the index digest
// (cosign sign of a multi-platform image signs it); when the index carries
// no signature, about the platform manifest pulled (cosign sign of one
// platform's image); Verification.Ref names the one verified.
func TestFetchIndexVerification(t *testing.T) {
	e := newIndexEnv(t)
	idx := e.multi("multi", "")
	key, err := verifytest.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	client := e.reg.Client()
	sign := func(d oci.Digest) {
		t.Helper()
		if _, err := verifytest.SignLegacy(e.ctx, client, e.reg.Ref("app").WithDigest(d), key, verifytest.WithoutTransparencyLog()); err != nil {
			t.Fatal(err)
		}
	}
	v, err := cosign.New(cosign.WithKeys(key.PublicKeyPEM()))
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(platform string) (*ocisource.Artifact, error) {
		t.Helper()
		src := e.src(ocisource.Ref{Tag: "multi", Platform: platform})
		src.Verifier = v
		e.reg.ResetRequests()
		return e.f.Fetch(e.ctx, src, filepath.Join(t.TempDir(), "out"))
	}

	// Nothing signed: neither the index nor the manifest.
	_, err = fetch("linux/amd64")
	if !errors.Is(err, ocisource.ErrVerification) || !errors.Is(err, verify.ErrNoSignatures) {
		t.Fatalf("unsigned: err = %v, want ErrVerification wrapping ErrNoSignatures", err)
	}
	if !strings.Contains(err.Error(), string(e.amd.Digest)) {
		t.Errorf("unsigned: message %q does not name the platform manifest", err)
	}
	if n := e.reg.CountRequests("GET", "/blobs/"); n != 0 {
		t.Errorf("unsigned: %d blobs downloaded", n)
	}

	// Only the arm64 image signed: that platform verifies, by its own digest.
	sign(e.arm.Digest)
	a, err := fetch("linux/arm64")
	if err != nil {
		t.Fatalf("arm64 signed: %v", err)
	}
	if a.Verification.Ref.Digest != e.arm.Digest || a.ManifestDigest != e.arm.Digest || a.Digest != idx.Digest {
		t.Errorf("arm64 signed: verified %s, pulled %s, resolved %s", a.Verification.Ref.Digest, a.ManifestDigest, a.Digest)
	}
	if _, err := fetch("linux/amd64"); !errors.Is(err, verify.ErrNoSignatures) {
		t.Errorf("arm64 signed, amd64 fetched: err = %v, want ErrNoSignatures", err)
	}

	// The index signed: every platform verifies by the index digest, and
	// the requests stay lean.
	sign(idx.Digest)
	for _, p := range []struct{ platform string }{{"linux/amd64"}, {"linux/arm64"}} {
		a, err := fetch(p.platform)
		if err != nil {
			t.Fatalf("index signed, %s: %v", p.platform, err)
		}
		want := map[bool]oci.Digest{true: e.amd.Digest, false: e.arm.Digest}[p.platform == "linux/amd64"]
		if a.Verification.Ref.Digest != idx.Digest || a.ManifestDigest != want {
			t.Errorf("index signed, %s: verified %s, pulled %s; want %s, %s", p.platform, a.Verification.Ref.Digest, a.ManifestDigest, idx.Digest, want)
		}
		if diff := cmp.Diff(map[string]int{"GET manifest by tag": 1, "GET manifest by digest": 1, "GET signature manifest": 1, "GET blob": 2},
			kindsAfterPing(e.reg.Requests())); diff != "" {
			t.Errorf("index signed, %s: requests (-want +got):\n%s", p.platform, diff)
		}
	}
}

// kindsAfterPing is requestKinds without the client's one ping, which only
// the first request to a fresh client costs.
func kindsAfterPing(reqs []ocitest.Request) map[string]int {
	return without(requestKinds(reqs), "ping")
}

// TestFetchRecordWithoutManifestDigest: a record written before indexes
// were followed has no manifestDigest; it is still a cache hit, and reports
// the digest it pulled.
func TestFetchRecordWithoutManifestDigest(t *testing.T) {
	e := newIndexEnv(t)
	src := e.src(ocisource.Ref{Tag: "amd"})
	if _, err := e.f.Fetch(e.ctx, src, e.dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(filepath.Dir(e.dir), "."+filepath.Base(e.dir)+".ocisource.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if rec["manifestDigest"] != string(e.amd.Digest) {
		t.Fatalf("record manifestDigest = %v, want %s", rec["manifestDigest"], e.amd.Digest)
	}
	delete(rec, "manifestDigest")
	if b, err = json.Marshal(rec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := e.f.Fetch(e.ctx, src, e.dir)
	if err != nil {
		t.Fatal(err)
	}
	if !a.FromCache || a.ManifestDigest != e.amd.Digest {
		t.Errorf("FromCache = %v, ManifestDigest = %s; want a hit reporting %s", a.FromCache, a.ManifestDigest, e.amd.Digest)
	}
}
