// Package testfs holds file-system helpers for the project's own tests: a
// tmpfs mounted where a test wants a mount point, and a reader that watches
// a directory being swapped and counts what it saw.
package testfs

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// MountTmpfs mounts a tmpfs of size (e.g. "64m") at a new directory and
// returns it; it is unmounted when the test ends. It needs root (CI runs as
// root): elsewhere the test is skipped, except under OCISOURCE_INTEGRATION=1,
// where a missing capability fails it.
func MountTmpfs(t testing.TB, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		if os.Getenv("OCISOURCE_INTEGRATION") == "1" {
			t.Fatalf("mounting a tmpfs (needs root, as in CI): %v", err)
		}
		t.Skipf("mounting a tmpfs needs root: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// Watch is a reader that opens a directory again and again, and reads two
// files through each opening (os.OpenRoot: one resolution of the path), as
// a program reading a swapped directory would.
type Watch struct {
	stop                   atomic.Bool
	wg                     sync.WaitGroup
	reads, mixed, notFound atomic.Int64
}

// WatchTree starts watching dir, reading the files a and b in it, which
// every version of the content gives the same bytes.
func WatchTree(dir, a, b string) *Watch {
	w := &Watch{}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for !w.stop.Load() {
			root, err := os.OpenRoot(dir)
			if err != nil {
				w.notFound.Add(1)
				continue
			}
			// Files of a version being removed may vanish under a reader
			// that opened it before the switch; what it reads must still be
			// of one version.
			x, errA := root.ReadFile(a)
			y, errB := root.ReadFile(b)
			root.Close()
			if errA == nil && errB == nil {
				w.reads.Add(1)
				if string(x) != string(y) {
					w.mixed.Add(1)
				}
			}
		}
	}()
	return w
}

// Stop ends the watch and returns how many openings read both files, how
// many of those saw two versions, and how many found no directory.
func (w *Watch) Stop() (reads, mixed, notFound int64) {
	w.stop.Store(true)
	w.wg.Wait()
	return w.reads.Load(), w.mixed.Load(), w.notFound.Load()
}
