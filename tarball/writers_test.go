package tarball

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestQueueable(t *testing.T) {
	long := strings.Repeat("n", maxQueuedName)
	for _, c := range []struct {
		name       string
		size       int64
		entry, abs string
		buffers    int
		ok         bool
	}{
		{"empty file", 0, "f", "/t/f", 1, true},
		{"one buffer", bufChunkSize, "f", "/t/f", 1, true},
		{"two buffers", bufChunkSize + 1, "f", "/t/f", 2, true},
		{"at the limit", maxQueuedFile, "f", "/t/f", maxQueuedFile / bufChunkSize, true},
		{"one byte over", maxQueuedFile + 1, "f", "/t/f", 0, false},
		{"large file", 32 << 20, "f", "/t/f", 0, false},
		{"small file, long names", 10, long, "/t/" + long, 0, false},
		{"negative size", -1, "f", "/t/f", 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, ok := queueable(c.size, c.entry, c.abs)
			if n != c.buffers || ok != c.ok {
				t.Errorf("queueable(%d, ...) = %d, %v, want %d, %v", c.size, n, ok, c.buffers, c.ok)
			}
		})
	}
	// The largest file takes a fraction of the pool, so the parser can
	// always get its buffers once writers have finished earlier files.
	if maxQueuedFile/bufChunkSize > queueChunks/4 {
		t.Errorf("a file may take %d of the %d buffers", maxQueuedFile/bufChunkSize, queueChunks)
	}
}

// The buffer pool bounds the memory of queued files: buffers waits while
// all are taken, a release lets it go on, a cancellation ends the wait,
// and buffers are reused rather than allocated again.
func TestWritersBuffers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := startWriters(ctx, cancel, 2, false)
	defer w.wait()

	all, err := w.buffers(queueChunks - 1)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	var two [][]byte
	go func() {
		var err error
		two, err = w.buffers(2)
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("buffers beyond the pool returned %v, want it to wait", err)
	case <-time.After(50 * time.Millisecond):
	}
	w.release(all[:1])
	if err := <-got; err != nil {
		t.Fatalf("buffers after a release: %v", err)
	}
	if &two[0][0] != &all[0][0] && &two[1][0] != &all[0][0] {
		t.Error("a released buffer was not reused")
	}
	for _, b := range two {
		if len(b) != bufChunkSize {
			t.Errorf("buffer of length %d, want %d", len(b), bufChunkSize)
		}
	}

	go func() {
		_, err := w.buffers(1)
		got <- err
	}()
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Errorf("buffers after cancel = %v, want context.Canceled", err)
	}
}
