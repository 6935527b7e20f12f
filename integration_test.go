package ocisource_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/internal/realregistry"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/push"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// countingTransport counts requests by method and whether they fetch a blob.
type countingTransport struct {
	inner       http.RoundTripper
	total, blob atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.total.Add(1)
	if r.Method == http.MethodGet && filepath.Base(filepath.Dir(r.URL.Path)) == "blobs" {
		c.blob.Add(1)
	}
	return c.inner.RoundTrip(r)
}

// TestIntegrationFetcher runs the whole flow against CNCF Distribution over
// TLS with htpasswd auth: by tag, semver and digest; keyed and keyless
// verification; a failed verification that leaves the directory untouched;
// and a cache hit that downloads nothing.
func TestIntegrationFetcher(t *testing.T) {
	reg := realregistry.Start(t)
	ctx := context.Background()
	counter := &countingTransport{inner: reg.Transport()}
	client, err := oci.NewClient(oci.WithTransport(counter), oci.WithBasicAuth(reg.Username, reg.Password))
	if err != nil {
		t.Fatal(err)
	}
	url := "oci://" + reg.Host + "/org/manifests"
	repo, _ := oci.ParseURL(url)

	push := func(tag string, files map[string]string) oci.Reference {
		t.Helper()
		dir := t.TempDir()
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		layer, cleanup, err := push.LayerFromDir(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer cleanup()
		d, err := push.Artifact(ctx, client, repo.WithTag(tag), layer, push.WithSource("https://example.com/app.git"))
		if err != nil {
			t.Fatal(err)
		}
		return repo.WithTag(tag).WithDigest(d.Digest)
	}
	v100 := push("1.0.0", map[string]string{"app.yaml": "version: 1.0.0\n"})
	v110 := push("1.1.0", map[string]string{"app.yaml": "version: 1.1.0\n"})
	unsigned := push("1.2.0-rc.1", map[string]string{"app.yaml": "version: 1.2.0-rc.1\n"})

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
	ci := store.Keyless("https://issuer.example.com", "release@example.com")
	for _, ref := range []oci.Reference{v100, v110} {
		if _, err := verifytest.SignLegacy(ctx, client, ref, key, verifytest.WithoutTransparencyLog()); err != nil {
			t.Fatal(err)
		}
		if _, err := verifytest.SignBundle(ctx, client, ref, ci, verifytest.WithTransparencyLog(store)); err != nil {
			t.Fatal(err)
		}
	}
	keyed, err := cosign.New(cosign.WithClient(client), cosign.WithKeys(key.PublicKeyPEM()))
	if err != nil {
		t.Fatal(err)
	}
	keyless, err := cosign.New(cosign.WithClient(client), cosign.WithTrustedRootJSON(root),
		cosign.WithIdentities(cosign.Identity{Issuer: ci.Issuer(), Subject: ci.Subject()}))
	if err != nil {
		t.Fatal(err)
	}
	fetcher, err := ocisource.NewFetcher(ocisource.WithClient(client))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "content")

	for _, tc := range []struct {
		name    string
		src     ocisource.Source
		want    string
		wantRev string
	}{
		{"tag keyed", ocisource.Source{URL: url, Ref: ocisource.Ref{Tag: "1.0.0"}, Verifier: keyed}, "version: 1.0.0\n", "1.0.0@" + string(v100.Digest)},
		{"semver keyless", ocisource.Source{URL: url, Ref: ocisource.Ref{SemVer: "1.x"}, Verifier: keyless}, "version: 1.1.0\n", "1.1.0@" + string(v110.Digest)},
		{"digest keyed", ocisource.Source{URL: url, Ref: ocisource.Ref{Digest: string(v100.Digest)}, Verifier: keyed}, "version: 1.0.0\n", string(v100.Digest)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := fetcher.Fetch(ctx, tc.src, dir)
			if err != nil {
				t.Fatal(err)
			}
			if a.Revision != tc.wantRev || a.FromCache || a.Verification == nil {
				t.Errorf("artifact = %+v, want revision %s, verified, not from cache", a, tc.wantRev)
			}
			if diff := cmp.Diff(map[string]string{"app.yaml": tc.want}, tree(t, dir)); diff != "" {
				t.Errorf("content (-want +got):\n%s", diff)
			}
			t.Logf("fetched %s, %d signature(s) verified", a.Revision, len(a.Verification.Signatures))
		})
	}

	t.Run("unsigned rejected, dir untouched", func(t *testing.T) {
		before := tree(t, dir)
		counter.blob.Store(0)
		_, err := fetcher.Fetch(ctx, ocisource.Source{URL: url, Ref: ocisource.Ref{Tag: unsigned.Tag}, Verifier: keyed}, dir)
		if !errors.Is(err, ocisource.ErrVerification) {
			t.Fatalf("err = %v, want ErrVerification", err)
		}
		if diff := cmp.Diff(before, tree(t, dir)); diff != "" {
			t.Errorf("dir changed (-before +after):\n%s", diff)
		}
		if n := counter.blob.Load(); n != 0 {
			t.Errorf("%d blob GETs for an artifact that failed verification", n)
		}
	})

	t.Run("cache hit", func(t *testing.T) {
		src := ocisource.Source{URL: url, Ref: ocisource.Ref{Tag: "1.0.0"}, Verifier: keyed}
		if _, err := fetcher.Fetch(ctx, src, dir); err != nil {
			t.Fatal(err)
		}
		counter.total.Store(0)
		counter.blob.Store(0)
		a, err := fetcher.Fetch(ctx, src, dir)
		if err != nil {
			t.Fatal(err)
		}
		if !a.FromCache || counter.blob.Load() != 0 || counter.total.Load() != 1 {
			t.Errorf("FromCache=%v with %d requests (%d blob GETs), want a cache hit in 1 request", a.FromCache, counter.total.Load(), counter.blob.Load())
		}
	})
}
