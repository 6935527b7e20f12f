package tarball

import (
	"bufio"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// Buffers shared by extractions
//
// An extraction needs a few large buffers (the compressed input's
// read-ahead, the inflated chunks handed between goroutines, the buffer
// file data is copied from, the small-file queue) and a gzip reader. A
// controller extracts thousands of small layers, so they come from
// process-wide pools and go back when Extract returns: a small archive
// allocates almost nothing, and memory is bounded by the number of
// extractions running at once, not by how many there have been. Each
// buffer is used by one extraction at a time.

// bytePool hands out byte slices of one size.
type bytePool struct {
	size int
	p    sync.Pool
}

func newBytePool(size int) *bytePool {
	bp := &bytePool{size: size}
	bp.p.New = func() any {
		b := make([]byte, size)
		return &b
	}
	return bp
}

func (bp *bytePool) get() []byte { return *(bp.p.Get().(*[]byte)) }

func (bp *bytePool) put(b []byte) {
	if cap(b) != bp.size {
		return
	}
	b = b[:bp.size]
	bp.p.Put(&b)
}

var (
	chunkPool = newBytePool(chunkSize)      // readahead chunks
	copyPool  = newBytePool(copyBufferSize) // the parser's copy buffer
	queuePool = newBytePool(bufChunkSize)   // data of queued small files

	inputPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, inputBufferSize) }}
	gzipPool  sync.Pool // *gzip.Reader, Reset before use
)

func getInput(r interface{ Read([]byte) (int, error) }) *bufio.Reader {
	br := inputPool.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func putInput(br *bufio.Reader) {
	br.Reset(nil)
	inputPool.Put(br)
}

// getGzip returns a pooled gzip reader reset to br, or a new one.
func getGzip(br *bufio.Reader) (*gzip.Reader, error) {
	if z, ok := gzipPool.Get().(*gzip.Reader); ok {
		if err := z.Reset(br); err != nil {
			gzipPool.Put(z)
			return nil, err
		}
		return z, nil
	}
	return gzip.NewReader(br)
}
