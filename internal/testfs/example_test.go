package testfs_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ocisource/ocisource/internal/testfs"
)

// Watch a directory whose two files always agree.
func ExampleWatchTree() {
	dir, _ := os.MkdirTemp("", "testfs-example-")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "a"), []byte("v1"), 0o644)
	os.WriteFile(filepath.Join(dir, "b"), []byte("v1"), 0o644)
	w := testfs.WatchTree(dir, "a", "b")
	for {
		if reads, _, _ := w.Stop(); reads > 0 {
			break
		}
		w = testfs.WatchTree(dir, "a", "b")
	}
	_, mixed, notFound := w.Stop()
	fmt.Println(mixed, notFound)
	// Output: 0 0
}
