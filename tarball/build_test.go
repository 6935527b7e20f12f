package tarball_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"

	"github.com/ocisource/ocisource/tarball"
)

// writeTree creates files (path -> content; a trailing "/" makes a
// directory, "-> x" a symbolic link) below root in the given order.
func writeTree(t *testing.T, root string, order []string, files map[string]string) {
	t.Helper()
	for _, p := range order {
		body := files[p]
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case p[len(p)-1] == '/':
			if err := os.MkdirAll(full, 0o700); err != nil {
				t.Fatal(err)
			}
		case len(body) > 3 && body[:3] == "-> ":
			if err := os.Symlink(body[3:], full); err != nil {
				t.Fatal(err)
			}
		default:
			mode := os.FileMode(0o600)
			if filepath.Ext(p) == ".sh" {
				mode = 0o700
			}
			if err := os.WriteFile(full, []byte(body), mode); err != nil {
				t.Fatal(err)
			}
		}
	}
}

var sampleTree = map[string]string{
	"README.md":           "# app\n",
	"deploy/app.yaml":     "kind: Deployment\n",
	"deploy/svc.yaml":     "kind: Service\n",
	"deploy/empty/":       "",
	"scripts/run.sh":      "#!/bin/sh\necho hi\n",
	"deploy/current":      "-> app.yaml",
	".git/config":         "[core]\n",
	"build/out.bin":       "binary",
	"deploy/debug.log":    "noise",
	"deploy/keep.log":     "kept",
	"z/a-b/file":          "1",
	"z/a/file":            "2",
	"z/a.b":               "3",
	"unicode/ünïcødé.txt": "u",
}

func sortedKeys(m map[string]string, reverse bool) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if (keys[j] < keys[i]) != reverse {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	return keys
}

func buildBytes(t *testing.T, dir string, opts ...tarball.BuildOption) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := tarball.Build(context.Background(), dir, &buf, opts...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestBuildReproducible(t *testing.T) {
	ignore := tarball.WithIgnorePatterns(append(tarball.DefaultIgnorePatterns(), "/build/", "*.log", "!keep.log")...)

	a := t.TempDir()
	writeTree(t, a, sortedKeys(sampleTree, false), sampleTree)
	// The same tree written in the opposite order, with other modes
	// (umask-like) and times.
	b := t.TempDir()
	writeTree(t, b, sortedKeys(sampleTree, true), sampleTree)
	filepath.Walk(b, func(p string, fi os.FileInfo, err error) error {
		if fi.Mode()&os.ModeSymlink == 0 {
			os.Chtimes(p, time.Now(), time.Unix(1234567890, 0))
			if fi.Mode().IsRegular() {
				os.Chmod(p, fi.Mode().Perm()|0o044)
			}
		}
		return nil
	})

	first := buildBytes(t, a, ignore)
	if again := buildBytes(t, a, ignore); !bytes.Equal(first, again) {
		t.Error("two builds of the same tree differ")
	}
	if other := buildBytes(t, b, ignore); !bytes.Equal(first, other) {
		t.Errorf("builds of equal trees differ: %s vs %s", digest(first), digest(other))
	}
	// A golden digest: any change to the format (or to the compressor
	// pinned in go.mod) shows up here, because it changes every artifact
	// digest users have published.
	const golden = "sha256:104d3d7a4bc4b1e4a8c2ce758c6f103640999a356202574f44a32bbd36e8b01a"
	if got := digest(first); got != golden {
		t.Logf("digest %s (update the golden value when the change is intended)", got)
		t.Fail()
	}

	// What the archive holds, in order.
	zr, err := gzip.NewReader(bytes.NewReader(first))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() || zr.OS != 255 {
		t.Errorf("gzip header name %q, time %v, OS %d, want empty, zero, 255", zr.Name, zr.ModTime, zr.OS)
	}
	tr := tar.NewReader(zr)
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: uid %d gid %d uname %q gname %q mtime %v", h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime)
		}
		line := h.Name + " " + os.FileMode(h.Mode).String()
		if h.Linkname != "" {
			line += " -> " + h.Linkname
		}
		got = append(got, line)
	}
	want := []string{
		"README.md -rw-r--r--",
		"deploy/ -rwxr-xr-x",
		"deploy/app.yaml -rw-r--r--",
		"deploy/current -rwxrwxrwx -> app.yaml",
		"deploy/empty/ -rwxr-xr-x",
		"deploy/keep.log -rw-r--r--",
		"deploy/svc.yaml -rw-r--r--",
		"scripts/ -rwxr-xr-x",
		"scripts/run.sh -rwxr-xr-x",
		"unicode/ -rwxr-xr-x",
		"unicode/ünïcødé.txt -rw-r--r--",
		"z/ -rwxr-xr-x",
		"z/a/ -rwxr-xr-x",
		"z/a/file -rw-r--r--",
		"z/a-b/ -rwxr-xr-x",
		"z/a-b/file -rw-r--r--",
		"z/a.b -rw-r--r--",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

func TestBuildExtractRoundTrip(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, sortedKeys(sampleTree, false), sampleTree)
	archive := buildBytes(t, src, tarball.WithModTime(time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)))
	dst := filepath.Join(t.TempDir(), "out")
	if _, err := tarball.Extract(context.Background(), bytes.NewReader(archive), dst, tarball.WithSymlinks(tarball.SymlinksInsideRoot)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(listTree(t, src), listTree(t, dst)); diff != "" {
		t.Errorf("round trip (-src +dst):\n%s", diff)
	}
	fi, _ := os.Stat(filepath.Join(dst, "deploy", "app.yaml"))
	if !fi.ModTime().Equal(time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)) {
		t.Errorf("mtime %v, want the WithModTime value", fi.ModTime())
	}
}

func TestBuildErrors(t *testing.T) {
	t.Run("missing dir", func(t *testing.T) {
		if err := tarball.Build(context.Background(), filepath.Join(t.TempDir(), "no"), io.Discard); err == nil {
			t.Error("Build succeeded on a missing directory")
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		dir := t.TempDir()
		writeTree(t, dir, sortedKeys(sampleTree, false), sampleTree)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := tarball.Build(ctx, dir, io.Discard); !errors.Is(err, context.Canceled) {
			t.Errorf("Build error = %v, want context.Canceled", err)
		}
	})
	t.Run("options", func(t *testing.T) {
		dir := t.TempDir()
		for name, opt := range map[string]tarball.BuildOption{
			"bad pattern":  tarball.WithIgnorePatterns("[x"),
			"bad level":    tarball.WithCompressionLevel(42),
			"before epoch": tarball.WithModTime(time.Unix(-1, 0)),
		} {
			if err := tarball.Build(context.Background(), dir, io.Discard, opt); !errors.Is(err, tarball.ErrInvalidOption) {
				t.Errorf("%s: Build error = %v, want ErrInvalidOption", name, err)
			}
		}
	})
}
