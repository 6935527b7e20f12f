package tarball

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
)

const (
	// inputBufferSize is the read-ahead on the compressed input. The
	// inflater has a fast path for *bufio.Reader.
	inputBufferSize = 256 << 10
	// chunkSize and chunkCount shape the pipeline between the goroutine
	// that inflates and the one that writes files.
	chunkSize  = 512 << 10
	chunkCount = 4
	// copyBufferSize is the buffer file data is written from.
	copyBufferSize = 1 << 20
)

// sourceReader remembers the first error the caller's reader returned, so
// that it is reported as such and not as a corrupt archive.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// sourceError marks an error returned by the caller's reader.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return "reading archive: " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// gzipStream inflates a sequence of gzip members one at a time so that
// members that inflate to nothing can be counted and bounded. Garbage after
// the last member is an error, as with compress/gzip.
type gzipStream struct {
	br          *bufio.Reader
	z           *gzip.Reader
	memberBytes int64
	empty       int
}

func newGzipStream(br *bufio.Reader) *gzipStream {
	return &gzipStream{br: br}
}

// release returns the gzip reader to its pool; the stream is not used after.
func (g *gzipStream) release() {
	if g.z != nil {
		gzipPool.Put(g.z)
		g.z = nil
	}
}

func (g *gzipStream) Read(p []byte) (int, error) {
	if g.z == nil {
		// The first header is read here, in the readahead goroutine, so that
		// a source that blocks cannot stall Extract past a cancelled ctx.
		z, err := getGzip(g.br)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		z.Multistream(false)
		g.z = z
	}
	for {
		n, err := g.z.Read(p)
		g.memberBytes += int64(n)
		if err != io.EOF {
			return n, err
		}
		// End of one member, checksum verified. Another one?
		if _, perr := g.br.Peek(1); perr != nil {
			if perr == io.EOF {
				return n, io.EOF
			}
			return n, perr
		}
		if g.memberBytes == 0 {
			g.empty++
			if g.empty > maxEmptyGzipMembers {
				return n, &LimitError{Limit: LimitEmptyGzipMembers, Max: maxEmptyGzipMembers}
			}
		}
		g.memberBytes = 0
		if err := g.z.Reset(g.br); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, fmt.Errorf("data after gzip member: %w", err)
		}
		g.z.Multistream(false)
		if n > 0 {
			return n, nil
		}
	}
}

// readahead runs the decompression in its own goroutine and hands full
// chunks to the extracting goroutine, so that inflating and writing files
// overlap on two cores.
type readahead struct {
	ctx  context.Context
	full chan []byte
	free chan []byte
	done chan struct{}
	// exited is closed when run returns: after it, nothing reads src.
	exited chan struct{}
	err    error // set before full is closed

	cur, last []byte
	// spare is how many more chunks run may take from chunkPool.
	spare int
}

// startReadahead starts reading src. classify turns an error from src into
// the error the consumer sees. stop must be called when the consumer is done;
// it waits for a Read on src that is in progress, so that once it returns
// nothing touches src (the caller's reader) any more.
func startReadahead(ctx context.Context, src io.Reader, classify func(error) error) *readahead {
	ra := &readahead{
		ctx:    ctx,
		full:   make(chan []byte, chunkCount),
		free:   make(chan []byte, chunkCount),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	// The first chunk now, the others when the inflater runs ahead: a
	// small archive takes one.
	ra.free <- chunkPool.get()
	ra.spare = chunkCount - 1
	go ra.run(src, classify)
	return ra
}

func (ra *readahead) run(src io.Reader, classify func(error) error) {
	defer close(ra.exited)
	defer close(ra.full)
	for {
		var buf []byte
		select {
		case buf = <-ra.free:
		default:
			if ra.spare > 0 {
				ra.spare--
				buf = chunkPool.get()
				break
			}
			select {
			case buf = <-ra.free:
			case <-ra.done:
				return
			}
		}
		n, err := 0, error(nil)
		for n < len(buf) && err == nil {
			var m int
			m, err = src.Read(buf[n:])
			n += m
			select {
			case <-ra.done:
				return
			default:
			}
		}
		if n > 0 {
			select {
			case ra.full <- buf[:n]:
			case <-ra.done:
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				err = classify(err)
			}
			ra.err = err
			return
		}
	}
}

// stop tells run to end, waits until it has, and returns the chunks to
// the pool. The consumer must not Read after it.
func (ra *readahead) stop() {
	close(ra.done)
	<-ra.exited
	if ra.last != nil {
		chunkPool.put(ra.last[:cap(ra.last)])
		ra.last, ra.cur = nil, nil
	}
	for b := range ra.full { // closed by run
		chunkPool.put(b[:cap(b)])
	}
	for {
		select {
		case b := <-ra.free:
			chunkPool.put(b)
		default:
			return
		}
	}
}

func (ra *readahead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.last != nil {
			ra.free <- ra.last[:cap(ra.last)]
			ra.last = nil
		}
		select {
		case buf, ok := <-ra.full:
			if !ok {
				return 0, ra.err
			}
			ra.cur, ra.last = buf, buf
		case <-ra.ctx.Done():
			return 0, ra.ctx.Err()
		}
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// meter sits between the stream and archive/tar. In the header phase (while
// tar.Reader.Next runs) it enforces the header budget and tracks the run of
// zero bytes, which tells whether the end-of-archive marker was read.
type meter struct {
	r        io.Reader
	inHeader bool
	budget   int64 // remaining header bytes; Unlimited for none
	max      int64
	zeros    int64 // zero bytes at the end of what the header phase read
}

func (m *meter) startHeader(max int64) {
	m.inHeader = true
	m.max = max
	m.zeros = 0
	if max == Unlimited {
		m.budget = Unlimited
	} else {
		m.budget = max + 511 // padding of the previous entry
	}
}

func (m *meter) Read(p []byte) (int, error) {
	if !m.inHeader {
		return m.r.Read(p)
	}
	if m.budget != Unlimited {
		if m.budget == 0 {
			return 0, &LimitError{Limit: LimitHeaderBytes, Max: m.max}
		}
		if int64(len(p)) > m.budget {
			p = p[:m.budget]
		}
	}
	n, err := m.r.Read(p)
	if m.budget != Unlimited {
		m.budget -= int64(n)
	}
	for _, b := range p[:n] {
		if b == 0 {
			m.zeros++
		} else {
			m.zeros = 0
		}
	}
	return n, err
}

// drainTrailer reads what follows the end-of-archive marker: zero padding up
// to maxTrailingBytes is accepted, anything else is an error. Reading to the
// end also makes the gzip reader verify the last checksum and lets a
// verifying source reader report a digest mismatch.
func drainTrailer(r io.Reader, buf []byte) error {
	var total int64
	for {
		n, err := r.Read(buf)
		for _, b := range buf[:n] {
			if b != 0 {
				return invalid("data after the end-of-archive marker")
			}
		}
		total += int64(n)
		if total > maxTrailingBytes {
			return &LimitError{Limit: LimitTrailingBytes, Max: maxTrailingBytes}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
