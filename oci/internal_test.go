package oci

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

type fixedBody struct{ n int }

func (f fixedBody) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Request: req,
		Body: io.NopCloser(bytes.NewReader(bytes.Repeat([]byte("x"), f.n)))}, nil
}

type otherKey struct{}

// TestGuardCapsByOperation drives the guard directly: the cap of a response
// follows the operation that sent the request, and a request on a context
// derived from the operation's (as go-containerregistry's token exchanges
// are) or on none gets the 1 MiB cap, whatever its URL says.
func TestGuardCapsByOperation(t *testing.T) {
	const body = 2 << 20 // over the error/token cap, under the manifest cap
	g := &guardTransport{inner: fixedBody{body}, registry: "r.example", maxManifestSize: DefaultMaxManifestSize, maxErrorBody: DefaultMaxErrorBodySize}
	bg := context.Background()
	derived := func(k opKind) context.Context { return context.WithValue(withOp(bg, k), otherKey{}, "token exchange") }
	tests := []struct {
		name    string
		ctx     context.Context
		path    string
		wantErr bool
	}{
		{"own blob request", withOp(bg, opBlob), "/v2/app/blobs/sha256:x", false},
		{"own blob request, any path", withOp(bg, opBlob), "/bucket/object", false},
		{"own manifest request", withOp(bg, opManifest), "/v2/org/blobs/manifests/v1", false},
		{"own tags request", withOp(bg, opTags), "/v2/tags/tags/list", false},
		{"token request for a blob", derived(opBlob), "/v2/app/blobs/sha256:x", true},
		{"token request for a manifest", derived(opManifest), "/token", true},
		{"no operation (ping, first token)", withoutOp(withOp(bg, opBlob)), "/v2/x/blobs/y", true},
		{"bare context", bg, "/v2/app/blobs/sha256:x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(tt.ctx, http.MethodGet, "https://r.example"+tt.path, nil)
			resp, err := g.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			if tt.wantErr {
				if !errors.Is(err, ErrTooLarge) || n > DefaultMaxErrorBodySize {
					t.Fatalf("read %d bytes, err = %v; want ErrTooLarge within %d bytes", n, err, DefaultMaxErrorBodySize)
				}
				return
			}
			if err != nil || n != body {
				t.Fatalf("read %d bytes, err = %v; want all %d", n, err, body)
			}
		})
	}
}

// TestVerifyingReaderHostileSizes: sizes up to MaxInt64 never overflow the
// reader's arithmetic (v.size+1 once did, and sliced p with a negative bound).
func TestVerifyingReaderHostileSizes(t *testing.T) {
	content := []byte("some content")
	for _, size := range []int64{math.MaxInt64, math.MaxInt64 - 1, math.MaxInt64 - int64(len(content)), 0, 1, int64(len(content)) - 1, int64(len(content)) + 1} {
		for _, r := range []func(io.Reader) io.Reader{
			func(r io.Reader) io.Reader { return r },
			iotest.OneByteReader,
			iotest.DataErrReader,
		} {
			v := newVerifyingReader(io.NopCloser(r(bytes.NewReader(content))), Descriptor{Digest: DigestOf(content), Size: size})
			got, err := io.ReadAll(v)
			if !errors.Is(err, ErrSizeMismatch) {
				t.Errorf("size %d: read %d bytes, err = %v, want ErrSizeMismatch", size, len(got), err)
			}
			if int64(len(got)) > size {
				t.Errorf("size %d: returned %d bytes", size, len(got))
			}
		}
	}
	v := newVerifyingReader(io.NopCloser(bytes.NewReader(content)), Descriptor{Digest: DigestOf(content), Size: int64(len(content))})
	if got, err := io.ReadAll(v); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("exact size: %q, %v", got, err)
	}
}

// TestCAOptions: WithCACertPool replaces the system roots; WithCAFile adds
// to them. The docs say so.
func TestCAOptions(t *testing.T) {
	pool := x509.NewCertPool()
	c, err := NewClient(WithCACertPool(pool))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.base.(*http.Transport).TLSClientConfig.RootCAs; got != pool {
		t.Errorf("WithCACertPool: RootCAs is not the pool given")
	}

	sys, err := x509.SystemCertPool()
	if err != nil {
		t.Skipf("no system roots: %v", err)
	}
	pem, err := os.ReadFile(filepath.Join("testdata", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = NewClient(WithCAFile(file))
	if err != nil {
		t.Fatal(err)
	}
	want := sys.Clone()
	want.AppendCertsFromPEM(pem)
	got := c.base.(*http.Transport).TLSClientConfig.RootCAs
	if !got.Equal(want) {
		t.Errorf("WithCAFile: RootCAs is not the system roots plus the file")
	}
	if got.Equal(sys) {
		t.Errorf("WithCAFile: the file's certificate is missing")
	}
}

func TestHoldsUserinfo(t *testing.T) {
	for s, want := range map[string]bool{
		"user:pw@host/repo":                   true,
		"user:pw@host":                        true,
		"user:pa/ss@host/repo":                true,
		"user@host/repo@sha256:" + hex64("a"): true,
		"host/repo@sha256:" + hex64("a"):      false,
		"host/repo@sha256:../../x":            false,
		"host/repo:tag":                       false,
		"host:5000/repo":                      false,
	} {
		if got := holdsUserinfo(s); got != want {
			t.Errorf("holdsUserinfo(%q) = %v, want %v", s, got, want)
		}
	}
}

func hex64(c string) string { return strings.Repeat(c, 64) }

// TestSqueezeReader: squeezing whitespace outside strings keeps the JSON's
// meaning, and keeps strings (with their escapes and spaces) intact.
func TestSqueezeReader(t *testing.T) {
	for _, in := range []string{
		`{"name" :  "a  \"  b\\", "tags" : [ "x" ,	"y"
		] }`,
		`[1 2]`,
		`{"a":"\\\"  \\"}   `,
		`  "  "  `,
	} {
		got, err := io.ReadAll(iotest.OneByteReader(&squeezeReader{r: strings.NewReader(in)}))
		if err != nil {
			t.Fatal(err)
		}
		var want, have any
		errWant := json.Unmarshal([]byte(in), &want)
		errHave := json.Unmarshal(got, &have)
		if (errWant == nil) != (errHave == nil) || !reflect.DeepEqual(want, have) {
			t.Errorf("%q squeezed to %q: %v (%v) != %v (%v)", in, got, have, errHave, want, errWant)
		}
		if strings.Contains(string(got), "   ") && !strings.Contains(in, `"  "`) && !strings.Contains(in, `\"  `) {
			t.Errorf("%q squeezed to %q keeps a run of whitespace", in, got)
		}
	}
}

// TestRetryAfterNoOverflow: a Retry-After from the network never overflows
// into a negative (no) pause.
func TestRetryAfterNoOverflow(t *testing.T) {
	for _, v := range []string{"9223372036854775807", "99999999999", "9223372037", "11"} {
		d, ok := retryAfter(v)
		if !ok || d != MaxRetryBackoff {
			t.Errorf("retryAfter(%q) = %v, %v; want %v", v, d, ok, MaxRetryBackoff)
		}
	}
	if d, ok := retryAfter("2"); !ok || d != 2*time.Second {
		t.Errorf("retryAfter(2) = %v, %v", d, ok)
	}
	if _, ok := retryAfter("-1"); ok {
		t.Error("retryAfter(-1) accepted")
	}
}
