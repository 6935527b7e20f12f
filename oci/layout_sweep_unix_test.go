//go:build unix

package oci_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
)

// What a killed copy left in a layout (a temporary file of ours, unlocked
// and old) is removed by the next copy; a temporary file another copy is
// writing (locked), a recent one, and files that are not ours stay.
func TestCopySweepsKilledCopiesTemps(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.NewT(t)
	c := reg.Client()
	if _, err := reg.PushBytes(ctx, "app:v1", oci.MediaTypeFluxContent, []byte("content")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	if _, err := oci.Copy(ctx, c, reg.Ref("app:v1"), c, oci.Reference{Layout: dir}); err != nil {
		t.Fatal(err)
	}
	blobs := filepath.Join(dir, "blobs", "sha256")
	old := time.Now().Add(-time.Hour)
	write := func(name string, age time.Time) string {
		p := filepath.Join(name)
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, age, age); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stale := write(filepath.Join(blobs, ".abc.ocisource-tmp-1x2y"), old)
	staleIndex := write(filepath.Join(dir, ".index.json.ocisource-tmp-9z"), old)
	recent := write(filepath.Join(blobs, ".def.ocisource-tmp-3k"), time.Now())
	locked := write(filepath.Join(blobs, ".ghi.ocisource-tmp-4m"), old)
	notOurs := write(filepath.Join(blobs, ".notes"), old)
	f, err := os.Open(locked)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	if _, err := oci.Copy(ctx, c, reg.Ref("app:v1"), c, oci.Reference{Layout: dir}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{stale, staleIndex} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a killed copy's leftover is still there (%v)", filepath.Base(p), err)
		}
	}
	for _, p := range []string{recent, locked, notOurs} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(p), err)
		}
	}
}
