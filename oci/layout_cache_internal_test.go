package oci

import (
	"archive/tar"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writeTarLayout(t *testing.T, p string, files map[string]string) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(content)), Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// A layout tar is indexed once per file version, not once per operation.
func TestLayoutTarIndexCached(t *testing.T) {
	p := filepath.Join(t.TempDir(), "layout.tar")
	files := map[string]string{"oci-layout": `{"imageLayoutVersion":"1.0.0"}`, "index.json": `{"schemaVersion":2,"manifests":[]}`}
	writeTarLayout(t, p, files)
	c, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stores := func() *tarStore {
		t.Helper()
		if _, err := c.Tags(ctx, Reference{Layout: p}); err != nil {
			t.Fatal(err)
		}
		c.tars.mu.Lock()
		defer c.tars.mu.Unlock()
		return c.tars.m[p].ts
	}
	first := stores()
	if first == nil {
		t.Fatal("the tar's index was not kept")
	}
	if again := stores(); again != first {
		t.Error("an unchanged tar was indexed again")
	}
	// A new version of the file (rewritten, later mtime) is indexed anew.
	files["index.json"] = `{"schemaVersion":2,"manifests":[ ]}`
	writeTarLayout(t, p, files)
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	if changed := stores(); changed == first {
		t.Error("a changed tar was read through its old index")
	}
	// The cache stays bounded.
	for i := range maxCachedTars + 3 {
		q := filepath.Join(t.TempDir(), "l.tar")
		writeTarLayout(t, q, files)
		if _, err := c.Tags(ctx, Reference{Layout: q}); err != nil {
			t.Fatal(i, err)
		}
	}
	c.tars.mu.Lock()
	n := len(c.tars.m)
	c.tars.mu.Unlock()
	if n > maxCachedTars {
		t.Errorf("%d tar indexes kept, want at most %d", n, maxCachedTars)
	}
}
