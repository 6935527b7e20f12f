package oci_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/oci/push"
)

// endless writes up to 64 MiB of filler unless the client stops reading,
// and counts what it could send.
func endless(w http.ResponseWriter, sent *atomic.Int64, prefix string) {
	io.WriteString(w, prefix)
	chunk := bytes.Repeat([]byte(" "), 64<<10)
	for i := 0; i < 1024; i++ {
		n, err := w.Write(chunk)
		sent.Add(int64(n))
		if err != nil {
			return
		}
	}
}

// TestCapsFollowTheOperation: a repository whose name holds "blobs",
// "manifests" or "tags" gets the caps of any other. Manifests (cosign's .sig
// ones included) and tag lists that never end are cut at the manifest
// limit; blobs are streamed.
func TestCapsFollowTheOperation(t *testing.T) {
	blob := strings.Repeat("blob bytes", 1<<20) // 10 MiB: more than every cap
	desc := oci.Descriptor{Digest: oci.DigestOf([]byte(blob)), Size: int64(len(blob))}
	sigTag := "sha256-" + strings.Repeat("ab", 32) + ".sig"

	for _, repo := range []string{"org/blobs", "x/manifests/y", "tags", "blobs/manifests/tags"} {
		t.Run(repo, func(t *testing.T) {
			var sent atomic.Int64
			srv := listen(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rest, ok := strings.CutPrefix(r.URL.Path, "/v2/"+repo+"/")
				switch {
				case r.URL.Path == "/v2/":
				case !ok:
					http.NotFound(w, r)
				case strings.HasPrefix(rest, "manifests/"):
					w.Header().Set("Content-Type", oci.MediaTypeOCIManifest)
					endless(w, &sent, `{"schemaVersion":2,"annotations":{"x":"`)
				case rest == "tags/list":
					w.Header().Set("Content-Type", "application/json")
					endless(w, &sent, `{"name":"x","tags":["a"`)
				case strings.HasPrefix(rest, "blobs/"):
					io.WriteString(w, blob)
				default:
					http.NotFound(w, r)
				}
			}), false)
			c, err := oci.NewClient(oci.WithInsecure(), oci.WithAnonymous(), oci.WithRetries(0, 0))
			if err != nil {
				t.Fatal(err)
			}
			ref, err := oci.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/" + repo)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			check := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, oci.ErrTooLarge) {
					t.Errorf("%s: err = %v, want ErrTooLarge", what, err)
				}
			}
			sent.Store(0)
			_, err = c.Manifest(ctx, ref.WithTag("v1"))
			check("manifest", err)
			_, err = c.Manifest(ctx, ref.WithTag(sigTag))
			check(".sig manifest", err)
			_, err = c.Tags(ctx, ref)
			check("tags", err)
			if n := sent.Load(); n > 3*(oci.DefaultMaxManifestSize+8<<20) {
				t.Errorf("the server sent %d bytes: the client read on past the caps", n)
			}

			b, err := readBlob(c, ref, desc)
			if err != nil {
				t.Fatalf("blob: %v", err)
			}
			if len(b) != len(blob) {
				t.Errorf("blob: %d bytes, want %d", len(b), len(blob))
			}
		})
	}
}

// tokenFront fronts an in-memory registry with bearer-token auth whose realm
// is on the same host, like Distribution's token auth. expire makes every
// token issued so far invalid, so the next request gets a 401 and the
// client refreshes its token and sends the request again.
type tokenFront struct {
	url     string
	host    string
	gen     atomic.Int64
	tokenFn func(w http.ResponseWriter, r *http.Request, token string) // replaces the token answer when set
}

func newTokenFront(t *testing.T, backend *ocitest.Registry) *tokenFront {
	f := &tokenFront{}
	srv := listen(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := fmt.Sprintf("tok-%d", f.gen.Load())
		if r.URL.Path == "/token" {
			if f.tokenFn != nil {
				f.tokenFn(w, r, tok)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"token":%q}`, tok)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+tok {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="test",scope="repository:app:pull,push"`, f.url+"/token"))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}`)
			return
		}
		r.Header.Del("Authorization")
		proxy(w, r, backend.Host())
	}), false)
	f.url = srv.URL
	f.host = strings.TrimPrefix(srv.URL, "http://")
	return f
}

func (f *tokenFront) expire() { f.gen.Add(1) }

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func debugLogger() (*slog.Logger, *syncBuffer) {
	var buf syncBuffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

// logLines returns the log lines that contain every one of parts.
func logLines(log string, parts ...string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		ok := line != ""
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// TestOperationSurvivesRedirectsAndTokenRefresh: the kind an operation puts
// in its requests' context survives net/http's redirects and
// go-containerregistry's 401-refresh-retry, and does not leak to the token
// exchanges made on its behalf, which keep the small cap.
func TestOperationSurvivesRedirectsAndTokenRefresh(t *testing.T) {
	ctx := context.Background()
	backend := ocitest.NewT(t)
	big := strings.Repeat("blob in storage ", 512<<10) // 8 MiB
	pad := strings.Repeat("p", 2<<20)                  // a 2 MiB manifest: over the token cap, under the manifest cap
	d, err := backend.PushBytes(ctx, "app:v1", oci.MediaTypeFluxContent, []byte(big), push.WithAnnotations(map[string]string{"pad": pad}))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := backend.Client().Manifest(ctx, backend.Ref("app").WithDigest(d.Digest))
	if err != nil {
		t.Fatal(err)
	}
	front := newTokenFront(t, backend)
	logger, logs := debugLogger()
	c, err := oci.NewClient(oci.WithInsecure(), oci.WithBasicAuth("alice", "s3cret"), oci.WithRetries(0, 0), oci.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := oci.ParseReference(front.host + "/app")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("after a token refresh", func(t *testing.T) {
		if _, err := c.Resolve(ctx, ref.WithTag("v1")); err != nil { // warm the transport
			t.Fatal(err)
		}
		front.expire()
		m, err := c.Manifest(ctx, ref.WithDigest(d.Digest))
		if err != nil {
			t.Fatalf("2 MiB manifest after a 401 and a token refresh: %v", err)
		}
		front.expire()
		b, err := readBlob(c, ref, m.Layers[0])
		if err != nil || len(b) != len(big) {
			t.Fatalf("8 MiB blob after a 401 and a token refresh: %d bytes, %v", len(b), err)
		}
		// The refreshes were token requests made for those operations, on
		// contexts of go-containerregistry's: capped small.
		for _, op := range []string{"manifest", "blob"} {
			lines := logLines(logs.String(), "path=/token", "op="+op, "own=false", fmt.Sprintf("limit=%d", oci.DefaultMaxErrorBodySize))
			if len(lines) == 0 {
				t.Errorf("no token request for the %s operation capped at %d in the log:\n%s", op, oci.DefaultMaxErrorBodySize, logs.String())
			}
		}
		if lines := logLines(logs.String(), "path=/token", "limit=streamed"); len(lines) > 0 {
			t.Errorf("a token response was streamed uncapped: %q", lines)
		}
	})

	t.Run("after a redirect to another host", func(t *testing.T) {
		storage := listen(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case strings.HasSuffix(r.URL.Path, "/manifest"):
				w.Header().Set("Content-Type", oci.MediaTypeOCIManifest)
				w.Write(raw.Raw)
			case strings.HasSuffix(r.URL.Path, "/endless"):
				var sent atomic.Int64
				endless(w, &sent, `{"schemaVersion":2,"annotations":{"x":"`)
			}
		}), false)
		backend.Inject(ocitest.Fault{Method: http.MethodGet, PathContains: "/manifests/" + string(d.Digest), Times: 1,
			Status: http.StatusTemporaryRedirect, Header: http.Header{"Location": {storage.URL + "/bucket/manifest"}}})
		if _, err := c.Manifest(ctx, ref.WithDigest(d.Digest)); err != nil {
			t.Fatalf("2 MiB manifest redirected to storage: %v", err)
		}
		backend.Inject(ocitest.Fault{Method: http.MethodGet, PathContains: "/manifests/v1", Times: 1,
			Status: http.StatusTemporaryRedirect, Header: http.Header{"Location": {storage.URL + "/bucket/endless"}}})
		if _, err := c.Manifest(ctx, ref.WithTag("v1")); !errors.Is(err, oci.ErrTooLarge) {
			t.Fatalf("endless manifest redirected to storage: err = %v, want ErrTooLarge", err)
		}
		if lines := logLines(logs.String(), "host="+strings.TrimPrefix(storage.URL, "http://"), "op=manifest", "own=true", fmt.Sprintf("limit=%d", oci.DefaultMaxManifestSize)); len(lines) != 2 {
			t.Errorf("want 2 redirected manifest requests capped at %d in the log, got %q", oci.DefaultMaxManifestSize, lines)
		}
	})
}

// TestTokenBodyCapped: a token answer of more than 1 MiB is refused, and the
// log shows that our cap (not only go-containerregistry's own, smaller,
// limit) was on it.
func TestTokenBodyCapped(t *testing.T) {
	backend := ocitest.NewT(t)
	pushArtifact(t, backend, "app:v1", "x")
	front := newTokenFront(t, backend)
	front.tokenFn = func(w http.ResponseWriter, r *http.Request, tok string) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token":%q,"pad":"%s"}`, tok, strings.Repeat("x", 2<<20))
	}
	logger, logs := debugLogger()
	c, err := oci.NewClient(oci.WithInsecure(), oci.WithBasicAuth("alice", "s3cret"), oci.WithRetries(0, 0), oci.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := oci.ParseReference(front.host + "/app:v1")
	_, err = c.Resolve(context.Background(), ref)
	if err == nil || !(errors.Is(err, oci.ErrTooLarge) || strings.Contains(err.Error(), "limit")) {
		t.Fatalf("err = %v, want a size-limit error", err)
	}
	if lines := logLines(logs.String(), "path=/token", fmt.Sprintf("limit=%d", oci.DefaultMaxErrorBodySize)); len(lines) == 0 {
		t.Errorf("the token request was not capped at %d:\n%s", oci.DefaultMaxErrorBodySize, logs.String())
	}
}
