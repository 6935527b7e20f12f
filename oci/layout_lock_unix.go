//go:build unix

package oci

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/ocisource/ocisource/internal/flock"
)

// lockDir takes an exclusive flock on the directory itself (no lock file
// is left in someone's layout), polling so that ctx can end the wait.
func lockDir(ctx context.Context, dir string) (func(), error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := flock.Lock(ctx, f); err != nil {
		f.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("waiting for the lock on %s held by another copy: %w", dir, err)
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return func() {
		flock.Unlock(f)
		f.Close()
	}, nil
}

// lockTemp takes an exclusive flock on a temporary file being written, so
// that a sweep of another copy leaves it alone. It is released when f is
// closed. A failure only weakens that protection (the sweep also waits for
// the file to age), so it is not reported.
func lockTemp(f *os.File) { _ = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) }

// tryLockTemp reports whether no one holds f's lock (and takes it).
func tryLockTemp(f *os.File) bool {
	return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil
}
