package oci_test

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/ocisource/ocisource/oci"
)

// TestBlobHostileSizes: a descriptor size of MaxInt64 (which once overflowed
// size+1 in the verifying reader and panicked in the caller's goroutine), or
// near it, is a size mismatch; a negative one is refused before any request.
func TestBlobHostileSizes(t *testing.T) {
	content := []byte("twelve bytes")
	var requests int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		requests++
		w.(http.Flusher).Flush() // chunked: no Content-Length to check up front
		w.Write(content)
	}))
	defer srv.Close()
	c, err := oci.NewClient(oci.WithInsecure(), oci.WithAnonymous(), oci.WithRetries(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := oci.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/app")
	for _, tc := range []struct {
		size int64
		want error
	}{
		{math.MaxInt64, oci.ErrSizeMismatch},
		{math.MaxInt64 - 1, oci.ErrSizeMismatch},
		{math.MaxInt64 - int64(len(content)) + 1, oci.ErrSizeMismatch},
		{int64(len(content)) + 1, oci.ErrSizeMismatch},
		{int64(len(content)) - 1, oci.ErrSizeMismatch},
		{0, oci.ErrSizeMismatch},
		{-1, oci.ErrInvalidDescriptor},
		{math.MinInt64, oci.ErrInvalidDescriptor},
	} {
		t.Run(strconv.FormatInt(tc.size, 10), func(t *testing.T) {
			before := requests
			b, err := readBlob(c, repo, oci.Descriptor{Digest: oci.DigestOf(content), Size: tc.size})
			if !errors.Is(err, tc.want) {
				t.Fatalf("read %d bytes, err = %v, want %v", len(b), err, tc.want)
			}
			if tc.size < 0 && requests != before {
				t.Errorf("a request was sent for a negative size")
			}
		})
	}
}

// memRegistry answers the ping and serves body for every blob, announcing
// its length or not.
type memRegistry struct {
	body     []byte
	announce bool
}

func (m memRegistry) RoundTrip(req *http.Request) (*http.Response, error) {
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Request: req, ContentLength: -1, Body: http.NoBody}
	if strings.Contains(req.URL.Path, "/blobs/") {
		resp.Body = io.NopCloser(bytes.NewReader(m.body))
		if m.announce {
			resp.ContentLength = int64(len(m.body))
		}
	}
	return resp, nil
}

func sha512Of(b []byte) oci.Digest {
	sum := sha512.Sum512(b)
	return oci.Digest("sha512:" + hex.EncodeToString(sum[:]))
}

// FuzzBlobDescriptor feeds digests, sizes and bodies through Client.Blob
// against an in-memory registry. Whatever they are, Blob never panics,
// fails only with a typed error, and a stream read to its end without error
// holds exactly the bytes the descriptor names. digestMode 1 and 2 use the
// body's own sha256 or sha512 digest instead of digest, so the fuzzer also
// explores descriptors that are right.
func FuzzBlobDescriptor(f *testing.F) {
	body := []byte("layer content")
	for _, seed := range []struct {
		digest     string
		digestMode uint8
		size       int64
		body       []byte
		announce   bool
	}{
		{"", 1, int64(len(body)), body, true},
		{"", 2, int64(len(body)), body, false},
		{"", 1, math.MaxInt64, body, false},
		{"", 1, math.MaxInt64, body, true},
		{"", 1, -1, body, false},
		{"", 1, math.MinInt64, body, false},
		{"", 1, int64(len(body)) + 1, body, false},
		{"", 1, int64(len(body)) - 1, body, false},
		{"", 1, 0, nil, false},
		{string(oci.DigestOf([]byte("other"))), 0, int64(len(body)), body, false},
		{"sha256:../../etc/passwd", 0, 1, body, false},
		{"sha256:" + strings.Repeat("A", 64), 0, 1, body, false},
		{"md5:" + strings.Repeat("a", 32), 0, 1, body, false},
	} {
		f.Add(seed.digest, seed.digestMode, seed.size, seed.body, seed.announce)
	}
	ctx := context.Background()
	repo, _ := oci.ParseReference("registry.invalid/app")
	f.Fuzz(func(t *testing.T, digest string, digestMode uint8, size int64, body []byte, announce bool) {
		d := oci.Digest(digest)
		switch digestMode % 3 {
		case 1:
			d = oci.DigestOf(body)
		case 2:
			d = sha512Of(body)
		}
		desc := oci.Descriptor{Digest: d, Size: size}
		c, err := oci.NewClient(oci.WithInsecure(), oci.WithAnonymous(), oci.WithRetries(0, 0), oci.WithTransport(memRegistry{body, announce}))
		if err != nil {
			t.Fatal(err)
		}
		rc, err := c.Blob(ctx, repo, desc)
		if err != nil {
			if !errors.Is(err, oci.ErrInvalidDescriptor) && !errors.Is(err, oci.ErrSizeMismatch) {
				t.Fatalf("Blob(%+v): untyped error %v", desc, err)
			}
			if size < 0 && !errors.Is(err, oci.ErrInvalidDescriptor) {
				t.Fatalf("negative size %d: err = %v, want ErrInvalidDescriptor", size, err)
			}
			return
		}
		defer rc.Close()
		got, err := io.ReadAll(rc)
		if int64(len(got)) > size {
			t.Fatalf("returned %d bytes for a descriptor of %d", len(got), size)
		}
		if err != nil {
			if !errors.Is(err, oci.ErrSizeMismatch) && !errors.Is(err, oci.ErrDigestMismatch) {
				t.Fatalf("read: untyped error %v", err)
			}
			return
		}
		if int64(len(got)) != size || !bytes.Equal(got, body) {
			t.Fatalf("accepted %d bytes for a descriptor of %d (body %d bytes)", len(got), size, len(body))
		}
		if want := oci.DigestOf(got); d.Algorithm() == "sha256" && d != want || d.Algorithm() == "sha512" && d != sha512Of(got) {
			t.Fatalf("accepted content whose digest is not %s", d)
		}
	})
}
