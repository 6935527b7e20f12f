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

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
)

func TestConflictingOptions(t *testing.T) {
	for name, opts := range map[string][]oci.Option{
		"two auths":           {oci.WithBasicAuth("a", "b"), oci.WithBearerToken("t")},
		"transport and CA":    {oci.WithTransport(http.DefaultTransport), oci.WithCACertPool(x509.NewCertPool())},
		"transport and proxy": {oci.WithProxy(http.ProxyFromEnvironment), oci.WithTransport(http.DefaultTransport)},
		"negative retries":    {oci.WithRetries(-1, 0)},
		"zero manifest size":  {oci.WithMaxManifestSize(0)},
		"missing CA file":     {oci.WithCAFile("/does/not/exist.pem")},
		"empty username":      {oci.WithBasicAuth("", "x")},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := oci.NewClient(opts...); !errors.Is(err, oci.ErrInvalidOption) {
				t.Fatalf("err = %v, want ErrInvalidOption", err)
			}
		})
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
