package ocisource_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/oci/push"
	"github.com/ocisource/ocisource/tarball"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

type env struct {
	t   *testing.T
	ctx context.Context
	reg *ocitest.Registry
	f   *ocisource.Fetcher
	dir string
}

func newEnv(t *testing.T, opts ...ocisource.Option) *env {
	t.Helper()
	reg := ocitest.NewT(t)
	f, err := ocisource.NewFetcher(append([]ocisource.Option{ocisource.WithClient(reg.Client())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: context.Background(), reg: reg, f: f, dir: filepath.Join(t.TempDir(), "content")}
}

func (e *env) push(ref string, files map[string]string) oci.Descriptor {
	e.t.Helper()
	d, err := e.reg.PushFiles(e.ctx, ref, files, push.WithSource("https://github.com/org/repo"), push.WithRevision("main@sha1:0123"))
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) src(ref ocisource.Ref) ocisource.Source {
	return ocisource.Source{URL: e.reg.URL("app"), Ref: ref}
}

// tree reads dir into path -> content.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			out[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// siblings lists the entries of dir's parent, to catch leftovers.
func siblings(t *testing.T, dir string) []string {
	ents, err := os.ReadDir(filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

var v1 = map[string]string{"deploy.yaml": "kind: Deployment\n", "sub/cm.yaml": "kind: ConfigMap\n"}
var v2 = map[string]string{"deploy.yaml": "kind: Deployment # v2\n"}

func TestFetchByTagSemverDigest(t *testing.T) {
	e := newEnv(t)
	e.push("app:1.0.0", map[string]string{"v": "1.0.0"})
	d110 := e.push("app:1.1.0", map[string]string{"v": "1.1.0"})
	e.push("app:2.0.0", map[string]string{"v": "2.0.0"})
	dLatest := e.push("app:latest", map[string]string{"v": "latest"})

	tests := []struct {
		name     string
		ref      ocisource.Ref
		want     string
		revision string
	}{
		{"tag", ocisource.Ref{Tag: "1.0.0"}, "1.0.0", "1.0.0@"},
		{"semver", ocisource.Ref{SemVer: "^1.0"}, "1.1.0", "1.1.0@" + string(d110.Digest)},
		{"semver beats tag", ocisource.Ref{SemVer: ">=2", Tag: "1.0.0"}, "2.0.0", "2.0.0@"},
		{"digest beats everything", ocisource.Ref{Digest: string(d110.Digest), SemVer: ">=2", Tag: "1.0.0"}, "1.1.0", string(d110.Digest)},
		{"default latest", ocisource.Ref{}, "latest", "latest@" + string(dLatest.Digest)},
		{"semver filter", ocisource.Ref{SemVer: "*", SemVerFilter: `^1\.0`}, "1.0.0", "1.0.0@"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			a, err := e.f.Fetch(e.ctx, e.src(tt.ref), dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := tree(t, dir)["v"]; got != tt.want {
				t.Errorf("content = %q, want %q", got, tt.want)
			}
			if !strings.HasPrefix(a.Revision, tt.revision) || !strings.HasSuffix(a.Revision, string(a.Digest)) {
				t.Errorf("revision = %q, want prefix %q and the digest", a.Revision, tt.revision)
			}
			if a.FromCache || a.Stats.Files != 1 || a.Dir != dir || a.URL != e.reg.URL("app") {
				t.Errorf("artifact = %+v", a)
			}
			if a.Source() != "https://github.com/org/repo" || a.SourceRevision() != "main@sha1:0123" || a.Created().IsZero() {
				t.Errorf("metadata = %v", a.Metadata)
			}
		})
	}
}

func TestFetchCacheHit(t *testing.T) {
	e := newEnv(t)
	d := e.push("app:v1", v1)
	first, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), e.dir)
	if err != nil {
		t.Fatal(err)
	}

	e.reg.ResetRequests()
	again, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), e.dir)
	if err != nil {
		t.Fatal(err)
	}
	if !again.FromCache || again.Revision != first.Revision || again.Stats != first.Stats {
		t.Errorf("second fetch = %+v, want a cache hit of %+v", again, first)
	}
	if got := e.reg.Requests(); len(got) != 1 || got[0].Method != http.MethodHead {
		t.Errorf("cache hit by tag made requests %+v, want one HEAD", got)
	}

	// By digest: no request at all.
	byDigest := e.src(ocisource.Ref{Digest: string(d.Digest)})
	if _, err := e.f.Fetch(e.ctx, byDigest, e.dir); err != nil {
		t.Fatal(err)
	}
	e.reg.ResetRequests()
	a, err := e.f.Fetch(e.ctx, byDigest, e.dir)
	if err != nil {
		t.Fatal(err)
	}
	if !a.FromCache {
		t.Error("second fetch by digest was not a cache hit")
	}
	if n := len(e.reg.Requests()); n != 0 {
		t.Errorf("cache hit by digest made %d requests", n)
	}

	// Changed settings are not a cache hit.
	e.reg.ResetRequests()
	src := byDigest
	src.Layer.MediaType = oci.MediaTypeFluxContent
	if a, err := e.f.Fetch(e.ctx, src, e.dir); err != nil || a.FromCache {
		t.Errorf("fetch with other settings: FromCache=%v err=%v", a != nil && a.FromCache, err)
	}
	if n := e.reg.CountRequests(http.MethodGet, "/blobs/"); n != 1 {
		t.Errorf("blob GETs = %d, want 1", n)
	}

	// A moved tag is fetched again.
	e.push("app:v1", v2)
	a, err = e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), e.dir)
	if err != nil || a.FromCache {
		t.Fatalf("after the tag moved: FromCache=%v err=%v", a != nil && a.FromCache, err)
	}
	if diff := cmp.Diff(v2, tree(t, e.dir)); diff != "" {
		t.Errorf("content (-want +got):\n%s", diff)
	}
}

// rejectAll is a verifier that finds signatures and accepts none.
var rejectAll = verify.VerifierFunc(func(ctx context.Context, ref oci.Reference) (*verify.Result, error) {
	return nil, &verify.VerificationError{Ref: ref, Failures: []verify.Failure{{Candidate: "test", Err: errors.New("bad signature")}}}
})

// assertUntouched checks that dir holds want and nothing is left beside it.
func assertUntouched(t *testing.T, dir string, want map[string]string, wantSiblings []string) {
	t.Helper()
	if diff := cmp.Diff(want, tree(t, dir)); diff != "" {
		t.Errorf("dir changed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantSiblings, siblings(t, dir)); diff != "" {
		t.Errorf("leftovers beside dir (-want +got):\n%s", diff)
	}
}

func TestFetchFailuresLeaveDirUntouched(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(e *env) ocisource.Source
		phase     error
		cause     error
		noBlobGET bool
	}{
		{
			name: "verification fails",
			setup: func(e *env) ocisource.Source {
				e.push("app:v2", v2)
				s := e.src(ocisource.Ref{Tag: "v2"})
				s.Verifier = rejectAll
				return s
			},
			phase: ocisource.ErrVerification, cause: verify.ErrVerificationFailed, noBlobGET: true,
		},
		{
			name: "tampered blob",
			setup: func(e *env) ocisource.Source {
				e.push("app:v2", v2)
				e.reg.Inject(ocitest.Fault{Method: http.MethodGet, PathContains: "/blobs/", Body: []byte("\x1f\x8b garbage of some length"), Times: 1})
				return e.src(ocisource.Ref{Tag: "v2"})
			},
			phase: ocisource.ErrFetchFailed,
		},
		{
			name: "blob of the right size with other bytes",
			setup: func(e *env) ocisource.Source {
				d := e.push("app:v2", v2)
				m, err := e.reg.Client().Manifest(e.ctx, e.reg.Ref("app:v2").WithDigest(d.Digest))
				if err != nil {
					e.t.Fatal(err)
				}
				// Gzip magic, then zeros: a valid-looking start, the exact size.
				same := make([]byte, m.Layers[0].Size)
				copy(same, "\x1f\x8b")
				e.reg.Inject(ocitest.Fault{Method: http.MethodGet, PathContains: "/blobs/" + string(m.Layers[0].Digest), Body: same, Times: 1})
				return e.src(ocisource.Ref{Tag: "v2"})
			},
			phase: ocisource.ErrFetchFailed, cause: oci.ErrDigestMismatch,
		},
		{
			name: "truncated blob",
			setup: func(e *env) ocisource.Source {
				e.push("app:v2", v2)
				e.reg.Inject(ocitest.Fault{Method: http.MethodGet, PathContains: "/blobs/", Truncate: 20})
				return e.src(ocisource.Ref{Tag: "v2"})
			},
			phase: ocisource.ErrFetchFailed,
		},
		{
			name: "unsafe archive",
			setup: func(e *env) ocisource.Source {
				e.reg.PushBytes(e.ctx, "app:evil", oci.MediaTypeFluxContent, tarOf(e.t, "../escape", "x"))
				return e.src(ocisource.Ref{Tag: "evil"})
			},
			phase: ocisource.ErrStorageFailed, cause: tarball.ErrInsecurePath,
		},
		{
			name: "missing tag",
			setup: func(e *env) ocisource.Source {
				return e.src(ocisource.Ref{Tag: "nope"})
			},
			phase: ocisource.ErrFetchFailed, cause: oci.ErrNotFound, noBlobGET: true,
		},
		{
			name: "no semver match",
			setup: func(e *env) ocisource.Source {
				return e.src(ocisource.Ref{SemVer: ">=5"})
			},
			phase: ocisource.ErrFetchFailed, noBlobGET: true,
		},
		{
			name: "no layer of the media type",
			setup: func(e *env) ocisource.Source {
				e.push("app:v2", v2)
				s := e.src(ocisource.Ref{Tag: "v2"})
				s.Layer.MediaType = "application/x-other"
				return s
			},
			phase: ocisource.ErrFetchFailed, cause: ocisource.ErrLayerNotFound, noBlobGET: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.push("app:v1", v1)
			if _, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), e.dir); err != nil {
				t.Fatal(err)
			}
			before := siblings(t, e.dir)
			src := tt.setup(e)
			e.reg.ResetRequests()
			_, err := e.f.Fetch(e.ctx, src, e.dir)
			if !errors.Is(err, tt.phase) {
				t.Fatalf("err = %v, want phase %v", err, tt.phase)
			}
			if tt.cause != nil && !errors.Is(err, tt.cause) {
				t.Errorf("err = %v, want cause %v", err, tt.cause)
			}
			var fe *ocisource.FetchError
			if !errors.As(err, &fe) || fe.URL != e.reg.URL("app") {
				t.Errorf("error %v does not name the URL", err)
			}
			assertUntouched(t, e.dir, v1, before)
			if tt.noBlobGET {
				if n := e.reg.CountRequests(http.MethodGet, "/blobs/"); n != 0 {
					t.Errorf("%d blob GETs before the failure", n)
				}
			}
			// The old revision is still recognised.
			a, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), e.dir)
			if err != nil || !a.FromCache {
				t.Errorf("refetch of v1: FromCache=%v err=%v", a != nil && a.FromCache, err)
			}
		})
	}
}

func TestFetchLayerSizeBoundedBeforeDownload(t *testing.T) {
	e := newEnv(t, ocisource.WithMaxLayerSize(64))
	e.push("app:v1", v1) // a tar.gz of a few hundred bytes
	e.reg.ResetRequests()
	_, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), e.dir)
	if !errors.Is(err, ocisource.ErrFetchFailed) || !errors.Is(err, oci.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrFetchFailed wrapping oci.ErrTooLarge", err)
	}
	if n := e.reg.CountRequests(http.MethodGet, "/blobs/"); n != 0 {
		t.Errorf("%d blob GETs for a layer over the limit", n)
	}
	if _, err := os.Stat(e.dir); !os.IsNotExist(err) {
		t.Errorf("target exists after the refusal: %v", err)
	}
	if _, err := ocisource.NewFetcher(ocisource.WithMaxLayerSize(0)); err == nil {
		t.Error("WithMaxLayerSize(0) accepted")
	}
}

func TestFetchInvalidSource(t *testing.T) {
	e := newEnv(t)
	for _, src := range []ocisource.Source{
		{URL: "https://example.com/app"},
		{URL: e.reg.URL("app") + ":v1"},
		{URL: e.reg.URL("app"), Ref: ocisource.Ref{Digest: "sha256:../../x"}},
		{URL: e.reg.URL("app"), Ref: ocisource.Ref{SemVer: ">>1"}},
		{URL: e.reg.URL("app"), Ref: ocisource.Ref{SemVerFilter: "x"}},
		{URL: e.reg.URL("app"), Layer: ocisource.LayerSelector{Operation: "untar"}},
		{URL: e.reg.URL("app"), Layer: ocisource.LayerSelector{Operation: ocisource.LayerCopy}, Ignore: []string{"*.md"}},
		{URL: e.reg.URL("app"), Ignore: []string{"[unclosed"}},
	} {
		e.reg.ResetRequests()
		_, err := e.f.Fetch(e.ctx, src, e.dir)
		if !errors.Is(err, ocisource.ErrInvalidSource) {
			t.Errorf("Fetch(%+v) err = %v, want ErrInvalidSource", src, err)
		}
		if n := len(e.reg.Requests()); n != 0 {
			t.Errorf("Fetch(%+v) made %d requests before refusing the source", src, n)
		}
	}
}

func TestFetchCopyAndIgnore(t *testing.T) {
	e := newEnv(t)
	e.push("app:v1", map[string]string{"a.yaml": "a", "README.md": "docs", "docs/x.md": "x"})

	src := e.src(ocisource.Ref{Tag: "v1"})
	src.Ignore = []string{"*.md"}
	if _, err := e.f.Fetch(e.ctx, src, e.dir); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a.yaml": "a"}, tree(t, e.dir)); diff != "" {
		t.Errorf("ignore (-want +got):\n%s", diff)
	}

	src = e.src(ocisource.Ref{Tag: "v1"})
	src.Layer.Operation = ocisource.LayerCopy
	a, err := e.f.Fetch(e.ctx, src, e.dir)
	if err != nil {
		t.Fatal(err)
	}
	got := tree(t, e.dir)
	if len(got) != 1 || int64(len(got["layer"])) != a.Size || oci.DigestOf([]byte(got["layer"])) != a.Layer.Digest {
		t.Errorf("copy wrote %d files; layer %d bytes, want the %d-byte blob %s", len(got), len(got["layer"]), a.Size, a.Layer.Digest)
	}
}

func TestFetchCreatesParentDirs(t *testing.T) {
	e := newEnv(t)
	e.push("app:v1", v1)
	dir := filepath.Join(t.TempDir(), "a", "b", "content")
	if _, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), dir); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(v1, tree(t, dir)); diff != "" {
		t.Errorf("content (-want +got):\n%s", diff)
	}
}

func TestFetchProgress(t *testing.T) {
	var events []ocisource.Progress
	e := newEnv(t, ocisource.WithProgress(func(p ocisource.Progress) { events = append(events, p) }))
	e.push("app:v1", v1)
	if _, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), e.dir); err != nil {
		t.Fatal(err)
	}
	var phases []ocisource.Phase
	for _, ev := range events {
		if len(phases) == 0 || phases[len(phases)-1] != ev.Phase {
			phases = append(phases, ev.Phase)
		}
	}
	if diff := cmp.Diff([]ocisource.Phase{ocisource.PhaseResolve, ocisource.PhaseDownload, ocisource.PhaseDone}, phases); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	last := events[len(events)-1]
	if last.Bytes != last.Total || last.Total == 0 {
		t.Errorf("last event = %+v", last)
	}
}

func TestFetchVerifiedKeyedAndKeyless(t *testing.T) {
	e := newEnv(t)
	d := e.push("app:v1", v1)
	pinned := e.reg.Ref("app:v1").WithDigest(d.Digest)
	key, err := verifytest.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	store, err := verifytest.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	root, err := store.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}
	client := e.reg.Client()
	if _, err := verifytest.SignLegacy(e.ctx, client, pinned, key, verifytest.WithoutTransparencyLog()); err != nil {
		t.Fatal(err)
	}
	ci := store.Keyless("https://token.actions.githubusercontent.com", "release@example.com")
	if _, err := verifytest.SignBundle(e.ctx, client, pinned, ci, verifytest.WithTransparencyLog(store)); err != nil {
		t.Fatal(err)
	}

	keyed, err := cosign.New(cosign.WithClient(client), cosign.WithKeys(key.PublicKeyPEM()))
	if err != nil {
		t.Fatal(err)
	}
	keyless, err := cosign.New(cosign.WithClient(client), cosign.WithTrustedRootJSON(root),
		cosign.WithIdentities(cosign.Identity{Issuer: ci.Issuer(), SubjectRegExp: `.*@example\.com`}))
	if err != nil {
		t.Fatal(err)
	}
	wrongID, err := cosign.New(cosign.WithClient(client), cosign.WithTrustedRootJSON(root),
		cosign.WithIdentities(cosign.Identity{Issuer: ci.Issuer(), Subject: "someone@else.com"}))
	if err != nil {
		t.Fatal(err)
	}
	both, err := verify.AllOf(keyed, keyless)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		verifier verify.Verifier
		ok       bool
	}{
		{"keyed", keyed, true},
		{"keyless", keyless, true},
		{"both", both, true},
		{"wrong identity", wrongID, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			src := e.src(ocisource.Ref{Tag: "v1"})
			src.Verifier = tc.verifier
			a, err := e.f.Fetch(e.ctx, src, dir)
			if !tc.ok {
				if !errors.Is(err, ocisource.ErrVerification) {
					t.Fatalf("err = %v, want ErrVerification", err)
				}
				if _, err := os.Stat(dir); !os.IsNotExist(err) {
					t.Errorf("dir exists after failed verification: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Verification == nil || len(a.Verification.Signatures) == 0 {
				t.Fatalf("no verification result: %+v", a)
			}
			if diff := cmp.Diff(v1, tree(t, dir)); diff != "" {
				t.Errorf("content (-want +got):\n%s", diff)
			}
		})
	}
}
