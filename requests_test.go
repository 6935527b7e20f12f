package ocisource_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// requestKinds sorts a request log into kinds: "ping", "tags", "HEAD tag",
// "GET manifest by digest", "GET signature manifest", "GET blob", ...
func requestKinds(reqs []ocitest.Request) map[string]int {
	out := map[string]int{}
	for _, r := range reqs {
		var kind string
		switch {
		case r.Path == "/v2/" || r.Path == "/v2":
			kind = "ping"
		case strings.Contains(r.Path, "/tags/list"):
			kind = "tags"
		case strings.Contains(r.Path, "/referrers/"):
			kind = "referrers"
		case strings.Contains(r.Path, "/manifests/sha256-"):
			kind = r.Method + " signature manifest"
		case strings.Contains(r.Path, "/manifests/sha256:"):
			kind = r.Method + " manifest by digest"
		case strings.Contains(r.Path, "/manifests/"):
			kind = r.Method + " manifest by tag"
		case strings.Contains(r.Path, "/blobs/"):
			kind = r.Method + " blob"
		default:
			kind = r.Method + " " + r.Path
		}
		out[kind]++
	}
	return out
}

// TestFetchRequestCounts pins the exact requests of a keyed-verified fetch,
// by kind, cold and from cache, by tag, semver range and digest: the
// figures the README gives (a cold fetch by tag: 5 requests, by semver 6,
// by digest 5; a cache hit: one HEAD by tag, the tag list and one HEAD by
// semver, none by digest).
func TestFetchRequestCounts(t *testing.T) {
	e := newEnv(t)
	d := e.push("app:1.0.0", v1)
	key, _ := verifytest.NewKeyPair()
	if _, err := verifytest.SignLegacy(e.ctx, e.reg.Client(), e.reg.Ref("app:1.0.0").WithDigest(d.Digest), key, verifytest.WithoutTransparencyLog()); err != nil {
		t.Fatal(err)
	}
	v, err := cosign.New(cosign.WithKeys(key.PublicKeyPEM()))
	if err != nil {
		t.Fatal(err)
	}
	// A first fetch resolves the tag with a GET (no record, no cache hit
	// possible), which also brings the manifest; by digest it GETs it.
	cold := map[string]int{"ping": 1, "GET manifest by tag": 1, "GET signature manifest": 1, "GET blob": 2}
	for _, tc := range []struct {
		name      string
		ref       ocisource.Ref
		cold, hit map[string]int
	}{
		{"tag", ocisource.Ref{Tag: "1.0.0"}, cold, map[string]int{"HEAD manifest by tag": 1}},
		{"semver", ocisource.Ref{SemVer: "1.x"}, with(cold, "tags", 1), map[string]int{"tags": 1, "HEAD manifest by tag": 1}},
		{"digest", ocisource.Ref{Digest: string(d.Digest)}, with(without(cold, "GET manifest by tag"), "GET manifest by digest", 1), map[string]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A fresh client for the cold fetch, so its one ping is
			// counted; the cache hit reuses it, as a long-lived process does.
			f, err := ocisource.NewFetcher(ocisource.WithClient(e.reg.Client()))
			if err != nil {
				t.Fatal(err)
			}
			src := e.src(tc.ref)
			src.Verifier = v
			dir := t.TempDir() + "/out"
			for round, want := range []map[string]int{tc.cold, tc.hit} {
				e.reg.ResetRequests()
				a, err := f.Fetch(e.ctx, src, dir)
				if err != nil {
					t.Fatal(err)
				}
				if a.FromCache != (round == 1) {
					t.Errorf("round %d: FromCache = %v", round, a.FromCache)
				}
				if diff := cmp.Diff(want, requestKinds(e.reg.Requests())); diff != "" {
					t.Errorf("%s requests (-want +got):\n%s", []string{"cold", "cache hit"}[round], diff)
				}
				total := 0
				for _, n := range want {
					total += n
				}
				t.Logf("%s by %s: %d requests %v", []string{"cold", "cache hit"}[round], tc.name, total, fmt.Sprint(want))
			}
		})
	}
}

func with(m map[string]int, k string, n int) map[string]int {
	out := map[string]int{k: n}
	for kk, v := range m {
		out[kk] += v
	}
	return out
}

func without(m map[string]int, k string) map[string]int {
	out := map[string]int{}
	for kk, v := range m {
		if kk != k {
			out[kk] = v
		}
	}
	return out
}
