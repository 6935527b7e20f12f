//go:build unix

package tarball_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/ocisource/ocisource/tarball"
)

func TestBuildFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	err := tarball.Build(context.Background(), dir, io.Discard)
	var ee *tarball.EntryError
	if !errors.Is(err, tarball.ErrUnsupportedEntry) || !errors.As(err, &ee) || ee.Name != "pipe" {
		t.Errorf("Build error = %v, want ErrUnsupportedEntry naming pipe", err)
	}
}
