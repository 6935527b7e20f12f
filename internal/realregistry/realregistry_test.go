package realregistry_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/ocisource/ocisource/internal/realregistry"
)

// get sends GET url with optional basic auth and returns status, headers and
// at most 64 KiB of the body.
func get(t *testing.T, client *http.Client, url, user, pass string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

func TestIntegrationRegistryTLSAndAuth(t *testing.T) {
	reg := realregistry.Start(t)
	client := &http.Client{Transport: reg.Transport(), Timeout: 10 * time.Second}
	t.Cleanup(client.CloseIdleConnections)

	tests := []struct {
		name       string
		user, pass string
		wantStatus int
	}{
		{name: "right credentials", user: reg.Username, pass: reg.Password, wantStatus: http.StatusOK},
		{name: "no credentials", wantStatus: http.StatusUnauthorized},
		{name: "wrong password", user: reg.Username, pass: reg.Password + "x", wantStatus: http.StatusUnauthorized},
		{name: "unknown user", user: "nobody", pass: reg.Password, wantStatus: http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, hdr, body := get(t, client, reg.URL()+"/v2/", tc.user, tc.pass)
			if status != tc.wantStatus {
				t.Fatalf("GET /v2/ as %q: status %d, want %d; body %q", tc.user, status, tc.wantStatus, body)
			}
			if status == http.StatusUnauthorized {
				if got, want := hdr.Get("WWW-Authenticate"), `Basic realm="`+realregistry.DefaultRealm+`"`; got != want {
					t.Errorf("WWW-Authenticate = %q, want %q", got, want)
				}
			}
		})
	}

	t.Run("client without the CA is refused", func(t *testing.T) {
		plain := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}, Timeout: 10 * time.Second}
		defer plain.CloseIdleConnections()
		_, err := plain.Get(reg.URL() + "/v2/")
		var verr *tls.CertificateVerificationError
		if !errors.As(err, &verr) {
			t.Fatalf("GET /v2/ without trusting the CA: err = %v, want a *tls.CertificateVerificationError", err)
		}
	})
}

func TestIntegrationRegistryPushPullDelete(t *testing.T) {
	reg := realregistry.Start(t)
	ctx := t.Context()
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuth(&authn.Basic{Username: reg.Username, Password: reg.Password}),
		remote.WithTransport(reg.Transport()),
	}

	img, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	wantDigest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(reg.Repo("team/app:v1"), name.StrictValidation)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, opts...); err != nil {
		t.Fatalf("remote.Write(%s): %v", tag, err)
	}

	desc, err := remote.Get(tag, opts...)
	if err != nil {
		t.Fatalf("remote.Get(%s): %v", tag, err)
	}
	if desc.Digest != wantDigest {
		t.Errorf("remote.Get(%s).Digest = %s, want %s", tag, desc.Digest, wantDigest)
	}
	pulled, err := desc.Image()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := pulled.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		// Reading the compressed layer makes go-containerregistry check its digest.
		rc, err := l.Compressed()
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatalf("layer %d: reading: %v", i, err)
		}
		if err := rc.Close(); err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
	}

	tags, err := remote.List(tag.Repository, opts...)
	if err != nil {
		t.Fatalf("remote.List(%s): %v", tag.Repository, err)
	}
	if diff := cmp.Diff([]string{"v1"}, tags); diff != "" {
		t.Errorf("tags of %s (-want +got):\n%s", tag.Repository, diff)
	}

	// storage.delete.enabled is on: deleting by digest works and the manifest is gone.
	byDigest := tag.Repository.Digest(wantDigest.String())
	if err := remote.Delete(byDigest, opts...); err != nil {
		t.Fatalf("remote.Delete(%s): %v", byDigest, err)
	}
	_, err = remote.Get(byDigest, opts...)
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusNotFound {
		t.Fatalf("remote.Get after delete: err = %v, want a 404 *transport.Error", err)
	}
}

// Distribution v3.1.2 has no OCI 1.1 referrers API: the endpoint answers 404
// and clients fall back to the referrers tag schema (tag sha256-<hex>).
func TestIntegrationRegistryReferrersFallback(t *testing.T) {
	reg := realregistry.Start(t)
	opts := []remote.Option{
		remote.WithContext(t.Context()),
		remote.WithAuth(&authn.Basic{Username: reg.Username, Password: reg.Password}),
		remote.WithTransport(reg.Transport()),
	}
	repo, err := name.NewRepository(reg.Repo("with/referrers"))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(repo.Tag("v1"), subject, opts...); err != nil {
		t.Fatal(err)
	}
	subjectDesc, err := partial.Descriptor(subject)
	if err != nil {
		t.Fatal(err)
	}
	sigBase, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	referrer := mutate.Subject(sigBase, *subjectDesc).(v1.Image)
	referrerDigest, err := referrer.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(repo.Digest(referrerDigest.String()), referrer, opts...); err != nil {
		t.Fatalf("push referrer: %v", err)
	}

	client := &http.Client{Transport: reg.Transport(), Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	status, _, body := get(t, client, reg.URL()+"/v2/with/referrers/referrers/"+subjectDesc.Digest.String(), reg.Username, reg.Password)
	if status != http.StatusNotFound {
		t.Errorf("GET referrers API: status %d (body %q), want 404: distribution v3.1.2 has no referrers API; if it now has one, update the package doc", status, body)
	}

	idx, err := remote.Referrers(repo.Digest(subjectDesc.Digest.String()), opts...)
	if err != nil {
		t.Fatalf("remote.Referrers: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var got []v1.Hash
	for _, m := range im.Manifests {
		got = append(got, m.Digest)
	}
	if diff := cmp.Diff([]v1.Hash{referrerDigest}, got); diff != "" {
		t.Errorf("referrers found through the tag schema (-want +got):\n%s", diff)
	}
	tags, err := remote.List(repo, opts...)
	if err != nil {
		t.Fatal(err)
	}
	fallback := strings.Replace(subjectDesc.Digest.String(), ":", "-", 1)
	if diff := cmp.Diff([]string{fallback, "v1"}, tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
}

func TestIntegrationRegistryDockerConfig(t *testing.T) {
	reg := realregistry.Start(t)
	t.Setenv("DOCKER_CONFIG", reg.DockerConfigDir)

	repo, err := name.NewRepository(reg.Repo("from/docker-config"))
	if err != nil {
		t.Fatal(err)
	}
	auth, err := authn.DefaultKeychain.Resolve(repo.Registry)
	if err != nil {
		t.Fatalf("DefaultKeychain.Resolve(%s): %v", repo.Registry, err)
	}
	got, err := auth.Authorization()
	if err != nil {
		t.Fatal(err)
	}
	want := &authn.AuthConfig{Username: reg.Username, Password: reg.Password}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("credentials from %s/config.json (-want +got):\n%s", reg.DockerConfigDir, diff)
	}

	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(repo.Tag("latest"), img,
		remote.WithContext(t.Context()),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithTransport(reg.Transport())); err != nil {
		t.Fatalf("push with the docker config's credentials: %v", err)
	}
}

func TestIntegrationRegistryTagPagination(t *testing.T) {
	reg := realregistry.Start(t, realregistry.WithMaxTags(2))
	opts := []remote.Option{
		remote.WithContext(t.Context()),
		remote.WithAuth(&authn.Basic{Username: reg.Username, Password: reg.Password}),
		remote.WithTransport(reg.Transport()),
	}
	repo, err := name.NewRepository(reg.Repo("paged"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range []string{"a", "b", "c", "d", "e"} {
		if err := remote.Write(repo.Tag(tg), img, opts...); err != nil {
			t.Fatalf("push %s: %v", tg, err)
		}
	}

	// Follow the Link headers by hand: go-containerregistry's remote.List
	// cannot, because it takes 127.0.0.1 for a plain-HTTP registry and rejects
	// the https next-page URL as a scheme change.
	client := &http.Client{Transport: reg.Transport(), Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	var pages [][]string
	next := reg.URL() + "/v2/paged/tags/list?n=100"
	for next != "" && len(pages) < 10 {
		status, hdr, body := get(t, client, next, reg.Username, reg.Password)
		if status != http.StatusOK {
			t.Fatalf("GET %s: status %d, body %q", next, status, body)
		}
		var page struct {
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatalf("GET %s: body %q: %v", next, body, err)
		}
		pages = append(pages, page.Tags)
		next = ""
		if link := hdr.Get("Link"); link != "" {
			target, rest, ok := strings.Cut(strings.TrimPrefix(link, "<"), ">")
			if !ok || !strings.Contains(rest, `rel="next"`) {
				t.Fatalf("Link header %q is not <url>; rel=\"next\"", link)
			}
			u, err := url.Parse(reg.URL())
			if err != nil {
				t.Fatal(err)
			}
			ref, err := u.Parse(target)
			if err != nil || ref.Host != reg.Host {
				t.Fatalf("Link header %q: next page %v is not on %s (err %v)", link, ref, reg.Host, err)
			}
			next = ref.String()
		}
	}
	// n=100 is clamped to maxtags=2; the last page is not followed by a link.
	if diff := cmp.Diff([][]string{{"a", "b"}, {"c", "d"}, {"e"}}, pages); diff != "" {
		t.Errorf("tag pages with maxtags 2 (-want +got):\n%s", diff)
	}

	// Without n the registry returns every tag in one response. (go-containerregistry's
	// remote.List always sends n, so it trips over the https Link here.)
	status, hdr, body := get(t, client, reg.URL()+"/v2/paged/tags/list", reg.Username, reg.Password)
	if status != http.StatusOK || hdr.Get("Link") != "" {
		t.Fatalf("tags/list without n: status %d, Link %q, want 200 and no Link", status, hdr.Get("Link"))
	}
	if want := `{"name":"paged","tags":["a","b","c","d","e"]}`; strings.TrimSpace(body) != want {
		t.Errorf("tags/list without n = %s, want %s", body, want)
	}
}

func TestIntegrationRegistriesAreIsolated(t *testing.T) {
	a := realregistry.Start(t)
	b := realregistry.Start(t)
	if a.Host == b.Host || a.Password == b.Password || a.CAFile == b.CAFile {
		t.Fatalf("two registries share host, password or CA: %+v %+v", a, b)
	}
	// b's client must not trust a's certificate: every registry has its own CA.
	client := &http.Client{Transport: b.Transport(), Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	_, err := client.Get(a.URL() + "/v2/")
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Fatalf("GET registry A trusting only B's CA: err = %v, want a *tls.CertificateVerificationError", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ref, err := name.ParseReference(a.Repo("none:latest"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Get(ref, remote.WithContext(ctx), remote.WithTransport(a.Transport()),
		remote.WithAuth(&authn.Basic{Username: b.Username, Password: b.Password})); err == nil {
		t.Fatal("registry A accepted registry B's credentials")
	}
}

// The cosign CLI signs and verifies against the registry with only CLIEnv:
// credentials from the Docker config, trust from the CA file, no network.
func TestIntegrationCosignCLI(t *testing.T) {
	reg := realregistry.Start(t)
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(reg.Repo("signed:v1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithContext(t.Context()), remote.WithTransport(reg.Transport()),
		remote.WithAuth(&authn.Basic{Username: reg.Username, Password: reg.Password})); err != nil {
		t.Fatal(err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.Repo("signed@" + digest.String())

	work := t.TempDir()
	cosign := func(args ...string) (string, error) {
		cmd := reg.Command(t, "cosign", args...)
		cmd.Dir = work
		cmd.Env = append(cmd.Env, "COSIGN_PASSWORD=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	mustCosign := func(args ...string) string {
		out, err := cosign(args...)
		if err != nil {
			t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	mustCosign("generate-key-pair", "--output-key-prefix", "signer")
	mustCosign("generate-key-pair", "--output-key-prefix", "other")
	mustCosign("sign", "--yes", "--key", "signer.key", "--tlog-upload=false", ref)

	out := mustCosign("verify", "--key", "signer.pub", "--insecure-ignore-tlog=true", ref)
	if !strings.Contains(out, `"docker-manifest-digest":"`+digest.String()+`"`) {
		t.Errorf("cosign verify output does not name %s:\n%s", digest, out)
	}
	if out, err := cosign("verify", "--key", "other.pub", "--insecure-ignore-tlog=true", ref); err == nil || !strings.Contains(out, "no matching signatures") {
		t.Errorf("cosign verify with another key: err = %v, want a failure for no matching signatures:\n%s", err, out)
	}

	tags, err := remote.List(tag.Repository, remote.WithContext(t.Context()), remote.WithTransport(reg.Transport()),
		remote.WithAuth(&authn.Basic{Username: reg.Username, Password: reg.Password}))
	if err != nil {
		t.Fatal(err)
	}
	sigTag := strings.Replace(digest.String(), ":", "-", 1) + ".sig"
	if diff := cmp.Diff([]string{sigTag, "v1"}, tags); diff != "" {
		t.Errorf("tags after cosign sign (-want +got):\n%s", diff)
	}
}
