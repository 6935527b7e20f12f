//go:build unix

// Package flock takes exclusive flock(2) locks for the fetch lock of the
// root package and the layout lock of oci.Copy, polling with a non-blocking
// try so that the caller's context can end the wait (a blocking flock
// cannot be interrupted).
package flock

import (
	"context"
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Lock takes an exclusive lock on f, waiting for other holders until ctx
// ends (then it returns ctx.Err()). The lock goes with f's close, or with
// Unlock.
func Lock(ctx context.Context, f *os.File) error {
	wait := time.Millisecond
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, 50*time.Millisecond)
	}
}

// Unlock releases the lock Lock took on f.
func Unlock(f *os.File) { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN) }
