package tarball_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

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
