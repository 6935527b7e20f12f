package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/gzip"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/tarball"
)

// Buffer sizes of the stage loops, the same as the fetch path's (the oci
// transport's read buffer and tarball's readahead chunks), so a stage alone
// is not slowed by smaller reads than the fetch makes.
const (
	getBufferSize     = 256 << 10
	inflateBufferSize = 512 << 10
)

// stage is one of the four stages a fetch overlaps, timed alone.
type stage struct {
	name  string
	what  string // what the bytes column counts
	bytes int64
	run   func() error // the timed work
	after func() error // untimed clean-up after each run, or nil
	runs  []sample
}

// once runs the stage once, after settle, and records the sample.
func (st *stage) once() error {
	settle()
	s, err := measure(st.run)
	if err != nil {
		return fmt.Errorf("%s: %w", st.name, err)
	}
	st.runs = append(st.runs, s)
	if st.after != nil {
		if err := st.after(); err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
	}
	return nil
}

func (st *stage) median() sample { return medianOf(st.runs) }

// rawGet GETs the blob desc names with a plain http.Client and reads the
// body into a reused buffer, neither hashing nor keeping it: the network
// (and, for the in-memory registry, the server) alone.
func rawGet(ctx context.Context, c *http.Client, url string, size int64, buf []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	var n int64
	for {
		m, err := resp.Body.Read(buf)
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("GET %s after %d bytes: %w", url, n, err)
		}
	}
	if n != size {
		return fmt.Errorf("GET %s: %d bytes, want %d", url, n, size)
	}
	return nil
}

// sha256Of hashes blob as the verifying blob reader does (crypto/sha256).
func sha256Of(blob []byte, want oci.Digest) error {
	h := sha256.New()
	for b := blob; len(b) > 0; {
		n := min(len(b), getBufferSize)
		h.Write(b[:n])
		b = b[n:]
	}
	if got := oci.Digest(fmt.Sprintf("sha256:%x", h.Sum(nil))); got != want {
		return fmt.Errorf("blob hashes to %s, want %s", got, want)
	}
	return nil
}

// inflate decompresses blob with klauspost/compress's gzip (the decoder
// tarball uses) into w, through a buffer of the readahead's chunk size.
func inflate(blob []byte, w io.Writer, buf []byte) (int64, error) {
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		return 0, err
	}
	defer zr.Close()
	var n int64
	for {
		m, err := zr.Read(buf)
		if m > 0 {
			if _, werr := w.Write(buf[:m]); werr != nil {
				return n, werr
			}
			n += int64(m)
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// unpack extracts the uncompressed tar into a fresh directory below parent.
func unpack(ctx context.Context, tarBytes []byte, dir string, maxTotal int64) (*tarball.Stats, error) {
	return tarball.Extract(ctx, bytes.NewReader(tarBytes), dir,
		tarball.WithCompression(tarball.CompressionNone), tarball.WithMaxTotalBytes(maxTotal))
}

// newStages prepares the four stages over the same bytes, in pipeline
// order: the GET of the blob, and sha256, inflation and unpacking of blob
// (the compressed layer, in memory). It inflates blob once to hold the
// uncompressed tar in memory for the unpack stage.
func newStages(ctx context.Context, reg *registry, layer oci.Descriptor, blob []byte, work string, payload payloadStats, maxTotal int64) ([]*stage, error) {
	hc, err := reg.rawClient(ctx)
	if err != nil {
		return nil, err
	}
	getBuf := make([]byte, getBufferSize)
	url := reg.blobURL(layer.Digest)
	get := &stage{name: "blob GET, raw HTTP", what: "compressed", bytes: layer.Size,
		run: func() error { return rawGet(ctx, hc, url, layer.Size, getBuf) }}

	hash := &stage{name: "sha256", what: "compressed", bytes: layer.Size,
		run: func() error { return sha256Of(blob, layer.Digest) }}

	var tarBuf bytes.Buffer
	tarBuf.Grow(int(payload.bytes + payload.bytes/16 + 1<<20))
	zbuf := make([]byte, inflateBufferSize)
	tarSize, err := inflate(blob, &tarBuf, zbuf)
	if err != nil {
		return nil, fmt.Errorf("inflating the layer: %w", err)
	}
	inf := &stage{name: "inflate, klauspost gzip", what: "uncompressed", bytes: tarSize,
		run: func() error {
			n, err := inflate(blob, io.Discard, zbuf)
			if err == nil && n != tarSize {
				err = fmt.Errorf("inflated %d bytes, want %d", n, tarSize)
			}
			return err
		}}

	tarBytes := tarBuf.Bytes()
	// Each run unpacks into a new directory, kept until the end (see
	// fetchInto in main.go for why nothing is deleted in between).
	unpacked := 0
	un := &stage{name: "unpack tar to disk", what: "uncompressed", bytes: tarSize,
		run: func() error {
			unpacked++
			dir := filepath.Join(work, "unpack", fmt.Sprintf("run-%d", unpacked), "out")
			if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
				return err
			}
			st, err := unpack(ctx, tarBytes, dir, maxTotal)
			if err == nil && (st.Files != payload.files || st.Bytes != payload.bytes) {
				err = fmt.Errorf("unpacked %d files, %d bytes; want %d files, %d bytes", st.Files, st.Bytes, payload.files, payload.bytes)
			}
			return err
		},
	}
	return []*stage{get, hash, inf, un}, nil
}
