package tarball

import (
	"context"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sync"
	"time"
)

// Writing small files concurrently
//
// Creating a file costs far more than parsing its header or copying a few
// KiB (an openat can take hundreds of microseconds), so [Extract] hands the
// creation of small files to a few writer goroutines, and everything else
// stays where it was:
//
//   - The goroutine that calls Extract (the parser) does all the checking:
//     names, limits, the in-memory tree, hard link targets. It also creates
//     directories, symbolic links and hard links, removes what a later
//     entry replaces, and writes large files itself. For a small file (see
//     queueable) it reads the data from the stream into a buffer of its own
//     (so limits still count bytes actually read) and queues a writeJob:
//     create with O_EXCL, write, fsync if asked, close, set the
//     modification time. That is all a writer ever does.
//   - Memory is bounded, whatever the archive contains: the data of queued
//     files is held in a fixed set of queueChunks buffers of bufChunkSize
//     bytes (8 MiB), allocated as first needed and reused, never dropped;
//     a job takes at least one and the parser waits for free ones. Names
//     longer than maxQueuedName keep a file out of the queue.
//   - Each directory belongs to one writer (round robin as directories are
//     created), and its files are queued to that writer. Creating files in
//     one directory is serialised by the kernel anyway (the directory's
//     lock is held while a new inode is allocated, which on some file
//     systems is most of the cost), so two writers in one directory only
//     wait for each other; archives are usually sorted, so the budget lets
//     the parser run a few directories ahead and keep every writer busy.
//   - Ordering. The node of a queued file carries the job's done channel.
//     Before the parser touches that path again (a later entry of the same
//     name removes it) or links to it (a hard link), it waits for done, so
//     a path is only ever handled by one goroutine at a time and a hard
//     link sees the complete file. Directories are never removed, so a
//     job's parent exists until it is written. Directory times, the sync of
//     the tree, the WithBeforeCommit hook and the swap into place all come
//     after wait has returned, i.e. after every writer has finished.
//   - Errors. The first job that fails records its error and cancels the
//     context the parser and the inflating goroutine run under, so they
//     stop at their next check; later jobs are not written, and a job not
//     written is itself an error, so nothing half-written can be committed.
//     Extract always waits for the writers before it returns (and before
//     the temporary directory is removed), so no goroutine outlives it and
//     nothing is created in a directory being removed.
const (
	// maxQueuedFile bounds the data of a queued file; larger files are
	// written by the parser as they stream in.
	maxQueuedFile = 1 << 20
	// maxQueuedName bounds the entry name and path of a queued file.
	maxQueuedName = 8 << 10
	// bufChunkSize and queueChunks size the buffers of queued data.
	bufChunkSize = 32 << 10
	queueChunks  = 256
	// queueDepth is how many jobs wait for one writer.
	queueDepth = 32
)

// writerCount is the number of writer goroutines: one per CPU the process
// may use, at least 2 and at most 4. File creation is mostly kernel CPU
// time, so more writers than CPUs do not help.
func writerCount() int {
	return min(max(runtime.GOMAXPROCS(0), 2), 4)
}

// writeJob is one small file for a writer.
type writeJob struct {
	name   string // entry name, for errors
	abs    string
	perm   fs.FileMode
	mtime  time.Time // zero: leave the time of creation
	chunks [][]byte  // the data, in buffers of the pool
	done   chan struct{}
}

// queueable reports whether a file is written by a writer, and how many
// buffers it takes.
func queueable(size int64, name, abs string) (int, bool) {
	if size < 0 || size > maxQueuedFile || len(name)+len(abs) > maxQueuedName {
		return 0, false
	}
	return max(1, int((size+bufChunkSize-1)/bufChunkSize)), true
}

// writers is the pool of writer goroutines of one Extract.
type writers struct {
	ctx    context.Context
	cancel context.CancelFunc
	sync   bool
	queues []chan *writeJob // one per writer
	free   chan []byte      // the buffers; nil until first used
	wg     sync.WaitGroup

	mu  sync.Mutex
	err error // first failure

	stopOnce sync.Once
}

// startWriters starts n writers. ctx must be the context the parser runs
// under and cancel its cancel function: the first failure calls it.
func startWriters(ctx context.Context, cancel context.CancelFunc, n int, sync bool) *writers {
	w := &writers{
		ctx:    ctx,
		cancel: cancel,
		sync:   sync,
		free:   make(chan []byte, queueChunks),
	}
	for range queueChunks {
		w.free <- nil
	}
	w.wg.Add(n)
	for range n {
		// A few places per writer: when its queue is full the parser waits
		// for that writer, which never waits for the parser, so this only
		// paces the parser (and keeps a small extraction small).
		q := make(chan *writeJob, queueDepth)
		w.queues = append(w.queues, q)
		go w.run(q)
	}
	return w
}

// buffers waits for n free buffers and returns them, each of length
// bufChunkSize. Only the parser takes buffers, and n is at most
// maxQueuedFile/bufChunkSize, a fraction of them, so it cannot wait
// forever while writers have work.
func (w *writers) buffers(n int) ([][]byte, error) {
	bufs := make([][]byte, 0, n)
	for range n {
		select {
		case b := <-w.free:
			if b == nil {
				b = queuePool.get()
			}
			bufs = append(bufs, b[:bufChunkSize])
		case <-w.ctx.Done():
			w.release(bufs)
			return nil, w.ctx.Err()
		}
	}
	return bufs, nil
}

// release returns buffers to the pool. It never blocks: the pool has room
// for all of them.
func (w *writers) release(bufs [][]byte) {
	for _, b := range bufs {
		w.free <- b
	}
}

// releaseAll gives the buffers back to the process-wide pool. It runs
// after wait, when no job holds one.
func (w *writers) releaseAll() {
	for {
		select {
		case b := <-w.free:
			if b != nil {
				queuePool.put(b)
			}
		default:
			return
		}
	}
}

// queue hands a job to writer i (modulo their number).
func (w *writers) queue(i int, j *writeJob) { w.queues[i%len(w.queues)] <- j }

func (w *writers) run(q chan *writeJob) {
	defer w.wg.Done()
	for j := range q {
		w.do(j)
	}
}

func (w *writers) do(j *writeJob) {
	defer close(j.done)
	defer w.release(j.chunks)
	// After a failure (or a cancellation) nothing more is written; the
	// job not written is reported so that the tree is never committed.
	if err := w.ctx.Err(); err != nil {
		w.fail(err)
		return
	}
	if err := writeSmallFile(j, w.sync); err != nil {
		w.fail(&EntryError{Name: j.name, Err: err})
	}
}

// fail records the first error and stops the extraction. It runs before
// the job's done channel is closed, so a parser woken by done sees the
// cancelled context.
func (w *writers) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.cancel()
}

// wait closes the queues, waits for every writer to finish and returns the
// first error. It may be called more than once.
func (w *writers) wait() error {
	w.stopOnce.Do(func() {
		for _, q := range w.queues {
			close(q)
		}
		w.wg.Wait()
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// writeSmallFile creates the job's file, writes its data and sets its
// modification time, after Close as in the parser's own path.
func writeSmallFile(j *writeJob, sync bool) error {
	f, err := os.OpenFile(j.abs, os.O_WRONLY|os.O_CREATE|os.O_EXCL, j.perm)
	if err != nil {
		return err
	}
	for _, c := range j.chunks {
		if _, err = f.Write(c); err != nil {
			break
		}
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if !j.mtime.IsZero() {
		return os.Chtimes(j.abs, time.Time{}, j.mtime)
	}
	return nil
}

// settle waits until the file node n stands for is completely written, if
// a writer has it. It returns an error if the extraction was stopped.
func (x *extractor) settle(n *node) error {
	if n == nil || n.done == nil {
		return nil
	}
	select {
	case <-n.done:
	case <-x.ctx.Done():
		return x.ctx.Err()
	}
	// A job that failed or was skipped cancels ctx before closing done.
	if err := x.ctx.Err(); err != nil {
		return err
	}
	n.done = nil
	return nil
}

// queueFile reads the data of the current entry, of size bytes, into n
// buffers (from queueable) and queues it to be written at abs by the
// writer of its parent directory. It returns the job's done channel.
func (x *extractor) queueFile(tr io.Reader, parent *node, size int64, n int, name, abs string, perm fs.FileMode, mtime time.Time) (chan struct{}, error) {
	bufs, err := x.w.buffers(n)
	if err != nil {
		return nil, err
	}
	for i := range bufs {
		bufs[i] = bufs[i][:min(size, bufChunkSize)]
		size -= int64(len(bufs[i]))
	}
	if err := x.readData(tr, bufs); err != nil {
		x.w.release(bufs)
		return nil, err
	}
	done := make(chan struct{})
	x.w.queue(int(parent.writer), &writeJob{name: name, abs: abs, perm: perm, mtime: mtime, chunks: bufs, done: done})
	return done, nil
}
