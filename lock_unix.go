//go:build unix

package ocisource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ocisource/ocisource/internal/flock"
)

// openNoFollow opens path without following a symbolic link at it and
// without blocking on a FIFO, and insists on a regular file.
func openNoFollow(path string, flag int) (*os.File, error) {
	fd, err := unix.Open(path, flag|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o644)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, &fs.PathError{Op: "open", Path: path, Err: errors.New("is a symbolic link; refusing to follow it")}
		}
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("is a %s, not a regular file", modeName(fi.Mode()))}
	}
	return f, nil
}

func modeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m.IsDir():
		return "directory"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return m.Type().String()
}

// lockFile takes an exclusive flock on the lock file at path (created if
// missing, never through a link), polling so that ctx can end the wait.
// Other processes fetching into the same directory take the same lock.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := openNoFollow(path, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	if err := flock.Lock(ctx, f); err != nil {
		f.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("waiting for the lock %s held by another process: %w", path, err)
		}
		return nil, fmt.Errorf("lock file %s: %w", path, err)
	}
	return func() {
		flock.Unlock(f)
		f.Close()
	}, nil
}

// treeID identifies the directory at path by device and inode, which a
// rename keeps.
func treeID(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", nil
	}
	return fmt.Sprintf("%d:%d", uint64(st.Dev), uint64(st.Ino)), nil
}
