package tarball_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource/tarball"
)

func TestExtractExclude(t *testing.T) {
	big := strings.Repeat("b", 2<<20) // larger than the header limit
	archive := gzOf(t, tarOf(t,
		dirEnt("app/"),
		file("app/a.yaml", "a"),
		file("app/big.bin", big),
		file("app/b.yaml", "b"),
		dirEnt(".git/"),
		file(".git/HEAD", "ref"),
		ent{Name: "dev/null", Type: 'Z'},
		file("keep.log", "k"),
		file("drop.log", "d"),
	))
	target := filepath.Join(t.TempDir(), "t")
	st, err := tarball.Extract(context.Background(), bytes.NewReader(archive), target,
		tarball.WithExclude("*.bin", ".git/", "/dev/"),
		tarball.WithExclude("*.log", "!keep.log"),
	)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"app/", `app/a.yaml "a"`, `app/b.yaml "b"`, `keep.log "k"`}
	if diff := cmp.Diff(want, listTree(t, target)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
	if st.Skipped != 5 || st.Bytes != 3 {
		t.Errorf("Skipped, Bytes = %d, %d, want 5, 3", st.Skipped, st.Bytes)
	}

	t.Run("excluded data counts against the total", func(t *testing.T) {
		base, target := fixture(t)
		before := snapshot(t, base)
		_, err := tarball.Extract(context.Background(), bytes.NewReader(archive), target,
			tarball.WithExclude("*.bin"), tarball.WithMaxTotalBytes(1<<20))
		var le *tarball.LimitError
		if !errors.As(err, &le) || le.Limit != tarball.LimitTotalBytes {
			t.Errorf("Extract error = %v, want a total-bytes LimitError", err)
		}
		if diff := cmp.Diff(before, snapshot(t, base)); diff != "" {
			t.Errorf("tree changed (-want +got):\n%s", diff)
		}
	})
	t.Run("excluded names are still checked", func(t *testing.T) {
		_, err := tarball.Extract(context.Background(), bytes.NewReader(tarOf(t, file("../x.bin", "x"))), filepath.Join(t.TempDir(), "t"),
			tarball.WithExclude("*.bin"))
		if !errors.Is(err, tarball.ErrInsecurePath) {
			t.Errorf("Extract error = %v, want ErrInsecurePath", err)
		}
	})
	t.Run("hard link to an excluded file", func(t *testing.T) {
		_, err := tarball.Extract(context.Background(), bytes.NewReader(tarOf(t, file("a.bin", "x"), hardlink("h", "a.bin"))), filepath.Join(t.TempDir(), "t"),
			tarball.WithExclude("*.bin"))
		if !errors.Is(err, tarball.ErrInvalidArchive) {
			t.Errorf("Extract error = %v, want ErrInvalidArchive", err)
		}
	})
	t.Run("bad pattern", func(t *testing.T) {
		_, err := tarball.Extract(context.Background(), bytes.NewReader(tarOf(t)), filepath.Join(t.TempDir(), "t"), tarball.WithExclude("[x"))
		if !errors.Is(err, tarball.ErrInvalidOption) {
			t.Errorf("Extract error = %v, want ErrInvalidOption", err)
		}
	})
}

func TestValidatePatterns(t *testing.T) {
	if err := tarball.ValidatePatterns("*.md", "!keep.md", "docs/", "/root-only", "a/**/b"); err != nil {
		t.Errorf("valid patterns: %v", err)
	}
	for _, bad := range []string{"[", "/", "a/[b"} {
		if err := tarball.ValidatePatterns(bad); !errors.Is(err, tarball.ErrInvalidOption) {
			t.Errorf("ValidatePatterns(%q) = %v, want ErrInvalidOption", bad, err)
		}
	}
}

// TestExtractExcludeHostilePattern extracts the 250-deep tree with a pattern
// built to make a backtracking matcher exponential; it must finish well
// within its deadline and leave out exactly what the pattern names.
func TestExtractExcludeHostilePattern(t *testing.T) {
	archive := deepTree(t)
	for _, patterns := range [][]string{
		{strings.Repeat("**/", 12) + "x"},
		{strings.Repeat("**/", 12) + "f2999.yaml", "*.tmp"},
		{strings.Repeat("d1/**/", 6) + "zz"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		done := make(chan error, 1)
		var stats *tarball.Stats
		go func() {
			var err error
			stats, err = tarball.Extract(ctx, bytes.NewReader(archive), filepath.Join(t.TempDir(), "t"), tarball.WithExclude(patterns...))
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("patterns %q: %v", patterns, err)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("patterns %q: Extract ran past its 30s deadline", patterns)
		}
		cancel()
		wantSkipped := int64(0)
		if strings.HasSuffix(patterns[0], "f2999.yaml") {
			wantSkipped = 1
		}
		if stats.Skipped != wantSkipped || stats.Files != 3000-wantSkipped {
			t.Errorf("patterns %q: %d files, %d skipped; want %d, %d", patterns, stats.Files, stats.Skipped, 3000-wantSkipped, wantSkipped)
		}
	}
}

// TestExtractExcludeDeepDirectory leaves out a directory deep in a path no
// entry has created yet, then extracts a sibling: the kept parents appear
// once, the left-out one never.
func TestExtractExcludeDeepDirectory(t *testing.T) {
	archive := gzOf(t, tarOf(t,
		file("a/b/c/node_modules/x/y.js", "1"),
		file("a/b/c/node_modules/z.js", "2"),
		dirEnt("a/b/c/node_modules/"),
		file("a/b/c/keep.yaml", "3"),
		file("a/b/c", "replaced?"),
	))
	target := filepath.Join(t.TempDir(), "t")
	_, err := tarball.Extract(context.Background(), bytes.NewReader(archive), target, tarball.WithExclude("node_modules/"))
	// "a/b/c" as a file would replace the directory a/b/c: refused.
	if !errors.Is(err, tarball.ErrInsecurePath) {
		t.Fatalf("Extract error = %v, want ErrInsecurePath", err)
	}
	archive = gzOf(t, tarOf(t,
		file("a/b/c/node_modules/x/y.js", "1"),
		dirEnt("a/b/c/node_modules/"),
		file("a/b/c/keep.yaml", "3"),
		file("a/b/c/node_modules", "a file now"),
	))
	stats, err := tarball.Extract(context.Background(), bytes.NewReader(archive), target, tarball.WithExclude("node_modules/"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a/", "a/b/", "a/b/c/", `a/b/c/keep.yaml "3"`, `a/b/c/node_modules "a file now"`}
	if diff := cmp.Diff(want, listTree(t, target)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
	if stats.Skipped != 2 || stats.Dirs != 3 {
		t.Errorf("stats = %+v, want 2 skipped, 3 dirs", stats)
	}
}
