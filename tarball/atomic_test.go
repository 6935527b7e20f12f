package tarball

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func mkTree(t *testing.T, dir, file string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The fallback used where renameat2(RENAME_EXCHANGE) is not available.
func TestRenameAside(t *testing.T) {
	parent := t.TempDir()
	dst := filepath.Join(parent, "dst")
	tmp := filepath.Join(parent, ".dst.tmp-1")
	mkTree(t, dst, "old")
	mkTree(t, tmp, "new")
	if err := renameAside(tmp, dst); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"dst"}, dirNames(t, parent)); diff != "" {
		t.Errorf("parent (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"new"}, dirNames(t, dst)); diff != "" {
		t.Errorf("dst (-want +got):\n%s", diff)
	}
}

func TestRenameAsideRestoresOnFailure(t *testing.T) {
	parent := t.TempDir()
	dst := filepath.Join(parent, "dst")
	mkTree(t, dst, "old")
	if err := renameAside(filepath.Join(parent, "missing"), dst); err == nil {
		t.Fatal("renameAside succeeded with a missing source")
	}
	if diff := cmp.Diff([]string{"dst"}, dirNames(t, parent)); diff != "" {
		t.Errorf("parent (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"old"}, dirNames(t, dst)); diff != "" {
		t.Errorf("dst (-want +got):\n%s", diff)
	}
}

func TestReplaceDirExchange(t *testing.T) {
	parent := t.TempDir()
	dst := filepath.Join(parent, "dst")
	tmp := filepath.Join(parent, ".dst.tmp-1")
	mkTree(t, dst, "old")
	mkTree(t, tmp, "new")
	if err := replaceDir(tmp, dst, true); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"dst"}, dirNames(t, parent)); diff != "" {
		t.Errorf("parent (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"new"}, dirNames(t, dst)); diff != "" {
		t.Errorf("dst (-want +got):\n%s", diff)
	}
}
