package tarball_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource/internal/testfs"
	"github.com/ocisource/ocisource/tarball"
)

// version builds an archive whose files all say which version they are.
func version(t testing.TB, v string, extra ...ent) []byte {
	ents := []ent{
		dirEnt("cfg/"),
		file("cfg/a.txt", v),
		file("cfg/b.txt", v),
		file("top-"+v+".txt", v),
	}
	return gzOf(t, tarOf(t, append(ents, extra...)...))
}

// TestExtractIntoMountPoint extracts twice into a tmpfs mounted at the
// target (which renameat2 cannot replace), while a reader checks that the
// files it reads through one opening of the tree are of one version.
func TestExtractIntoMountPoint(t *testing.T) {
	dir := testfs.MountTmpfs(t, "64m")
	if l, err := tarball.LayoutOf(dir); err != nil || l != tarball.LayoutLinked {
		t.Fatalf("LayoutOf(mount point) = %v, %v; want linked", l, err)
	}
	if _, err := tarball.Extract(context.Background(), bytes.NewReader(version(t, "v1")), dir); err != nil {
		t.Fatal(err)
	}

	watch := testfs.WatchTree(filepath.Join(dir, "cfg"), "a.txt", "b.txt")
	for i := range 20 {
		v := fmt.Sprintf("v%d", i+2)
		if _, err := tarball.Extract(context.Background(), bytes.NewReader(version(t, v)), dir); err != nil {
			t.Fatalf("extract %s: %v", v, err)
		}
	}
	if reads, mixed, missing := watch.Stop(); mixed != 0 || missing != 0 || reads == 0 {
		t.Errorf("reader: %d reads, %d saw two versions, %d did not find cfg/", reads, mixed, missing)
	}

	got, err := os.ReadFile(filepath.Join(dir, "cfg", "a.txt"))
	if err != nil || string(got) != "v21" {
		t.Errorf("cfg/a.txt = %q, %v; want v21", got, err)
	}
	// Only the current version, the previous one (kept for readers still
	// walking into it), the link and one link per top-level name; Recover
	// (what the next Fetch does first) leaves the current version alone.
	cur, err := tarball.ContentDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var prev string
	for _, n := range dirNames(t, dir) {
		if strings.HasPrefix(n, "..v-") && n != filepath.Base(cur) {
			if prev != "" {
				t.Errorf("two earlier versions kept: %s and %s", prev, n)
			}
			prev = n
		}
	}
	if prev == "" {
		t.Error("the previous version was removed at the switch: a reader on its way into it finds nothing")
	}
	want := []string{tarball.DataLink, filepath.Base(cur), prev, "cfg", "top-v21.txt"}
	if diff := cmp.Diff(slices.Sorted(slices.Values(want)), dirNames(t, dir)); diff != "" {
		t.Errorf("entries of the mount point (-want +got):\n%s", diff)
	}
	if err := tarball.Recover(dir); err != nil {
		t.Fatal(err)
	}
	want = []string{tarball.DataLink, filepath.Base(cur), "cfg", "top-v21.txt"}
	if diff := cmp.Diff(slices.Sorted(slices.Values(want)), dirNames(t, dir)); diff != "" {
		t.Errorf("entries after Recover (-want +got):\n%s", diff)
	}
	for _, n := range []string{"cfg", "top-v21.txt"} {
		if link, err := os.Readlink(filepath.Join(dir, n)); err != nil || link != tarball.DataLink+"/"+n {
			t.Errorf("%s -> %q, %v; want a link through %s", n, link, err, tarball.DataLink)
		}
	}
}

// TestExtractSwapReaderAlwaysFindsTree extracts 30 versions into an
// ordinary directory while a reader opens it again and again: the exchange
// means the directory always exists and each opening is one version (the
// two-rename fallback leaves an instant with no directory, which fails it).
func TestExtractSwapReaderAlwaysFindsTree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "app")
	if _, err := tarball.Extract(context.Background(), bytes.NewReader(version(t, "v1")), dir); err != nil {
		t.Fatal(err)
	}
	if l, _ := tarball.LayoutOf(dir); l != tarball.LayoutSwap {
		t.Fatalf("LayoutOf = %v, want swap", l)
	}
	watch := testfs.WatchTree(dir, "cfg/a.txt", "cfg/b.txt")
	for i := range 30 {
		if _, err := tarball.Extract(context.Background(), bytes.NewReader(version(t, fmt.Sprintf("v%d", i+2))), dir); err != nil {
			t.Fatal(err)
		}
	}
	if reads, mixed, missing := watch.Stop(); mixed != 0 || missing != 0 || reads == 0 {
		t.Errorf("reader: %d reads, %d saw two versions, %d found no directory", reads, mixed, missing)
	}
}

// TestExtractLinkedKeepsReservedNames: names starting with ".." (the
// callers') and lost+found survive a swap; content may not use them.
func TestExtractLinkedKeepsReservedNames(t *testing.T) {
	dir := testfs.MountTmpfs(t, "64m")
	for _, n := range []string{"..caller.json", "lost+found"} {
		if err := os.Mkdir(filepath.Join(dir, n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tarball.Extract(context.Background(), bytes.NewReader(version(t, "v1")), dir); err != nil {
		t.Fatal(err)
	}
	if _, err := tarball.Extract(context.Background(), bytes.NewReader(version(t, "v2")), dir); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"..caller.json", "lost+found"} {
		if _, err := os.Lstat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	before := dirNames(t, dir)
	for _, bad := range []string{"..data", "..x", "lost+found/x"} {
		_, err := tarball.Extract(context.Background(), bytes.NewReader(version(t, "v3", file(bad, "x"))), dir)
		if !errors.Is(err, tarball.ErrInsecurePath) {
			t.Errorf("content with %q: error = %v, want ErrInsecurePath", bad, err)
		}
	}
	if diff := cmp.Diff(before, dirNames(t, dir)); diff != "" {
		t.Errorf("refused extractions changed the directory (-want +got):\n%s", diff)
	}
}

// TestRecover removes what an interrupted extraction leaves, and nothing
// else, in both layouts.
func TestRecover(t *testing.T) {
	t.Run("swap", func(t *testing.T) {
		base := t.TempDir()
		dir := filepath.Join(base, "app")
		if _, err := tarball.Extract(context.Background(), bytes.NewReader(version(t, "v1")), dir); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{".app.ocisource-tmp", ".app.ocisource-old", ".app.tmp-abc", ".other.ocisource-tmp", "app.ocisource-tmp"} {
			if err := os.MkdirAll(filepath.Join(base, n, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := tarball.Recover(dir); err != nil {
			t.Fatal(err)
		}
		want := []string{".app.tmp-abc", ".other.ocisource-tmp", "app", "app.ocisource-tmp"}
		if diff := cmp.Diff(want, dirNames(t, base)); diff != "" {
			t.Errorf("after Recover (-want +got):\n%s", diff)
		}
		// A link planted at the temporary name is removed, not followed.
		victim := filepath.Join(base, "victim")
		os.Mkdir(victim, 0o755)
		os.WriteFile(filepath.Join(victim, "keep"), []byte("x"), 0o644)
		if err := os.Symlink(victim, filepath.Join(base, ".app.ocisource-tmp")); err != nil {
			t.Fatal(err)
		}
		if _, err := tarball.Extract(context.Background(), bytes.NewReader(version(t, "v2")), dir); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(victim, "keep")); err != nil {
			t.Errorf("the link's target lost its file: %v", err)
		}
	})
	t.Run("linked", func(t *testing.T) {
		dir := testfs.MountTmpfs(t, "64m")
		if _, err := tarball.Extract(context.Background(), bytes.NewReader(version(t, "v1")), dir); err != nil {
			t.Fatal(err)
		}
		// A crash after the switch to v2 and before its links: a version
		// left, a link of v1 dangling, v2's own link missing, a temp link.
		cur, _ := tarball.ContentDir(dir)
		if _, err := tarball.Extract(context.Background(), bytes.NewReader(version(t, "v2")), dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(cur, 0o755); err != nil { // the old version (kept, or back)
			t.Fatal(err)
		}
		if err := os.Symlink("..data/top-v1.txt", filepath.Join(dir, "top-v1.txt")); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(dir, "top-v2.txt")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("..v-1", filepath.Join(dir, "..tmp-77")); err != nil {
			t.Fatal(err)
		}
		if err := tarball.Recover(dir); err != nil {
			t.Fatal(err)
		}
		now, _ := tarball.ContentDir(dir)
		want := slices.Sorted(slices.Values([]string{tarball.DataLink, filepath.Base(now), "cfg", "top-v2.txt"}))
		if diff := cmp.Diff(want, dirNames(t, dir)); diff != "" {
			t.Errorf("after Recover (-want +got):\n%s", diff)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "top-v2.txt")); err != nil || string(b) != "v2" {
			t.Errorf("top-v2.txt = %q, %v", b, err)
		}
	})
}

// TestSettings: the same effective options give the same text, any option
// that changes the outcome changes it, callbacks do not, bad options fail.
func TestSettings(t *testing.T) {
	baseConfig, err := tarball.Settings()
	if err != nil {
		t.Fatal(err)
	}
	base := baseConfig.String()
	sameConfig, _ := tarball.Settings(tarball.WithMaxTotalBytes(tarball.DefaultMaxTotalBytes), tarball.WithProgress(func(tarball.Stats) {}),
		tarball.WithBeforeCommit(func(string) error { return nil }), tarball.WithExclude("# only a comment"))
	if same := sameConfig.String(); same != base {
		t.Errorf("Settings with defaults and callbacks = %q, want %q", same, base)
	}
	seen := map[string]string{base: "defaults"}
	for name, opt := range map[string]tarball.Option{
		"total":       tarball.WithMaxTotalBytes(1 << 20),
		"file":        tarball.WithMaxFileBytes(1 << 20),
		"entries":     tarball.WithMaxEntries(10),
		"pathlen":     tarball.WithMaxPathLength(100),
		"depth":       tarball.WithMaxPathDepth(5),
		"header":      tarball.WithMaxHeaderBytes(4096),
		"symlinks":    tarball.WithSymlinks(tarball.SymlinksInsideRoot),
		"compression": tarball.WithCompression(tarball.CompressionGzip),
		"sync":        tarball.WithSync(true),
		"exclude":     tarball.WithExclude("*.tmp"),
		"unlimited":   tarball.WithMaxEntries(tarball.Unlimited),
	} {
		c, err := tarball.Settings(opt)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		s := c.String()
		if other, dup := seen[s]; dup {
			t.Errorf("%s gives the same Settings as %s: %q", name, other, s)
		}
		seen[s] = name
	}
	if c, _ := tarball.Settings(tarball.WithSync(true), tarball.WithCompression(tarball.CompressionNone), tarball.WithExclude("*.tmp")); !c.Sync ||
		c.Compression != tarball.CompressionNone || len(c.Exclude) != 1 || baseConfig.Sync || baseConfig.Compression != tarball.CompressionAuto {
		t.Errorf("Settings fields: %+v (defaults %+v)", c, baseConfig)
	}
	if _, err := tarball.Settings(tarball.WithMaxEntries(0)); !errors.Is(err, tarball.ErrInvalidOption) {
		t.Errorf("Settings(WithMaxEntries(0)) error = %v, want ErrInvalidOption", err)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
