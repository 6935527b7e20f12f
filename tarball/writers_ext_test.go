package tarball_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource/tarball"
)

// checkNoLeak fails if more goroutines run than before once Extract has
// returned. The inflating goroutine may take a moment to see that it was
// stopped, so the count is polled for a while.
func checkNoLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines running after Extract, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestExtractConcurrentWrites writes many small files (handed to writer
// goroutines) over several directories and a flat one, with later entries
// of the same names, immediately and much later, and hard links to files
// that may still be being written.
func TestExtractConcurrentWrites(t *testing.T) {
	var ents []ent
	want := map[string]string{}
	add := func(e ent) {
		ents = append(ents, e)
		if e.Type == 0 {
			want[e.Name] = e.Body
		}
	}
	name := func(i int) string {
		if i%4 == 0 {
			return fmt.Sprintf("flat/f%04d", i)
		}
		return fmt.Sprintf("d%02d/sub/f%04d", i%17, i)
	}
	body := func(i, version int) string {
		return strings.Repeat(fmt.Sprintf("file %d version %d\n", i, version), 1+i%300)
	}
	for i := range 1500 {
		add(file(name(i), body(i, 1)))
		if i%10 == 0 {
			add(file(name(i), body(i, 2))) // right after the first
		}
		if i%7 == 0 {
			add(hardlink(name(i)+".link", name(i)))
			want[name(i)+".link"] = want[name(i)]
		}
	}
	for i := 0; i < 1500; i += 3 {
		add(file(name(i), body(i, 3))) // long after; hard links keep the old content
	}
	archive := gzOf(t, tarOf(t, ents...))

	before := runtime.NumGoroutine()
	target := filepath.Join(t.TempDir(), "t")
	st, err := tarball.Extract(context.Background(), bytes.NewReader(archive), target)
	if err != nil {
		t.Fatal(err)
	}
	checkNoLeak(t, before)

	got := map[string]string{}
	err = filepath.WalkDir(target, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(target, p)
		got[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	var links int64
	for _, e := range ents {
		if e.Type != 0 {
			links++
		}
	}
	if st.Files != int64(len(ents))-links || st.Hardlinks != links {
		t.Errorf("Files, Hardlinks = %d, %d, want %d, %d", st.Files, st.Hardlinks, int64(len(ents))-links, links)
	}
	// name(7) is not replaced later: its link is the same file.
	a, _ := os.Stat(filepath.Join(target, name(7)))
	b, _ := os.Stat(filepath.Join(target, name(7)+".link"))
	if !os.SameFile(a, b) {
		t.Errorf("%s.link is not a hard link to %s", name(7), name(7))
	}
}

// TestExtractHardlinkToQueuedFile links to a file right after it, with
// nothing in between, many times over.
func TestExtractHardlinkToQueuedFile(t *testing.T) {
	var ents []ent
	var want []string
	for i := range 200 {
		f := fmt.Sprintf("f%03d", i)
		body := strings.Repeat(strconv.Itoa(i), 4000)
		ents = append(ents, file(f, body), hardlink(f+"-h", f))
		want = append(want, fmt.Sprintf("%s %q", f, body), fmt.Sprintf("%s-h %q", f, body))
	}
	sort.Strings(want)
	target := filepath.Join(t.TempDir(), "t")
	if _, err := tarball.Extract(context.Background(), bytes.NewReader(tarOf(t, ents...)), target); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, listTree(t, target)); diff != "" {
		t.Errorf("tree (-want +got):\n%.2000s", diff)
	}
}

// TestExtractWriterFailure makes a writer goroutine fail: once the parser
// has created directory d, a directory is put where a later small file of
// d goes. The parser only consults what the archive created, so it queues
// the file; the writer's exclusive create fails. The extraction must stop
// with that error, leave the target and its parent as they were, and leave
// no goroutine behind.
func TestExtractWriterFailure(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after int // files before and after the one that fails
	}{
		{"early, many files after", 3000},
		{"last file", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ents []ent
			for i := range tc.after {
				ents = append(ents, file(fmt.Sprintf("a%02d/f%04d", i%20, i), strings.Repeat("x", 8000)))
			}
			ents = append(ents, dirEnt("d/"), file("d/victim", "v"))
			for i := range tc.after {
				ents = append(ents, file(fmt.Sprintf("b%02d/f%04d", i%20, i), strings.Repeat("y", 8000)))
			}
			archive := gzOf(t, tarOf(t, ents...))
			base, target := fixture(t)
			before := snapshot(t, base)
			dirEntry := int64(tc.after + 1)

			goroutines := runtime.NumGoroutine()
			var planted error = errors.New("the progress callback never ran for entry d/")
			_, err := tarball.Extract(context.Background(), bytes.NewReader(archive), target,
				tarball.WithProgress(func(s tarball.Stats) {
					if s.Entries != dirEntry || planted == nil {
						return
					}
					tmps, _ := filepath.Glob(filepath.Join(base, ".target.ocisource-*"))
					if len(tmps) != 1 {
						planted = fmt.Errorf("temporary directories: %q", tmps)
						return
					}
					planted = os.Mkdir(filepath.Join(tmps[0], "d", "victim"), 0o755)
				}))
			checkNoLeak(t, goroutines)
			if planted != nil {
				t.Fatalf("planting the obstacle: %v", planted)
			}
			var ee *tarball.EntryError
			if !errors.Is(err, fs.ErrExist) || !errors.As(err, &ee) || ee.Name != "d/victim" {
				t.Fatalf("Extract error = %v, want an EntryError for d/victim matching fs.ErrExist", err)
			}
			if diff := cmp.Diff(before, snapshot(t, base)); diff != "" {
				t.Errorf("tree changed (-want +got):\n%s", diff)
			}
		})
	}
}

// TestExtractNoLeak checks that no goroutine outlives Extract, whether it
// succeeds, fails on the archive or is cancelled while writers are busy.
func TestExtractNoLeak(t *testing.T) {
	var ents []ent
	for i := range 2000 {
		ents = append(ents, file(fmt.Sprintf("d%02d/f%04d", i%30, i), strings.Repeat("z", 6000)))
	}
	good := gzOf(t, tarOf(t, ents...))
	bad := gzOf(t, tarOf(t, append(ents[:len(ents):len(ents)], file("../escape", "x"))...))
	for _, tc := range []struct {
		name    string
		archive []byte
		cancel  bool
		want    error
	}{
		{"success", good, false, nil},
		{"insecure entry after many files", bad, false, tarball.ErrInsecurePath},
		{"cancelled half-way", good, true, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, target := fixture(t)
			before := snapshot(t, base)
			goroutines := runtime.NumGoroutine()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := tarball.Extract(ctx, bytes.NewReader(tc.archive), target, tarball.WithProgress(func(s tarball.Stats) {
				if tc.cancel && s.Files == 1000 {
					cancel()
				}
			}))
			checkNoLeak(t, goroutines)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Extract error = %v, want %v", err, tc.want)
			}
			if tc.want != nil {
				if diff := cmp.Diff(before, snapshot(t, base)); diff != "" {
					t.Errorf("tree changed (-want +got):\n%s", diff)
				}
			}
		})
	}
}
