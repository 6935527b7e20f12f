package oci_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/oci/push"
)

// layerOf pushes content and returns the repository reference and the layer descriptor.
func layerOf(t *testing.T, reg *ocitest.Registry, content string) (oci.Reference, oci.Descriptor) {
	t.Helper()
	d := pushArtifact(t, reg, "app:v1", content)
	m, err := reg.Client().Manifest(context.Background(), reg.Ref("app").WithDigest(d.Digest))
	if err != nil {
		t.Fatal(err)
	}
	return reg.Ref("app"), m.Layers[0]
}

func readBlob(c *oci.Client, repo oci.Reference, d oci.Descriptor) ([]byte, error) {
	rc, err := c.Blob(context.Background(), repo, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func TestBlobHostileBodies(t *testing.T) {
	const content = "the real layer content"
	tests := []struct {
		name  string
		fault ocitest.Fault
		want  error
	}{
		{"other bytes same length", ocitest.Fault{Body: []byte(strings.Repeat("x", len(content)))}, oci.ErrDigestMismatch},
		{"longer body", ocitest.Fault{Body: []byte(content + "extra")}, oci.ErrSizeMismatch},
		{"shorter body", ocitest.Fault{Body: []byte(content[:5])}, oci.ErrSizeMismatch},
		{"truncated connection", ocitest.Fault{Truncate: 7}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := ocitest.NewT(t)
			repo, layer := layerOf(t, reg, content)
			f := tt.fault
			f.Method, f.PathContains = http.MethodGet, "/blobs/"+string(layer.Digest)
			reg.Inject(f)
			b, err := readBlob(reg.Client(), repo, layer)
			if err == nil {
				t.Fatalf("read %q, want an error", b)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), string(layer.Digest)) {
				t.Errorf("error %q does not name the digest", err)
			}
		})
	}
}

// A server that lies about Content-Length is caught while streaming too.
func TestBlobLongerThanDescriptorWithoutContentLength(t *testing.T) {
	body := strings.Repeat("a", 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		w.(http.Flusher).Flush() // chunked: no Content-Length
		io.WriteString(w, body)
	}))
	defer srv.Close()
	c, _ := oci.NewClient(oci.WithInsecure(), oci.WithAnonymous())
	repo, _ := oci.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/app")
	_, err := readBlob(c, repo, oci.Descriptor{Digest: oci.DigestOf([]byte(body[:10])), Size: 10})
	if !errors.Is(err, oci.ErrSizeMismatch) {
		t.Fatalf("err = %v, want ErrSizeMismatch", err)
	}
}

func TestManifestHostile(t *testing.T) {
	ctx := context.Background()
	t.Run("other bytes for a digest", func(t *testing.T) {
		reg := ocitest.NewT(t)
		d := pushArtifact(t, reg, "app:v1", "x")
		reg.Inject(ocitest.Fault{Method: http.MethodGet, PathContains: "/manifests/", Body: []byte(`{"schemaVersion":2,"layers":[]}`)})
		_, err := reg.Client().Manifest(ctx, reg.Ref("app").WithDigest(d.Digest))
		if !errors.Is(err, oci.ErrDigestMismatch) {
			t.Fatalf("err = %v, want ErrDigestMismatch", err)
		}
	})
	t.Run("endless manifest", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2/" {
				return
			}
			w.Header().Set("Content-Type", oci.MediaTypeOCIManifest)
			chunk := bytes.Repeat([]byte(" "), 64<<10)
			for i := 0; i < 1024; i++ { // 64 MiB unless the client stops reading
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}))
		defer srv.Close()
		c, _ := oci.NewClient(oci.WithInsecure(), oci.WithAnonymous())
		ref, _ := oci.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/app:v1")
		_, err := c.Manifest(ctx, ref)
		if !errors.Is(err, oci.ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
	})
	t.Run("endless error body", func(t *testing.T) {
		const chunkSize, chunks = 64 << 10, 1024 // 64 MiB unless the client stops reading
		var sent atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2/" {
				return
			}
			w.WriteHeader(http.StatusBadRequest)
			chunk := bytes.Repeat([]byte("e"), chunkSize)
			for i := 0; i < chunks; i++ {
				n, err := w.Write(chunk)
				sent.Add(int64(n))
				if err != nil {
					return
				}
			}
		}))
		defer srv.Close()
		// Count what the client takes off the wire, below its own layers.
		counter := &countingTransport{inner: http.DefaultTransport.(*http.Transport).Clone()}
		c, err := oci.NewClient(oci.WithInsecure(), oci.WithAnonymous(), oci.WithRetries(0, 0), oci.WithTransport(counter))
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := oci.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/app:v1")
		_, err = c.Manifest(ctx, ref)
		// The cap fails the read past it; a read of one chunk is slack.
		if got, max := counter.read.Load(), int64(oci.DefaultMaxErrorBodySize+chunkSize); got > max {
			t.Errorf("client read %d bytes of the error body, want at most %d (the %d-byte cap)", got, max, oci.DefaultMaxErrorBodySize)
		}
		if !errors.Is(err, oci.ErrTooLarge) {
			t.Errorf("err = %v, want ErrTooLarge", err)
		}
		// And it hung up: the server could not send the whole body (what it
		// did send includes what the sockets buffered).
		srv.Close() // waits for the handler
		if got := sent.Load(); got >= chunkSize*chunks {
			t.Errorf("server sent the whole %d-byte body: the client kept reading", got)
		}
	})
	t.Run("HEAD announces a huge manifest", func(t *testing.T) {
		reg := ocitest.NewT(t)
		pushArtifact(t, reg, "app:v1", "x")
		reg.Inject(ocitest.Fault{Method: http.MethodHead, PathContains: "/manifests/", Header: http.Header{"Content-Length": {"999999999"}}})
		_, err := reg.Client().Resolve(ctx, reg.Ref("app:v1"))
		if err == nil {
			t.Fatal("resolve accepted a 1 GB manifest")
		}
	})
}

// countingTransport counts the response-body bytes read through it.
type countingTransport struct {
	inner http.RoundTripper
	read  atomic.Int64
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.inner.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.read}
	return resp, nil
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func TestMalformedDigestsRejectedBeforeUse(t *testing.T) {
	reg := ocitest.NewT(t)
	c := reg.Client()
	for _, d := range []string{
		"sha256:../../x",
		"sha256:" + strings.Repeat("A", 64),
		"sha256:" + strings.Repeat("a", 63),
		"md5:" + strings.Repeat("a", 32),
		"sha256:" + strings.Repeat("a", 64) + "/../x",
		"",
	} {
		t.Run(d, func(t *testing.T) {
			_, err := c.Blob(context.Background(), reg.Ref("app"), oci.Descriptor{Digest: oci.Digest(d), Size: 1})
			if !errors.Is(err, oci.ErrInvalidDigest) {
				t.Fatalf("err = %v, want ErrInvalidDigest", err)
			}
		})
	}
	if n := len(reg.Requests()); n != 0 {
		t.Errorf("%d requests reached the registry", n)
	}
}

// listen starts a server on a specific loopback address.
func listen(t *testing.T, addr string, h http.Handler, tlsOn bool) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	if tlsOn {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv
}

type authLog struct {
	mu   sync.Mutex
	seen []string
}

func (a *authLog) add(r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen = append(a.seen, r.Header.Get("Authorization"))
}

func (a *authLog) any() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.seen {
		if s != "" {
			return true
		}
	}
	return false
}

func TestRedirectToOtherHostGetsNoCredentials(t *testing.T) {
	// Larger than every cap but the blob's own: a redirected blob is still a blob.
	content := strings.Repeat("blob in storage ", 512<<10) // 8 MiB
	var storageAuth authLog
	storage := listen(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		storageAuth.add(r)
		io.WriteString(w, content)
	}), false)

	reg := ocitest.NewT(t, ocitest.WithBasicAuth("alice", "s3cret"))
	c := reg.Client(oci.WithBasicAuth("alice", "s3cret"))
	// Push through the authenticated client, then redirect blob GETs to storage.
	d, err := push.Artifact(context.Background(), c, reg.Ref("app:v1"), push.LayerFromBytes(oci.MediaTypeFluxContent, []byte(content)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Manifest(context.Background(), reg.Ref("app").WithDigest(d.Digest))
	if err != nil {
		t.Fatal(err)
	}
	reg.Inject(ocitest.Fault{Method: http.MethodGet, PathContains: "/blobs/", Status: http.StatusTemporaryRedirect,
		Header: http.Header{"Location": {storage.URL + "/bucket/blob"}}})
	b, err := readBlob(c, reg.Ref("app"), m.Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != content {
		t.Fatalf("blob: %d bytes, want the %d stored", len(b), len(content))
	}
	if len(storageAuth.seen) != 1 {
		t.Fatalf("storage saw %d requests, want 1", len(storageAuth.seen))
	}
	if storageAuth.any() {
		t.Errorf("credentials followed the redirect to another host: %q", storageAuth.seen)
	}
	// The registry itself did get them.
	for _, q := range reg.Requests() {
		if q.Status != http.StatusUnauthorized && q.Authorization == "" && strings.HasPrefix(q.Path, "/v2/app") {
			t.Errorf("registry request %s %s had no credentials", q.Method, q.Path)
		}
	}
}

func proxy(w http.ResponseWriter, r *http.Request, host string) {
	out, _ := http.NewRequestWithContext(r.Context(), r.Method, "http://"+host+r.URL.RequestURI(), r.Body)
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
	io.Copy(w, resp.Body)
}

// TestTokenRealmOnOtherHost fronts an in-memory registry on 127.0.0.1 with a
// Bearer challenge whose realm is another host (127.0.0.2, named example.com
// so that go-containerregistry's refusal of private realm IPs does not hide
// our own guard), like Docker Hub's auth.docker.io.
func TestTokenRealmOnOtherHost(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tlsRealm  bool
		wantCreds bool
		wantErr   error
	}{
		{"plain HTTP realm gets no credentials", false, false, oci.ErrInsecureAuth},
		{"HTTPS realm gets credentials", true, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var realmAuth authLog
			realmSrv := listen(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				realmAuth.add(r)
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"token":"good-token"}`)
			}), tc.tlsRealm)
			_, port, _ := net.SplitHostPort(realmSrv.Listener.Addr().String())
			scheme := "http"
			if tc.tlsRealm {
				scheme = "https"
			}
			realm := scheme + "://example.com:" + port + "/token"

			backend := ocitest.NewT(t)
			pushArtifact(t, backend, "app:v1", "x")
			front := listen(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer good-token" {
					w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="test"`, realm))
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				r.Header.Del("Authorization")
				proxy(w, r, backend.Host())
			}), false)

			// example.com resolves to the realm server on 127.0.0.2.
			dialer := &net.Dialer{}
			tr := &http.Transport{
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					if h, p, _ := net.SplitHostPort(addr); h == "example.com" {
						addr = net.JoinHostPort("127.0.0.2", p)
					}
					return dialer.DialContext(ctx, network, addr)
				},
			}
			if tc.tlsRealm {
				tr.TLSClientConfig = &tls.Config{RootCAs: certPool(realmSrv)}
			}
			c, err := oci.NewClient(oci.WithInsecure(), oci.WithBasicAuth("alice", "s3cret"), oci.WithRetries(0, 0), oci.WithTransport(tr))
			if err != nil {
				t.Fatal(err)
			}
			ref, _ := oci.ParseReference(strings.TrimPrefix(front.URL, "http://") + "/app:v1")
			_, err = c.Resolve(context.Background(), ref)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got := realmAuth.any(); got != tc.wantCreds {
				t.Errorf("realm received credentials = %v, want %v (seen %q)", got, tc.wantCreds, realmAuth.seen)
			}
		})
	}
}

func certPool(s *httptest.Server) *x509.CertPool {
	return s.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
}

func TestNoDowngradeToPlainHTTP(t *testing.T) {
	reg := ocitest.NewT(t)
	c, err := oci.NewClient(oci.WithAnonymous(), oci.WithRetries(0, 0)) // not insecure
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Resolve(context.Background(), reg.Ref("app:v1"))
	if err == nil {
		t.Fatal("a plain-HTTP registry was used without WithInsecure")
	}
	for _, q := range reg.Requests() {
		t.Errorf("request reached the plain-HTTP registry: %s %s", q.Method, q.Path)
	}
}

func TestTagPaginationBounded(t *testing.T) {
	t.Run("page cap", func(t *testing.T) {
		reg := ocitest.NewT(t, ocitest.WithTagPageSize(1))
		for _, tag := range []string{"a", "b", "c", "d"} {
			pushArtifact(t, reg, "app:"+tag, "x")
		}
		_, err := reg.Client(oci.WithMaxTagPages(3)).Tags(context.Background(), reg.Ref("app"))
		if !errors.Is(err, oci.ErrTooManyPages) {
			t.Fatalf("err = %v, want ErrTooManyPages", err)
		}
	})
	t.Run("endless self link", func(t *testing.T) {
		reg := ocitest.NewT(t)
		pushArtifact(t, reg, "app:a", "x")
		reg.Inject(ocitest.Fault{PathContains: "/tags/list", Header: http.Header{"Link": {`</v2/app/tags/list?last=a>; rel="next"`}}})
		_, err := reg.Client().Tags(context.Background(), reg.Ref("app"))
		if !errors.Is(err, oci.ErrTooManyPages) {
			t.Fatalf("err = %v, want ErrTooManyPages", err)
		}
		if n := reg.CountRequests(http.MethodGet, "/tags/list"); n != oci.DefaultMaxTagPages {
			t.Errorf("pages fetched = %d, want %d", n, oci.DefaultMaxTagPages)
		}
	})
	t.Run("link to another host", func(t *testing.T) {
		var other authLog
		evil := listen(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { other.add(r) }), false)
		reg := ocitest.NewT(t)
		pushArtifact(t, reg, "app:a", "x")
		reg.Inject(ocitest.Fault{PathContains: "/tags/list", Header: http.Header{"Link": {"<" + evil.URL + `/v2/app/tags/list?last=a>; rel="next"`}}})
		_, err := reg.Client().Tags(context.Background(), reg.Ref("app"))
		if err == nil {
			t.Fatal("followed a pagination link to another host")
		}
		if len(other.seen) != 0 {
			t.Errorf("other host received %d requests", len(other.seen))
		}
	})
}

func TestPinnedDigestSurvivesTagMove(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.NewT(t)
	c := reg.Client()
	first := pushArtifact(t, reg, "app:v1", "first")
	d, err := c.Resolve(ctx, reg.Ref("app:v1"))
	if err != nil {
		t.Fatal(err)
	}
	second := pushArtifact(t, reg, "app:v1", "second") // the tag moves
	if first.Digest == second.Digest {
		t.Fatal("test setup: same digest")
	}
	m, err := c.Manifest(ctx, reg.Ref("app:v1").WithDigest(d.Digest))
	if err != nil {
		t.Fatal(err)
	}
	b, err := readBlob(c, reg.Ref("app"), m.Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "first" {
		t.Errorf("pinned pull got %q, want the content resolved first", b)
	}
}

func TestContextHonoured(t *testing.T) {
	reg := ocitest.NewT(t)
	pushArtifact(t, reg, "app:v1", "x")
	c := reg.Client()
	_, _ = c.Resolve(context.Background(), reg.Ref("app:v1")) // warm the transport
	reg.Inject(ocitest.Fault{PathContains: "/manifests/", Delay: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Resolve(ctx, reg.Ref("app:v1"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestRetries(t *testing.T) {
	t.Run("transient 503 then success", func(t *testing.T) {
		reg := ocitest.NewT(t)
		pushArtifact(t, reg, "app:v1", "x")
		c := reg.Client(oci.WithRetries(3, time.Millisecond))
		reg.Inject(ocitest.Fault{Method: http.MethodHead, PathContains: "/manifests/", Status: http.StatusServiceUnavailable, Times: 2})
		if _, err := c.Resolve(context.Background(), reg.Ref("app:v1")); err != nil {
			t.Fatal(err)
		}
		if n := reg.CountRequests(http.MethodHead, "/manifests/"); n != 3 {
			t.Errorf("HEAD requests = %d, want 3", n)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		reg := ocitest.NewT(t)
		pushArtifact(t, reg, "app:v1", "x")
		c := reg.Client(oci.WithRetries(2, time.Millisecond))
		reg.Inject(ocitest.Fault{PathContains: "/manifests/", Status: http.StatusTooManyRequests})
		_, err := c.Manifest(context.Background(), reg.Ref("app:v1"))
		var se *oci.StatusError
		if !errors.As(err, &se) || se.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("err = %v, want a 429 StatusError", err)
		}
		if n := reg.CountRequests(http.MethodGet, "/manifests/"); n != 3 {
			t.Errorf("GET requests = %d, want 3 (1 + 2 retries)", n)
		}
	})
	t.Run("connection resets then success", func(t *testing.T) {
		// Two resets in a row: net/http's own retry of a request on a reused
		// connection covers at most the first, so the second needs ours.
		for _, retries := range []int{0, 3} {
			reg := ocitest.NewT(t)
			pushArtifact(t, reg, "app:v1", "x")
			c := reg.Client(oci.WithRetries(retries, time.Millisecond))
			reg.Inject(ocitest.Fault{Method: http.MethodGet, PathContains: "/manifests/", Reset: true, Times: 2})
			_, err := c.Manifest(context.Background(), reg.Ref("app:v1"))
			if (err == nil) != (retries > 0) {
				t.Errorf("retries=%d: err = %v", retries, err)
			}
		}
	})
	t.Run("no retry on 404", func(t *testing.T) {
		reg := ocitest.NewT(t)
		pushArtifact(t, reg, "app:v1", "x")
		c := reg.Client(oci.WithRetries(3, time.Millisecond))
		_, err := c.Manifest(context.Background(), reg.Ref("app:nope"))
		if !errors.Is(err, oci.ErrNotFound) {
			t.Fatal(err)
		}
		if n := reg.CountRequests(http.MethodGet, "/manifests/nope"); n != 1 {
			t.Errorf("GET requests = %d, want 1", n)
		}
	})
}

func TestWrongPasswordIsUnauthorized(t *testing.T) {
	reg := ocitest.NewT(t, ocitest.WithBasicAuth("alice", "s3cret"))
	c := reg.Client(oci.WithBasicAuth("alice", "wrong"))
	_, err := c.Resolve(context.Background(), reg.Ref("app:v1"))
	if !errors.Is(err, oci.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
}

type schemeCounter struct {
	mu    sync.Mutex
	count map[string]int
}

func (s *schemeCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.count[r.URL.Scheme]++
	s.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// An insecure registry is spoken to in plain HTTP only: no TLS probe first.
func TestInsecureMeansPlainHTTPOnly(t *testing.T) {
	reg := ocitest.NewT(t)
	pushArtifact(t, reg, "app:v1", "x")
	sc := &schemeCounter{count: map[string]int{}}
	c, err := oci.NewClient(oci.WithInsecure(), oci.WithAnonymous(), oci.WithTransport(sc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resolve(context.Background(), reg.Ref("app:v1")); err != nil {
		t.Fatal(err)
	}
	if sc.count["https"] != 0 || sc.count["http"] != 2 {
		t.Errorf("requests by scheme = %v, want 2 plain HTTP (ping, HEAD) and no HTTPS", sc.count)
	}
}

// A token endpoint whose answer never ends is cut at 1 MiB.
func TestEndlessTokenBody(t *testing.T) {
	var srvURL string
	var sent int64
	var mu sync.Mutex
	srv := listen(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"token":"`)
			chunk := bytes.Repeat([]byte("a"), 64<<10)
			for i := 0; i < 1024; i++ { // 64 MiB unless the client stops reading
				n, err := w.Write(chunk)
				mu.Lock()
				sent += int64(n)
				mu.Unlock()
				if err != nil {
					return
				}
			}
			return
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="test"`, srvURL+"/token"))
		w.WriteHeader(http.StatusUnauthorized)
	}), false)
	srvURL = srv.URL
	c, err := oci.NewClient(oci.WithInsecure(), oci.WithBasicAuth("alice", "s3cret"), oci.WithRetries(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := oci.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/app:v1")
	_, err = c.Resolve(context.Background(), ref)
	// go-containerregistry reads token bodies through its own 64 KiB limit,
	// inside ours of 1 MiB: either refusal will do, but refused it must be.
	if err == nil || !(errors.Is(err, oci.ErrTooLarge) || strings.Contains(err.Error(), "limit")) {
		t.Fatalf("err = %v, want a size-limit error", err)
	}
	time.Sleep(50 * time.Millisecond) // let the server notice the closed connection
	mu.Lock()
	defer mu.Unlock()
	if sent >= 32<<20 {
		t.Errorf("the server sent %d bytes: the client kept reading", sent)
	}
}
