package oci_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
)

// TestConflictingOptions lists every pair of options that contradict each
// other: the same setting made twice (which would silently override), and
// settings that cannot hold together. Each is an *OptionConflictError naming
// both options, in either order.
func TestConflictingOptions(t *testing.T) {
	dir := t.TempDir()
	ca, key := filepath.Join("testdata", "ca.pem"), filepath.Join("testdata", "ca.key")
	named := map[string]oci.Option{
		"WithKeychain":          oci.WithKeychain(authn.DefaultKeychain),
		"WithDockerConfig":      oci.WithDockerConfig(dir),
		"WithBasicAuth":         oci.WithBasicAuth("a", "b"),
		"WithBearerToken":       oci.WithBearerToken("t"),
		"WithAnonymous":         oci.WithAnonymous(),
		"WithCACertPool":        oci.WithCACertPool(x509.NewCertPool()),
		"WithCAFile":            oci.WithCAFile(ca),
		"WithClientCertificate": oci.WithClientCertificate(ca, key),
		"WithInsecure":          oci.WithInsecure(),
		"WithProxy":             oci.WithProxy(http.ProxyFromEnvironment),
		"WithTransport":         oci.WithTransport(http.DefaultTransport),
		"WithRetries":           oci.WithRetries(1, time.Millisecond),
		"WithUserAgent":         oci.WithUserAgent("x"),
		"WithMaxManifestSize":   oci.WithMaxManifestSize(1),
		"WithMaxErrorBodySize":  oci.WithMaxErrorBodySize(1),
		"WithMaxTagPages":       oci.WithMaxTagPages(1),
		"WithMaxTags":           oci.WithMaxTags(1),
		"WithMaxTagListBytes":   oci.WithMaxTagListBytes(1),
		"WithLogger":            oci.WithLogger(slog.Default()),
	}
	auth := []string{"WithKeychain", "WithDockerConfig", "WithBasicAuth", "WithBearerToken", "WithAnonymous"}
	cas := []string{"WithCACertPool", "WithCAFile"}
	type pair struct{ a, b string }
	var conflicts []pair
	for _, group := range [][]string{auth, cas} { // one setting, two options
		for i, a := range group {
			for _, b := range group[i+1:] {
				conflicts = append(conflicts, pair{a, b})
			}
		}
	}
	for name := range named { // any option twice
		conflicts = append(conflicts, pair{name, name})
	}
	for _, tls := range []string{"WithCACertPool", "WithCAFile", "WithClientCertificate"} {
		conflicts = append(conflicts, pair{"WithTransport", tls}, pair{"WithInsecure", tls})
	}
	conflicts = append(conflicts, pair{"WithTransport", "WithProxy"})

	conflicting := map[pair]bool{}
	for _, p := range conflicts {
		conflicting[p], conflicting[pair{p.b, p.a}] = true, true
		for _, order := range []pair{p, {p.b, p.a}} {
			t.Run(order.a+"+"+order.b, func(t *testing.T) {
				_, err := oci.NewClient(named[order.a], named[order.b])
				var ce *oci.OptionConflictError
				if !errors.Is(err, oci.ErrInvalidOption) || !errors.As(err, &ce) {
					t.Fatalf("err = %v, want an *OptionConflictError", err)
				}
				if got := []string{ce.First, ce.Second}; !(got[0] == order.a && got[1] == order.b || got[0] == order.b && got[1] == order.a) {
					t.Errorf("conflict names %q, want %s and %s", got, order.a, order.b)
				}
				if !strings.Contains(err.Error(), order.a) || !strings.Contains(err.Error(), order.b) {
					t.Errorf("message %q does not name both options", err)
				}
			})
		}
	}
	// Every other pair goes together: the list above is the whole list.
	for a := range named {
		for b := range named {
			if a == b || conflicting[pair{a, b}] {
				continue
			}
			if _, err := oci.NewClient(named[a], named[b]); err != nil {
				t.Errorf("%s with %s: %v", a, b, err)
			}
		}
	}
}

func TestMalformedOptions(t *testing.T) {
	for name, opt := range map[string]oci.Option{
		"negative retries":        oci.WithRetries(-1, 0),
		"zero manifest size":      oci.WithMaxManifestSize(0),
		"zero error body size":    oci.WithMaxErrorBodySize(0),
		"zero tag pages":          oci.WithMaxTagPages(0),
		"zero tags":               oci.WithMaxTags(0),
		"negative tag list bytes": oci.WithMaxTagListBytes(-1),
		"missing CA file":         oci.WithCAFile("/does/not/exist.pem"),
		"empty username":          oci.WithBasicAuth("", "x"),
		"empty token":             oci.WithBearerToken(""),
		"nil transport":           oci.WithTransport(nil),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := oci.NewClient(opt); !errors.Is(err, oci.ErrInvalidOption) {
				t.Fatalf("err = %v, want ErrInvalidOption", err)
			}
		})
	}
}

// TestMaxErrorBodySize: the error-body cap has its option like every limit.
func TestMaxErrorBodySize(t *testing.T) {
	reg := ocitest.NewT(t)
	pushArtifact(t, reg, "app:v1", "x")
	body := []byte(`{"errors":[{"code":"DENIED","message":"` + strings.Repeat("m", 2000) + `"}]}`)
	reg.Inject(ocitest.Fault{Method: http.MethodGet, PathContains: "/manifests/", Status: http.StatusForbidden, Body: body})
	ref := reg.Ref("app:v1")
	_, err := reg.Client().Manifest(context.Background(), ref)
	if !errors.Is(err, oci.ErrUnauthorized) {
		t.Fatalf("default cap: err = %v, want ErrUnauthorized", err)
	}
	_, err = reg.Client(oci.WithMaxErrorBodySize(1000)).Manifest(context.Background(), ref)
	if !errors.Is(err, oci.ErrTooLarge) {
		t.Fatalf("1000-byte cap: err = %v, want ErrTooLarge", err)
	}
}

func TestProxyUserAgentAndLogger(t *testing.T) {
	reg := ocitest.NewT(t, ocitest.WithBasicAuth("alice", "s3cret"))
	pushArtifact(t, reg, "app:v1", "x")

	var mu sync.Mutex
	var viaProxy []string
	var agents []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect {
			// The https half of the insecure-registry ping: refuse the tunnel.
			http.Error(w, "no tunnels", http.StatusForbidden)
			return
		}
		mu.Lock()
		viaProxy = append(viaProxy, r.URL.String())
		agents = append(agents, r.UserAgent())
		mu.Unlock()
		// A forward proxy: r.URL is absolute.
		out, _ := http.NewRequestWithContext(r.Context(), r.Method, r.URL.String(), nil)
		out.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = bytes.NewBuffer(nil).ReadFrom(resp.Body)
	}))
	defer proxy.Close()
	proxyURL, _ := url.Parse(proxy.URL)

	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := reg.Client(oci.WithProxy(http.ProxyURL(proxyURL)), oci.WithUserAgent("my-controller/1.0"), oci.WithLogger(logger))
	if _, err := c.Resolve(context.Background(), reg.Ref("app:v1")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(viaProxy) == 0 || !strings.Contains(viaProxy[len(viaProxy)-1], reg.Host()+"/v2/app/manifests/v1") {
		t.Errorf("proxy saw %q", viaProxy)
	}
	for _, ua := range agents {
		if !strings.HasPrefix(ua, "my-controller/1.0") {
			t.Errorf("User-Agent = %q", ua)
		}
	}
	if !strings.Contains(logs.String(), "path=/v2/app/manifests/v1") {
		t.Errorf("log lacks the request:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "s3cret") || strings.Contains(logs.String(), "YWxpY2U6czNjcmV0") {
		t.Errorf("credentials in the log:\n%s", logs.String())
	}
}

func TestClientCertificate(t *testing.T) {
	reg := ocitest.NewT(t)
	pushArtifact(t, reg, "app:v1", "x")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxy(w, r, reg.Host())
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	defer srv.Close()

	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	writePEM(t, caFile, "CERTIFICATE", srv.Certificate().Raw)
	// httptest's own certificate doubles as a client certificate.
	certFile, keyFile := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	writePEM(t, certFile, "CERTIFICATE", srv.TLS.Certificates[0].Certificate[0])
	key, err := x509.MarshalPKCS8PrivateKey(srv.TLS.Certificates[0].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, keyFile, "PRIVATE KEY", key)
	ref, _ := oci.ParseReference(strings.TrimPrefix(srv.URL, "https://") + "/app:v1")

	without, _ := oci.NewClient(oci.WithCAFile(caFile), oci.WithAnonymous(), oci.WithRetries(0, 0))
	if _, err := without.Resolve(context.Background(), ref); err == nil {
		t.Error("resolved without the client certificate the server requires")
	}
	with, err := oci.NewClient(oci.WithCAFile(caFile), oci.WithClientCertificate(certFile, keyFile), oci.WithAnonymous())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := with.Resolve(context.Background(), ref); err != nil {
		t.Fatalf("with client certificate: %v", err)
	}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
