package oci

import (
	"context"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
)

// Blob opens the blob desc describes in repo's repository and streams it.
// Nothing from the response headers is trusted: the reader counts and hashes
// what it returns, and the read that reaches the end (or passes
// desc.Size) fails with an error wrapping [ErrSizeMismatch] or
// [ErrDigestMismatch] instead of io.EOF when the bytes are not the ones
// asked for. A caller that consumes the stream to io.EOF has therefore
// received exactly the content desc names. Close the reader when done.
func (c *Client) Blob(ctx context.Context, repo Reference, desc Descriptor) (io.ReadCloser, error) {
	rc, err := c.blob(ctx, repo, desc)
	return rc, opError("blob", repo.Repo()+"@"+string(desc.Digest), err)
}

func (c *Client) blob(ctx context.Context, repo Reference, desc Descriptor) (io.ReadCloser, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, err
	}
	if desc.Size < 0 {
		return nil, fmt.Errorf("%w: descriptor has negative size %d", ErrSizeMismatch, desc.Size)
	}
	rt, r, err := c.transport(ctx, repo, false)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, rt, http.MethodGet, c.url(r, "blobs", string(desc.Digest)), nil, http.StatusOK)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength >= 0 && resp.ContentLength != desc.Size {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: registry announces %d bytes, descriptor says %d", ErrSizeMismatch, resp.ContentLength, desc.Size)
	}
	return &verifyingReader{rc: resp.Body, h: newHash(desc.Digest.Algorithm()), want: desc.Digest, size: desc.Size}, nil
}

// verifyingReader hashes and counts what passes through and turns the end
// of a stream whose bytes are not the expected ones into an error.
type verifyingReader struct {
	rc   io.ReadCloser
	h    hash.Hash
	want Digest
	size int64
	n    int64
	err  error // sticky
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	// Read at most one byte past the declared size, to detect overlong bodies.
	if rem := v.size + 1 - v.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := v.rc.Read(p)
	v.n += int64(n)
	if v.n > v.size {
		v.err = fmt.Errorf("%w: blob %s is longer than its declared %d bytes", ErrSizeMismatch, v.want, v.size)
		return 0, v.err
	}
	v.h.Write(p[:n])
	switch {
	case err == io.EOF:
		if v.n != v.size {
			v.err = fmt.Errorf("%w: blob %s ended after %d of %d bytes", ErrSizeMismatch, v.want, v.n, v.size)
			return n, v.err
		}
		if got := Digest(v.want.Algorithm() + ":" + hex.EncodeToString(v.h.Sum(nil))); got != v.want {
			v.err = fmt.Errorf("%w: blob %s hashes to %s", ErrDigestMismatch, v.want, got)
			return n, v.err
		}
		v.err = io.EOF
	case err != nil:
		v.err = fmt.Errorf("reading blob %s after %d bytes: %w", v.want, v.n, err)
		return n, v.err
	}
	return n, nil
}

func (v *verifyingReader) Close() error { return v.rc.Close() }
