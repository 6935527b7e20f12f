//go:build unix

package flock_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ocisource/ocisource/internal/flock"
)

// A second opening waits for the first one's lock and leaves with its
// context; once the lock is released it gets it.
func TestLock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lock")
	a, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := flock.Lock(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := flock.Lock(ctx, b); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock while held: %v, want the context's deadline", err)
	}
	flock.Unlock(a)
	if err := flock.Lock(context.Background(), b); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
}
