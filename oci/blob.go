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
// A descriptor with a malformed digest or a negative size is refused with
// an error wrapping [ErrInvalidDescriptor] before anything is sent.
func (c *Client) Blob(ctx context.Context, repo Reference, desc Descriptor) (io.ReadCloser, error) {
	rc, err := c.blob(ctx, repo, desc)
	return rc, opError("blob", repo.displayRepo()+"@"+truncate(string(desc.Digest)), err)
}

func (c *Client) blob(ctx context.Context, repo Reference, desc Descriptor) (io.ReadCloser, error) {
	if err := desc.Validate(); err != nil {
		return nil, err
	}
	if err := repo.Validate(); err != nil {
		return nil, err
	}
	ctx = withOp(ctx, opBlob)
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
	return newVerifyingReader(resp.Body, desc), nil
}

// Validate reports whether d can describe content: a valid digest (see
// [ParseDigest]) and a size of zero or more, with an error wrapping
// [ErrInvalidDescriptor] (and [ErrInvalidDigest] for the digest).
func (d Descriptor) Validate() error {
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidDescriptor, err)
	}
	if d.Size < 0 {
		return fmt.Errorf("%w: negative size %d for %s", ErrInvalidDescriptor, d.Size, d.Digest)
	}
	return nil
}

// verifyingReader hashes and counts what passes through and turns the end
// of a stream whose bytes are not the expected ones into an error. It
// reads at most one byte past the declared size, and no arithmetic on the
// size (which comes from the network) can overflow: it only ever computes
// size - n, with 0 <= n <= size.
type verifyingReader struct {
	rc   io.ReadCloser
	h    hash.Hash
	want Digest
	size int64 // >= 0
	n    int64 // bytes returned so far; 0 <= n <= size
	err  error // sticky
}

// newVerifyingReader checks what rc returns against d, which must be valid
// (see [Descriptor.Validate]).
func newVerifyingReader(rc io.ReadCloser, d Descriptor) *verifyingReader {
	return &verifyingReader{rc: rc, h: newHash(d.Digest.Algorithm()), want: d.Digest, size: d.Size}
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	// Read at most one byte past the declared size, to detect overlong
	// bodies: rem < len(p) <= MaxInt, so rem+1 cannot overflow.
	if rem := v.size - v.n; rem < int64(len(p)) {
		p = p[:rem+1]
	}
	n, err := v.rc.Read(p)
	if n < 0 || n > len(p) {
		v.err = fmt.Errorf("reading blob %s: invalid read count %d", v.want, n)
		return 0, v.err
	}
	if int64(n) > v.size-v.n {
		v.err = fmt.Errorf("%w: blob %s is longer than its declared %d bytes", ErrSizeMismatch, v.want, v.size)
		return 0, v.err
	}
	v.n += int64(n)
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
