package tarball_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource/tarball"
)

// umaskedPerm returns what perm becomes when the process creates a file.
func umaskedPerm(t *testing.T, perm fs.FileMode) fs.FileMode {
	t.Helper()
	p := filepath.Join(t.TempDir(), "probe")
	if err := os.WriteFile(p, nil, 0o777); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return perm & fi.Mode().Perm()
}

func TestExtractReplacesTarget(t *testing.T) {
	base, target := fixture(t)
	archive := gzOf(t, tarOf(t,
		dirEnt("app/"),
		file("app/deploy.yaml", "kind: Deployment\n"),
		file("app/config/values.yaml", "replicas: 2\n"), // implies app/config/
		ent{Name: "bin/run.sh", Body: "#!/bin/sh\n", Mode: 0o755},
		hardlink("app/values-link.yaml", "app/config/values.yaml"),
		file("./dot/slash//name", "cleaned\n"),
	))
	st, err := tarball.Extract(context.Background(), bytes.NewReader(archive), target)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"app/",
		"app/config/",
		`app/config/values.yaml "replicas: 2\n"`,
		`app/deploy.yaml "kind: Deployment\n"`,
		`app/values-link.yaml "replicas: 2\n"`,
		"bin/",
		`bin/run.sh "#!/bin/sh\n"`,
		"dot/",
		"dot/slash/",
		`dot/slash/name "cleaned\n"`,
	}
	if diff := cmp.Diff(want, listTree(t, target)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
	wantStats := &tarball.Stats{Entries: 6, Files: 4, Dirs: 5, Hardlinks: 1, Bytes: int64(len("kind: Deployment\nreplicas: 2\n#!/bin/sh\ncleaned\n"))}
	if diff := cmp.Diff(wantStats, st); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	a, _ := os.Stat(filepath.Join(target, "app/config/values.yaml"))
	b, _ := os.Stat(filepath.Join(target, "app/values-link.yaml"))
	if !os.SameFile(a, b) {
		t.Error("hard link is a copy, want the same file")
	}
	if fi, _ := os.Stat(filepath.Join(target, "bin/run.sh")); fi.Mode().Perm() != umaskedPerm(t, 0o755) {
		t.Errorf("run.sh mode = %v, want %v", fi.Mode().Perm(), umaskedPerm(t, 0o755))
	}
	// Only the target changed in the parent: no temporary or old directory left.
	entries, _ := os.ReadDir(base)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"outside", "target"}, names); diff != "" {
		t.Errorf("parent directory (-want +got):\n%s", diff)
	}
}

func TestExtractCreatesTarget(t *testing.T) {
	target := filepath.Join(t.TempDir(), "new")
	if _, err := tarball.Extract(context.Background(), bytes.NewReader(tarOf(t, file("a", "x"))), target); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{`a "x"`}, listTree(t, target)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
	fi, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), umaskedPerm(t, 0o755); got != want {
		t.Errorf("target mode = %v, want %v", got, want)
	}
}

func TestExtractEmptyArchiveEmptiesTarget(t *testing.T) {
	_, target := fixture(t)
	st, err := tarball.Extract(context.Background(), bytes.NewReader(tarOf(t)), target)
	if err != nil {
		t.Fatal(err)
	}
	if got := listTree(t, target); len(got) != 0 {
		t.Errorf("tree = %q, want empty", got)
	}
	if diff := cmp.Diff(&tarball.Stats{}, st); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

func TestExtractModes(t *testing.T) {
	target := filepath.Join(t.TempDir(), "t")
	archive := tarOf(t,
		ent{Name: "setuid", Body: "x", Mode: 0o4755},
		ent{Name: "setgid", Body: "x", Mode: 0o2750},
		ent{Name: "private", Body: "x", Mode: 0o600},
		ent{Name: "sticky/", Type: tar.TypeDir, Mode: 0o1777},
		ent{Name: "readonly/", Type: tar.TypeDir, Mode: 0o500},
		ent{Name: "readonly/f", Body: "x", Mode: 0o444},
		ent{Name: "noperm/", Type: tar.TypeDir, Mode: 0o001},
	)
	if _, err := tarball.Extract(context.Background(), bytes.NewReader(archive), target); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]fs.FileMode{
		"setuid":     0o755,
		"setgid":     0o750,
		"private":    0o600,
		"sticky":     fs.ModeDir | 0o777,
		"readonly":   fs.ModeDir | 0o700,
		"readonly/f": 0o444,
		"noperm":     fs.ModeDir | 0o701,
	} {
		fi, err := os.Lstat(filepath.Join(target, name))
		if err != nil {
			t.Fatal(err)
		}
		want = want&^fs.ModePerm | umaskedPerm(t, want.Perm())
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode(), want)
		}
	}
	// The tree can be removed by its owner.
	if err := os.RemoveAll(target); err != nil {
		t.Errorf("RemoveAll: %v", err)
	}
}

func TestExtractTimes(t *testing.T) {
	target := filepath.Join(t.TempDir(), "t")
	past := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	future := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	archive := tarOf(t,
		ent{Name: "old/", Type: tar.TypeDir, ModTime: past},
		ent{Name: "old/f", Body: "x", ModTime: past},
		ent{Name: "future/", Type: tar.TypeDir, ModTime: future},
		ent{Name: "future/f", Body: "x", ModTime: future},
	)
	start := time.Now()
	if _, err := tarball.Extract(context.Background(), bytes.NewReader(archive), target); err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	for _, name := range []string{"old", "old/f"} {
		fi, _ := os.Stat(filepath.Join(target, name))
		if !fi.ModTime().Equal(past) {
			t.Errorf("%s: mtime %v, want %v", name, fi.ModTime(), past)
		}
	}
	for _, name := range []string{"future", "future/f"} {
		fi, _ := os.Stat(filepath.Join(target, name))
		if mt := fi.ModTime(); mt.Before(start.Add(-time.Second)) || mt.After(end) {
			t.Errorf("%s: mtime %v, want clamped to the time of extraction", name, mt)
		}
	}
}

func TestExtractSymlinkPolicies(t *testing.T) {
	archive := tarOf(t,
		dirEnt("b/"),
		file("b/c", "target"),
		symlink("a/l", "./../b//c"),
		symlink("a/dir", "../b/"),
		symlink("top", "b"),
		symlink("dangling", "missing/file"),
		file("later/x", "x"),
	)
	t.Run("inside root", func(t *testing.T) {
		target := filepath.Join(t.TempDir(), "t")
		st, err := tarball.Extract(context.Background(), bytes.NewReader(archive), target, tarball.WithSymlinks(tarball.SymlinksInsideRoot))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"a/", "a/dir -> ../b", "a/l -> ../b/c", "b/", `b/c "target"`, "dangling -> missing/file", "later/", `later/x "x"`, "top -> b"}
		if diff := cmp.Diff(want, listTree(t, target)); diff != "" {
			t.Errorf("tree (-want +got):\n%s", diff)
		}
		if st.Symlinks != 4 {
			t.Errorf("Symlinks = %d, want 4", st.Symlinks)
		}
		got, err := os.ReadFile(filepath.Join(target, "a/l"))
		if err != nil || string(got) != "target" {
			t.Errorf("reading through a/l = %q, %v", got, err)
		}
	})
	t.Run("skip", func(t *testing.T) {
		target := filepath.Join(t.TempDir(), "t")
		st, err := tarball.Extract(context.Background(), bytes.NewReader(archive), target, tarball.WithSymlinks(tarball.SymlinksSkip))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"b/", `b/c "target"`, "later/", `later/x "x"`}
		if diff := cmp.Diff(want, listTree(t, target)); diff != "" {
			t.Errorf("tree (-want +got):\n%s", diff)
		}
		if st.Skipped != 4 || st.Symlinks != 0 {
			t.Errorf("Skipped, Symlinks = %d, %d, want 4, 0", st.Skipped, st.Symlinks)
		}
	})
	t.Run("skip then a file where the link was", func(t *testing.T) {
		// A skipped link to /etc leaves nothing behind; the file below it
		// lands in a real directory inside the target.
		target := filepath.Join(t.TempDir(), "t")
		_, err := tarball.Extract(context.Background(), bytes.NewReader(tarOf(t, symlink("l", "/etc"), file("l/passwd", "x"))), target, tarball.WithSymlinks(tarball.SymlinksSkip))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"l/", `l/passwd "x"`}, listTree(t, target)); diff != "" {
			t.Errorf("tree (-want +got):\n%s", diff)
		}
	})
}

func TestExtractDuplicates(t *testing.T) {
	inside := tarball.WithSymlinks(tarball.SymlinksInsideRoot)
	cases := []struct {
		name string
		ents []ent
		want []string
	}{
		{"file replaces file", []ent{file("f", "one"), file("f", "two")}, []string{`f "two"`}},
		{"symlink replaces file", []ent{file("g", "g"), file("f", "one"), symlink("f", "g")}, []string{"f -> g", `g "g"`}},
		{"file replaces symlink", []ent{file("g", "g"), symlink("f", "g"), file("f", "own")}, []string{`f "own"`, `g "g"`}},
		{"directory replaces file", []ent{file("d", "x"), dirEnt("d/"), file("d/f", "y")}, []string{"d/", `d/f "y"`}},
		{"directory replaces symlink", []ent{symlink("d", "x"), dirEnt("d/"), file("d/f", "y")}, []string{"d/", `d/f "y"`}},
		{"directory twice", []ent{dirEnt("d/"), file("d/f", "y"), dirEnt("d/")}, []string{"d/", `d/f "y"`}},
		{"hard link keeps the replaced content", []ent{file("f", "one"), hardlink("h", "f"), file("f", "two")}, []string{`f "two"`, `h "one"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "t")
			if _, err := tarball.Extract(context.Background(), bytes.NewReader(tarOf(t, c.ents...)), target, inside); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, listTree(t, target)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExtractFormats(t *testing.T) {
	ents := []ent{dirEnt("d/"), file("d/"+strings.Repeat("long-name-", 20), "long"), file("d/f", strings.Repeat("data ", 1000))}
	wantTree := []string{"d/", `d/f "` + strings.Repeat("data ", 1000) + `"`, "d/" + strings.Repeat("long-name-", 20) + ` "long"`}
	tr := tarOf(t, ents...)
	gnu := func() []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, e := range ents {
			h := &tar.Header{Name: e.Name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e.Body)), Format: tar.FormatGNU}
			if e.Type == tar.TypeDir {
				h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
			}
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			tw.Write([]byte(e.Body))
		}
		tw.Close()
		return buf.Bytes()
	}()
	global := func() []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "hi"}}); err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			writeEnt(t, tw, e)
		}
		tw.Close()
		return buf.Bytes()
	}()
	multi := func() []byte {
		third := len(tr) / 3
		var b []byte
		b = append(b, gzOf(t, tr[:third])...)
		b = append(b, gzOf(t, nil)...)
		b = append(b, gzOf(t, tr[third:2*third])...)
		b = append(b, gzOf(t, tr[2*third:])...)
		b = append(b, gzOf(t, nil)...)
		return b
	}()
	cases := []struct {
		name    string
		archive []byte
		opts    []tarball.Option
	}{
		{"plain", tr, nil},
		{"plain forced", tr, []tarball.Option{tarball.WithCompression(tarball.CompressionNone)}},
		{"gzip", gzOf(t, tr), nil},
		{"gzip forced", gzOf(t, tr), []tarball.Option{tarball.WithCompression(tarball.CompressionGzip)}},
		{"gzip members with empty ones", multi, nil},
		{"GNU format", gnu, nil},
		{"PAX global header", global, nil},
		{"record padding after the marker", gzOf(t, append(append([]byte{}, tr...), make([]byte, 20*512)...)), nil},
		{"one zero block as marker", tr[:len(tr)-512], nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "t")
			if _, err := tarball.Extract(context.Background(), bytes.NewReader(c.archive), target, c.opts...); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantTree, listTree(t, target)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
		})
	}
}

// errReader returns data, then err.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, e.err
	}
	return n, err
}

func TestExtractSourceErrorsPassThrough(t *testing.T) {
	errDigest := errors.New("digest mismatch")
	archive := gzOf(t, tarOf(t, file("a", strings.Repeat("a", 100000)), file("b", "b")))
	cases := []struct {
		name string
		r    io.Reader
	}{
		{"at the end, after all data", &errReader{bytes.NewReader(archive), errDigest}},
		{"half-way", &errReader{bytes.NewReader(archive[:len(archive)/2]), errDigest}},
		{"at the start", &errReader{bytes.NewReader(nil), errDigest}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base, target := fixture(t)
			before := snapshot(t, base)
			_, err := tarball.Extract(context.Background(), c.r, target)
			if !errors.Is(err, errDigest) || errors.Is(err, tarball.ErrInvalidArchive) {
				t.Errorf("Extract error = %v, want the source's error and not ErrInvalidArchive", err)
			}
			if diff := cmp.Diff(before, snapshot(t, base)); diff != "" {
				t.Errorf("tree changed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExtractCancel(t *testing.T) {
	var ents []ent
	for i := range 50 {
		ents = append(ents, file(strings.Repeat("f", i+1), strings.Repeat("x", 10000)))
	}
	archive := gzOf(t, tarOf(t, ents...))

	t.Run("before start", func(t *testing.T) {
		base, target := fixture(t)
		before := snapshot(t, base)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := tarball.Extract(ctx, bytes.NewReader(archive), target)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Extract error = %v, want context.Canceled", err)
		}
		if diff := cmp.Diff(before, snapshot(t, base)); diff != "" {
			t.Errorf("tree changed (-want +got):\n%s", diff)
		}
	})
	t.Run("between entries", func(t *testing.T) {
		base, target := fixture(t)
		before := snapshot(t, base)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, err := tarball.Extract(ctx, bytes.NewReader(archive), target, tarball.WithProgress(func(s tarball.Stats) {
			if s.Files == 10 {
				cancel()
			}
		}))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Extract error = %v, want context.Canceled", err)
		}
		if diff := cmp.Diff(before, snapshot(t, base)); diff != "" {
			t.Errorf("tree changed (-want +got):\n%s", diff)
		}
	})
	t.Run("while the source blocks", func(t *testing.T) {
		// The source is tied to ctx, as an HTTP body is: it blocks after
		// half the archive until ctx ends.
		base, target := fixture(t)
		before := snapshot(t, base)
		pr, pw := io.Pipe()
		defer pw.Close()
		go func() { pw.Write(archive[:len(archive)/2]) }() // then block until ctx ends
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		context.AfterFunc(ctx, func() { pw.CloseWithError(ctx.Err()) })
		done := make(chan error, 1)
		go func() {
			_, err := tarball.Extract(ctx, pr, target)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Extract error = %v, want context.DeadlineExceeded", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Extract did not return after its context ended")
		}
		if diff := cmp.Diff(before, snapshot(t, base)); diff != "" {
			t.Errorf("tree changed (-want +got):\n%s", diff)
		}
	})
}

// watchedReader records whether a Read is in progress and counts Reads that
// start after its owner said it was done with it.
type watchedReader struct {
	r        io.Reader
	delay    time.Duration
	inRead   atomic.Int32
	returned atomic.Bool
	late     atomic.Int32
}

func (w *watchedReader) Read(p []byte) (int, error) {
	if w.returned.Load() {
		w.late.Add(1)
	}
	w.inRead.Add(1)
	defer w.inRead.Add(-1)
	time.Sleep(w.delay)
	if len(p) > 4096 {
		p = p[:4096]
	}
	return w.r.Read(p)
}

// TestExtractOwnsNoGoroutineAfterReturn cancels extractions at many points
// and checks that when Extract returns no Read of the caller's reader is in
// progress and none starts later (the readahead goroutine is joined), and
// that no progress callback comes after it.
func TestExtractOwnsNoGoroutineAfterReturn(t *testing.T) {
	var ents []ent
	rnd := rand.New(rand.NewChaCha8([32]byte{1}))
	for i := range 200 {
		data := make([]byte, 3000)
		for j := range data {
			data[j] = byte('a' + rnd.IntN(26))
		}
		ents = append(ents, file(fmt.Sprintf("f%03d", i), string(data)))
	}
	archive := gzOf(t, tarOf(t, ents...))
	for i := range 40 {
		base, target := fixture(t)
		w := &watchedReader{r: bytes.NewReader(archive), delay: 50 * time.Microsecond}
		ctx, cancel := context.WithCancel(context.Background())
		var afterReturn atomic.Bool
		var lateProgress atomic.Int32
		stop := i * 5
		_, err := tarball.Extract(ctx, w, target, tarball.WithProgress(func(s tarball.Stats) {
			if afterReturn.Load() {
				lateProgress.Add(1)
			}
			if s.Entries >= int64(stop) {
				cancel()
			}
		}))
		afterReturn.Store(true)
		w.returned.Store(true)
		if n := w.inRead.Load(); n != 0 {
			t.Fatalf("run %d: Extract returned with %d Read(s) of its reader in progress", i, n)
		}
		time.Sleep(2 * time.Millisecond)
		if n := w.late.Load(); n != 0 {
			t.Fatalf("run %d: %d Read(s) of the reader after Extract returned", i, n)
		}
		if n := lateProgress.Load(); n != 0 {
			t.Fatalf("run %d: %d progress callback(s) after Extract returned", i, n)
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("run %d: Extract error = %v, want nil or context.Canceled", i, err)
		}
		cancel()
		_ = base
	}
}

func TestExtractProgressAndBeforeCommit(t *testing.T) {
	big := strings.Repeat("z", 3<<20)
	archive := gzOf(t, tarOf(t, file("a", "a"), file("big", big), file("c", "c")))
	target := filepath.Join(t.TempDir(), "t")
	var calls []tarball.Stats
	st, err := tarball.Extract(context.Background(), bytes.NewReader(archive), target,
		tarball.WithProgress(func(s tarball.Stats) { calls = append(calls, s) }),
		tarball.WithBeforeCommit(func(dir string) error {
			if _, err := os.Stat(filepath.Join(dir, "big")); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, ".meta"), []byte("rev"), 0o644)
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) < 5 {
		t.Errorf("progress called %d times, want one per entry and during the big file", len(calls))
	}
	for i := 1; i < len(calls); i++ {
		if calls[i].Bytes < calls[i-1].Bytes || calls[i].Entries < calls[i-1].Entries {
			t.Errorf("progress went backwards: %+v then %+v", calls[i-1], calls[i])
		}
	}
	if diff := cmp.Diff(*st, calls[len(calls)-1]); diff != "" {
		t.Errorf("last progress differs from the result (-result +progress):\n%s", diff)
	}
	if b, err := os.ReadFile(filepath.Join(target, ".meta")); err != nil || string(b) != "rev" {
		t.Errorf(".meta = %q, %v", b, err)
	}

	t.Run("hook error keeps the target", func(t *testing.T) {
		base, target := fixture(t)
		before := snapshot(t, base)
		errHook := errors.New("hook failed")
		_, err := tarball.Extract(context.Background(), bytes.NewReader(archive), target,
			tarball.WithBeforeCommit(func(string) error { return errHook }))
		if !errors.Is(err, errHook) {
			t.Errorf("Extract error = %v, want %v", err, errHook)
		}
		if diff := cmp.Diff(before, snapshot(t, base)); diff != "" {
			t.Errorf("tree changed (-want +got):\n%s", diff)
		}
	})
}

func TestExtractWithSync(t *testing.T) {
	_, target := fixture(t)
	if _, err := tarball.Extract(context.Background(), bytes.NewReader(tarOf(t, file("d/f", "x"))), target, tarball.WithSync(true)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"d/", `d/f "x"`}, listTree(t, target)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
}

func TestExtractBadTarget(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	link := filepath.Join(base, "link")
	os.Mkdir(filepath.Join(base, "dir"), 0o755)
	os.Symlink("dir", link)
	archive := tarOf(t)
	for name, dir := range map[string]string{
		"a file":         file,
		"a symlink":      link,
		"missing parent": filepath.Join(base, "missing", "t"),
		"root":           "/",
		"empty":          "",
	} {
		t.Run(name, func(t *testing.T) {
			before := snapshot(t, base)
			_, err := tarball.Extract(context.Background(), bytes.NewReader(archive), dir)
			if err == nil {
				t.Fatal("Extract succeeded, want an error")
			}
			if msg := err.Error(); strings.Count(msg, "extract") > 1 || !strings.HasPrefix(msg, "tarball: ") {
				t.Errorf("error %q: want one \"tarball: \" prefix and the operation named once", msg)
			}
			if diff := cmp.Diff(before, snapshot(t, base)); diff != "" {
				t.Errorf("tree changed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOptionsValidation(t *testing.T) {
	cases := map[string]tarball.Option{
		"zero total":         tarball.WithMaxTotalBytes(0),
		"negative total":     tarball.WithMaxTotalBytes(-2),
		"zero file":          tarball.WithMaxFileBytes(0),
		"zero entries":       tarball.WithMaxEntries(0),
		"zero path length":   tarball.WithMaxPathLength(0),
		"zero depth":         tarball.WithMaxPathDepth(0),
		"small header":       tarball.WithMaxHeaderBytes(511),
		"unknown symlinks":   tarball.WithSymlinks(tarball.SymlinkPolicy(42)),
		"unknown compressor": tarball.WithCompression(tarball.Compression(42)),
		"nil progress":       tarball.WithProgress(nil),
		"nil hook":           tarball.WithBeforeCommit(nil),
	}
	for name, opt := range cases {
		t.Run(name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "t")
			_, err := tarball.Extract(context.Background(), bytes.NewReader(tarOf(t)), target, opt)
			if !errors.Is(err, tarball.ErrInvalidOption) {
				t.Errorf("Extract error = %v, want ErrInvalidOption", err)
			}
			if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("target exists after an option error: %v", err)
			}
		})
	}
	t.Run("unlimited accepted", func(t *testing.T) {
		target := filepath.Join(t.TempDir(), "t")
		_, err := tarball.Extract(context.Background(), bytes.NewReader(tarOf(t, file("a", "x"))), target,
			tarball.WithMaxTotalBytes(tarball.Unlimited), tarball.WithMaxFileBytes(tarball.Unlimited),
			tarball.WithMaxEntries(tarball.Unlimited), tarball.WithMaxPathLength(tarball.Unlimited),
			tarball.WithMaxPathDepth(tarball.Unlimited), tarball.WithMaxHeaderBytes(tarball.Unlimited))
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestDefaultLimits(t *testing.T) {
	got := []int64{tarball.DefaultMaxTotalBytes, tarball.DefaultMaxFileBytes, tarball.DefaultMaxEntries, tarball.DefaultMaxPathLength, tarball.DefaultMaxPathDepth, tarball.DefaultMaxHeaderBytes}
	want := []int64{1 << 30, 1 << 30, 100_000, 4096, 256, 64 << 10}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	// The defaults are in force: a header that claims more than the
	// default is refused before anything is written (and the stream here
	// holds no data at all).
	claim := func(size int64) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "huge", Typeflag: tar.TypeReg, Mode: 0o644, Size: size})
		return buf.Bytes()
	}
	for _, c := range []struct {
		opts  []tarball.Option
		limit tarball.Limit
	}{
		{nil, tarball.LimitFileBytes},
		{[]tarball.Option{tarball.WithMaxFileBytes(tarball.Unlimited)}, tarball.LimitTotalBytes},
	} {
		target := filepath.Join(t.TempDir(), "t")
		_, err := tarball.Extract(context.Background(), bytes.NewReader(claim(tarball.DefaultMaxTotalBytes+1)), target, c.opts...)
		var le *tarball.LimitError
		if !errors.As(err, &le) || le.Limit != c.limit || le.Max != tarball.DefaultMaxTotalBytes {
			t.Errorf("Extract error = %v, want a LimitError for %s at the default", err, c.limit)
		}
	}
}
