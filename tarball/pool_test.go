package tarball_test

import (
	"bytes"
	"context"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/ocisource/ocisource/tarball"
)

// TestSmallExtractionAllocatesLittle: the large buffers of an extraction
// come from pools, so extracting a 2 KB layer again and again allocates a
// few KiB each time, not the megabytes of buffers it uses.
func TestSmallExtractionAllocatesLittle(t *testing.T) {
	archive := gzOf(t, tarOf(t, file("a.yaml", string(bytes.Repeat([]byte("k: v\n"), 200))), file("b.yaml", "kind: ConfigMap\n")))
	base := t.TempDir()
	extract := func(i int) {
		if _, err := tarball.Extract(context.Background(), bytes.NewReader(archive), filepath.Join(base, strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		extract(-i - 1) // warm the pools
	}
	const runs = 50
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range runs {
		extract(i)
	}
	runtime.ReadMemStats(&after)
	per := (after.TotalAlloc - before.TotalAlloc) / runs
	t.Logf("%d bytes allocated per extraction of a %d-byte layer", per, len(archive))
	// Under the race detector sync.Pool drops some buffers on purpose, so
	// the bound there only shows that the megabytes of buffers are not
	// allocated for every extraction (they were: 3.4 MiB).
	limit := uint64(64 << 10)
	if raceEnabled {
		limit = 1 << 20
	}
	if per > limit {
		t.Errorf("%d KiB allocated per small extraction, want at most %d KiB", per>>10, limit>>10)
	}
}
