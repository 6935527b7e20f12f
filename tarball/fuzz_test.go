package tarball_test

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource/tarball"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzExtract seed corpus")

// fuzzSeeds are the seed archives: valid ones (so the fuzzer starts from
// well-formed input) and hostile ones.
func fuzzSeeds(t testing.TB) map[string][]byte {
	valid := tarOf(t, dirEnt("app/"), file("app/a.yaml", "a: 1\n"), ent{Name: "bin/run", Body: "#!/bin/sh\n", Mode: 0o4755}, hardlink("app/b.yaml", "app/a.yaml"))
	links := tarOf(t, dirEnt("d/"), file("d/f", "x"), symlink("d/l", "f"), symlink("up", "d/../.."), symlink("d/x", "../d/f"), file("l/y", "y"))
	return map[string][]byte{
		"valid-plain":      valid,
		"valid-gzip":       gzOf(t, valid),
		"valid-multi":      append(gzOf(t, valid[:700]), gzOf(t, valid[700:])...),
		"links":            gzOf(t, links),
		"dotdot":           gzOf(t, tarOf(t, file("a/../../x", "x"))),
		"absolute":         tarOf(t, file("/tmp/x", "x"), hardlink("h", "/etc/passwd")),
		"symlink-escape":   tarOf(t, symlink("l", "/etc"), file("l/passwd", "x")),
		"dir-to-symlink":   tarOf(t, dirEnt("d/"), symlink("d", ".."), file("d/x", "x")),
		"chain":            tarOf(t, symlink("a/b/l1", ".."), symlink("a/b/l2", "l1/../.."), file("a/b/l2/x", "x")),
		"devices":          tarOf(t, ent{Name: "null", Type: tar.TypeChar}, ent{Name: "p", Type: tar.TypeFifo}),
		"truncated-gzip":   gzOf(t, valid)[:100],
		"duplicates":       tarOf(t, file("f", "1"), file("f", "2"), dirEnt("f/"), file("f/g", "3"), hardlink("h", "f/g")),
		"long-name":        tarOf(t, file(strings.Repeat("n/", 200)+"f", "x")),
		"junk-after-end":   append(tarOf(t, file("f", "x")), "junk"...),
		"backslash-volume": tarOf(t, file(`a\..\x`, "x"), file("C:x", "y")),
	}
}

// TestWriteFuzzSeeds writes the seed corpus when run with -update-seeds.
func TestWriteFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzExtract")
	seeds := fuzzSeeds(t)
	if !*updateSeeds {
		files, err := os.ReadDir(dir)
		if err != nil || len(files) < len(seeds) {
			t.Fatalf("seed corpus in %s has %d files (%v), want %d: run go test -run TestWriteFuzzSeeds -update-seeds", dir, len(files), err, len(seeds))
		}
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range seeds {
		for policy := range 3 {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint8(%d)\n", data, policy)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d", name, policy)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// FuzzExtract feeds arbitrary bytes to Extract under each symlink policy.
// Whatever the input: no panic; on error, nothing at all changed; on
// success, nothing changed outside the target, no temporary directory is
// left, and no symbolic link in the target resolves outside it.
func FuzzExtract(f *testing.F) {
	for _, data := range fuzzSeeds(f) {
		f.Add(data, uint8(2))
	}
	f.Fuzz(func(t *testing.T, data []byte, policy uint8) {
		base, target := fixture(t)
		before := snapshot(t, base)
		_, err := tarball.Extract(context.Background(), bytes.NewReader(data), target,
			tarball.WithSymlinks(tarball.SymlinkPolicy(policy%3)),
			tarball.WithMaxTotalBytes(4<<20),
			tarball.WithMaxEntries(2000),
		)
		after := snapshot(t, base)
		if err != nil {
			if diff := cmp.Diff(before, after); diff != "" {
				t.Fatalf("Extract failed (%v) but the tree changed (-want +got):\n%s", err, diff)
			}
			return
		}
		for p, desc := range after {
			if p == "target" || strings.HasPrefix(p, "target/") {
				continue
			}
			if before[p] != desc {
				t.Errorf("outside the target: %s is %q, was %q", p, desc, before[p])
			}
		}
		for p := range before {
			if _, ok := after[p]; !ok && p != "target" && !strings.HasPrefix(p, "target/") {
				t.Errorf("outside the target: %s was removed", p)
			}
		}
		root, err := os.OpenRoot(target)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		_ = filepath.WalkDir(target, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.Type()&fs.ModeSymlink == 0 {
				return nil
			}
			rel, _ := filepath.Rel(target, p)
			if _, err := root.Stat(rel); err != nil && strings.Contains(err.Error(), "escapes") {
				link, _ := os.Readlink(p)
				t.Errorf("symbolic link %s -> %s resolves outside the target: %v", rel, link, err)
			}
			return nil
		})
	})
}
