package ocisource_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/internal/testfs"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/tarball"
)

// What Fetch guarantees about dir: each test below backs one line of the
// README section of that name and of Fetch's doc.

// TestFetchRefusesTargets: the empty path, the working directory and its
// parents, a file, a symbolic link and a directory with files no fetch
// wrote are refused before any request, with their files intact; only the
// last is taken with WithReplaceUnmanaged.
func TestFetchRefusesTargets(t *testing.T) {
	e := newEnv(t)
	e.push("app:v1", v1)
	base := t.TempDir()
	project := filepath.Join(base, "project")
	user := map[string]string{"go.mod": "module x\n", "main.go": "package main\n"}
	writeTree(t, project, user)
	file := filepath.Join(base, "file")
	writeTree(t, base, map[string]string{"file": "data"})
	link := filepath.Join(base, "link")
	if err := os.Symlink(project, link); err != nil {
		t.Fatal(err)
	}
	t.Chdir(project)

	for _, tc := range []struct {
		name, dir string
		sentinel  error
	}{
		{"empty path", "", ocisource.ErrInvalidTarget},
		{"dot", ".", ocisource.ErrInvalidTarget},
		{"working directory by its absolute path", project, ocisource.ErrInvalidTarget},
		{"parent of the working directory", "..", ocisource.ErrInvalidTarget},
		{"root", "/", ocisource.ErrInvalidTarget},
		{"a file", file, ocisource.ErrInvalidTarget},
		{"below a file", filepath.Join(file, "x"), ocisource.ErrInvalidTarget},
		{"a symbolic link", link, ocisource.ErrInvalidTarget},
		{"a directory with files no fetch wrote", project, ocisource.ErrInvalidTarget},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.reg.ResetRequests()
			_, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), tc.dir)
			if !errors.Is(err, ocisource.ErrInvalidSource) || !errors.Is(err, tc.sentinel) {
				t.Fatalf("Fetch(%q) error = %v, want ErrInvalidSource and %v", tc.dir, err, tc.sentinel)
			}
			if n := len(e.reg.Requests()); n != 0 {
				t.Errorf("Fetch(%q) made %d requests before refusing", tc.dir, n)
			}
			if diff := cmp.Diff(user, tree(t, project)); diff != "" {
				t.Errorf("the project changed (-want +got):\n%s", diff)
			}
		})
	}

	// Outside the working directory, a non-empty directory without a
	// record is refused, naming it, and taken only when asked.
	t.Chdir(base)
	other := filepath.Join(base, "other")
	writeTree(t, other, user)
	_, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), other)
	var ue *ocisource.UnmanagedDirError
	if !errors.As(err, &ue) || !errors.Is(err, ocisource.ErrUnmanagedDir) || ue.Dir != other {
		t.Fatalf("Fetch(unmanaged) error = %v, want an *UnmanagedDirError for %s", err, other)
	}
	if !strings.Contains(err.Error(), "go.mod") || !strings.Contains(err.Error(), "WithReplaceUnmanaged") {
		t.Errorf("error %q does not name the files and the way out", err)
	}
	force, err := ocisource.NewFetcher(ocisource.WithClient(e.reg.Client()), ocisource.WithReplaceUnmanaged())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := force.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), other); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(v1, tree(t, other)); diff != "" {
		t.Errorf("forced fetch (-want +got):\n%s", diff)
	}
	// Even forced, the working directory is refused.
	t.Chdir(other)
	if _, err := force.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), "."); !errors.Is(err, ocisource.ErrInvalidTarget) {
		t.Errorf("forced Fetch(.) error = %v, want ErrInvalidTarget", err)
	}
	// An empty directory is taken, and then it is ours.
	empty := filepath.Join(base, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), empty); err != nil {
		t.Fatalf("Fetch(empty dir): %v", err)
	}
	e.push("app:v2", v2)
	if _, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v2"}), empty); err != nil {
		t.Fatalf("Fetch(managed dir): %v", err)
	}
}

// TestFetchRecordNamesItsTree: a record that names another tree than the
// one in dir (a crash between the record and the swap, or a swap by
// someone else) is not a cache hit: the content is fetched again.
func TestFetchRecordNamesItsTree(t *testing.T) {
	e := newEnv(t)
	e.push("app:v1", v1)
	if _, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), e.dir); err != nil {
		t.Fatal(err)
	}
	// Another tree takes dir's place (as a swap the record did not see).
	other := filepath.Join(filepath.Dir(e.dir), "other")
	writeTree(t, other, map[string]string{"evil.yaml": "kind: Secret\n"})
	if err := os.RemoveAll(e.dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, e.dir); err != nil {
		t.Fatal(err)
	}
	a, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), e.dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.FromCache {
		t.Error("a record naming another tree gave a cache hit")
	}
	if diff := cmp.Diff(v1, tree(t, e.dir)); diff != "" {
		t.Errorf("content (-want +got):\n%s", diff)
	}
	// And the record now names this tree: the next fetch is a hit.
	if a, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), e.dir); err != nil || !a.FromCache {
		t.Errorf("second fetch: FromCache = %v, err = %v; want a cache hit", a != nil && a.FromCache, err)
	}
}

// TestFetchRemovesStaleTempTrees: what a killed fetch leaves beside dir
// (its temp tree, an old tree, the record's temp file) goes with the next
// fetch; look-alike names of the user's stay.
func TestFetchRemovesStaleTempTrees(t *testing.T) {
	e := newEnv(t)
	e.push("app:v1", v1)
	parent := filepath.Dir(e.dir)
	for _, n := range []string{".content.ocisource-tmp", ".content.ocisource-old/sub"} {
		writeTree(t, filepath.Join(parent, n), map[string]string{"f": "leftover"})
	}
	writeTree(t, parent, map[string]string{".content.ocisource.json.tmp": "{", ".content.tmp-user": "user", "content.ocisource-tmp": "user"})
	if _, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), e.dir); err != nil {
		t.Fatal(err)
	}
	want := []string{".content.ocisource.json", ".content.ocisource.lock", ".content.tmp-user", "content", "content.ocisource-tmp"}
	if diff := cmp.Diff(want, siblings(t, e.dir)); diff != "" {
		t.Errorf("beside dir (-want +got):\n%s", diff)
	}
}

// TestFetchPlantedPaths: a symbolic link or a FIFO planted at the record's
// or the lock's path is never followed and never waited on: the fetch
// fails (or replaces the link itself), and what the link points to is
// untouched.
func TestFetchPlantedPaths(t *testing.T) {
	for _, name := range []string{".content.ocisource.json", ".content.ocisource.lock"} {
		for _, kind := range []string{"symlink", "fifo", "dir"} {
			t.Run(name+" "+kind, func(t *testing.T) {
				e := newEnv(t)
				e.push("app:v1", v1)
				victim := filepath.Join(t.TempDir(), "victim")
				writeTree(t, filepath.Dir(victim), map[string]string{"victim": "precious"})
				p := filepath.Join(filepath.Dir(e.dir), name)
				var err error
				switch kind {
				case "symlink":
					err = os.Symlink(victim, p)
				case "fifo":
					err = syscall.Mkfifo(p, 0o644)
				case "dir":
					err = os.Mkdir(p, 0o755)
				}
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
				defer cancel()
				_, err = e.f.Fetch(ctx, e.src(ocisource.Ref{Tag: "v1"}), e.dir)
				if err == nil {
					t.Fatalf("Fetch with a %s at %s succeeded", kind, name)
				}
				if !errors.Is(err, ocisource.ErrStorageFailed) || ctx.Err() != nil {
					t.Errorf("Fetch error = %v, want ErrStorageFailed before the deadline", err)
				}
				if b, _ := os.ReadFile(victim); string(b) != "precious" {
					t.Errorf("the file the link points to now holds %q", b)
				}
				if _, err := os.Lstat(e.dir); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("dir was written: %v", err)
				}
			})
		}
	}
}

// TestFetchCacheCoversExtractPolicy: a Fetcher with other extract options
// or another layer limit gets no cache hit on what a laxer one wrote; here
// the stricter one refuses the symlink the first one allowed.
func TestFetchCacheCoversExtractPolicy(t *testing.T) {
	e := newEnv(t)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "a.yaml", Size: 2, Mode: 0o644})
	tw.Write([]byte("a\n"))
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "l", Linkname: "a.yaml"})
	tw.Close()
	if _, err := e.reg.PushBytes(e.ctx, "app:v1", oci.MediaTypeFluxContent, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	lax, err := ocisource.NewFetcher(ocisource.WithClient(e.reg.Client()), ocisource.WithExtractOptions(tarball.WithSymlinks(tarball.SymlinksInsideRoot)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lax.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), e.dir); err != nil {
		t.Fatal(err)
	}
	if a, err := lax.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), e.dir); err != nil || !a.FromCache {
		t.Fatalf("same Fetcher again: FromCache %v, %v; want a hit", a != nil && a.FromCache, err)
	}
	// The default Fetcher refuses symbolic links: no hit, and a refusal.
	_, err = e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), e.dir)
	if !errors.Is(err, ocisource.ErrStorageFailed) || !errors.Is(err, tarball.ErrUnsupportedEntry) {
		t.Errorf("strict Fetcher error = %v, want the symlink refused", err)
	}
	// Another layer limit is another policy too.
	limited, err := ocisource.NewFetcher(ocisource.WithClient(e.reg.Client()), ocisource.WithMaxLayerSize(8),
		ocisource.WithExtractOptions(tarball.WithSymlinks(tarball.SymlinksInsideRoot)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := limited.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), e.dir); !errors.Is(err, oci.ErrTooLarge) {
		t.Errorf("Fetcher with an 8-byte layer limit: error = %v, want ErrTooLarge (no cache hit)", err)
	}
}

// TestFetchSerialisedAcrossFetchers runs two Fetchers (each with its own
// in-process locks, like two processes) fetching different artifacts into
// one directory: the lock file serialises them, so after every fetch the
// record names the content that is there. It also checks that the lock map
// does not keep an entry per directory.
func TestFetchSerialisedAcrossFetchers(t *testing.T) {
	e := newEnv(t)
	e.push("app:a", map[string]string{"who": "a"})
	e.push("app:b", map[string]string{"who": "b"})
	fetchers := make([]*ocisource.Fetcher, 2)
	for i := range fetchers {
		f, err := ocisource.NewFetcher(ocisource.WithClient(e.reg.Client()))
		if err != nil {
			t.Fatal(err)
		}
		fetchers[i] = f
	}
	var wg sync.WaitGroup
	var failures atomic.Int32
	for i, tag := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if _, err := fetchers[i].Fetch(e.ctx, e.src(ocisource.Ref{Tag: tag}), e.dir); err != nil {
					t.Error(err)
					failures.Add(1)
					return
				}
				checkRecordMatches(t, e.dir, "who")
			}
		}()
	}
	wg.Wait()
	for i, f := range fetchers {
		if n := ocisource.LockEntries(f); n != 0 {
			t.Errorf("fetcher %d keeps %d lock entries after its fetches", i, n)
		}
	}
}

// checkRecordMatches reads dir's record and content under dir's lock and
// fails the test unless the record's tag is what the file key says.
func checkRecordMatches(t *testing.T, dir, key string) {
	t.Helper()
	lockPath := filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".ocisource.lock")
	lf, err := os.OpenFile(lockPath, os.O_RDWR, 0)
	if err != nil {
		t.Error(err)
		return
	}
	defer lf.Close()
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX); err != nil {
		t.Error(err)
		return
	}
	defer unix.Flock(int(lf.Fd()), unix.LOCK_UN)
	rec := readRecord(t, dir)
	b, err := os.ReadFile(filepath.Join(dir, key))
	if err != nil {
		t.Error(err)
		return
	}
	if tag, _ := rec["tag"].(string); tag != string(b) {
		t.Errorf("record says tag %q, content is %q", tag, b)
	}
}

// TestFetchCancelMidDownload cancels fetches at many points of a download:
// when Fetch returns, no progress callback comes any more and the directory
// is as it was (run under -race: the Fetcher reads what the download
// goroutine wrote only after joining it).
func TestFetchCancelMidDownload(t *testing.T) {
	e := newEnv(t)
	big := make([]byte, 6<<20)
	rand.Read(big)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "big.bin", Size: int64(len(big)), Mode: 0o644})
	tw.Write(big)
	tw.Close()
	if _, err := e.reg.PushBytes(e.ctx, "app:big", oci.MediaTypeFluxContent, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	e.push("app:v1", v1)
	if _, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), e.dir); err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		ctx, cancel := context.WithCancel(e.ctx)
		var returned atomic.Bool
		var late atomic.Int32
		stopAt := int64(i%6) << 20
		f, err := ocisource.NewFetcher(ocisource.WithClient(e.reg.Client()), ocisource.WithProgress(func(p ocisource.Progress) {
			if returned.Load() {
				late.Add(1)
			}
			if p.Phase == ocisource.PhaseDownload && p.Bytes >= stopAt {
				cancel()
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Fetch(ctx, e.src(ocisource.Ref{Tag: "big"}), e.dir)
		returned.Store(true)
		if !errors.Is(err, context.Canceled) || !errors.Is(err, ocisource.ErrFetchFailed) {
			t.Fatalf("run %d: error = %v, want a cancelled fetch failure", i, err)
		}
		time.Sleep(5 * time.Millisecond)
		if n := late.Load(); n != 0 {
			t.Fatalf("run %d: %d progress callbacks after Fetch returned", i, n)
		}
		cancel()
		if diff := cmp.Diff(v1, tree(t, e.dir)); diff != "" {
			t.Fatalf("run %d: content changed (-want +got):\n%s", i, diff)
		}
	}
}

// TestFetchLayerNotFound: a missing layer is ErrLayerNotFound, a fetch
// failure, and says which layers there are.
func TestFetchLayerNotFound(t *testing.T) {
	e := newEnv(t)
	e.push("app:v1", v1)
	src := e.src(ocisource.Ref{Tag: "v1"})
	src.Layer.MediaType = "application/vnd.example.missing"
	_, err := e.f.Fetch(e.ctx, src, e.dir)
	if !errors.Is(err, ocisource.ErrLayerNotFound) || !errors.Is(err, ocisource.ErrFetchFailed) {
		t.Fatalf("error = %v, want ErrLayerNotFound as a fetch failure", err)
	}
	if !strings.Contains(err.Error(), oci.MediaTypeFluxContent) {
		t.Errorf("error %q does not list the layers there are", err)
	}
}

// TestNewFetcherRejects: configuration mistakes are NewFetcher's errors,
// ErrInvalidOption, not a later fetch's.
func TestNewFetcherRejects(t *testing.T) {
	for name, opts := range map[string][]ocisource.Option{
		"bad extract option": {ocisource.WithExtractOptions(tarball.WithMaxEntries(0))},
		"compression":        {ocisource.WithExtractOptions(tarball.WithCompression(tarball.CompressionGzip))},
		"nil client":         {ocisource.WithClient(nil)},
		"two clients":        {ocisource.WithClient(mustClient(t)), ocisource.WithClient(mustClient(t))},
		"zero layer limit":   {ocisource.WithMaxLayerSize(0)},
		"nil progress":       {ocisource.WithProgress(nil)},
		"nil logger":         {ocisource.WithLogger(nil)},
	} {
		_, err := ocisource.NewFetcher(opts...)
		if !errors.Is(err, ocisource.ErrInvalidOption) || errors.Is(err, ocisource.ErrInvalidSource) {
			t.Errorf("%s: NewFetcher error = %v, want ErrInvalidOption (and not a fetch phase)", name, err)
		}
	}
}

// TestFetchIntoMountPoint fetches into a tmpfs mounted at dir, as a
// controller writes into a volume: twice, while a reader checks that each
// opening of the tree is one version; the record lives in the volume.
func TestFetchIntoMountPoint(t *testing.T) {
	dir := testfs.MountTmpfs(t, "64m")
	e := newEnv(t)
	for i := range 6 {
		v := fmt.Sprintf("v%d", i)
		e.push("app:"+v, map[string]string{"cfg/a": v, "cfg/b": v})
	}
	if _, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v0"}), dir); err != nil {
		t.Fatal(err)
	}
	watch := testfs.WatchTree(filepath.Join(dir, "cfg"), "a", "b")
	for i := 1; i < 6; i++ {
		if _, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: fmt.Sprintf("v%d", i)}), dir); err != nil {
			t.Fatal(err)
		}
	}
	if _, mixed, missing := watch.Stop(); mixed != 0 || missing != 0 {
		t.Errorf("reader: %d openings saw two versions, %d found no cfg/", mixed, missing)
	}
	if _, err := os.Stat(filepath.Join(dir, "..ocisource.json")); err != nil {
		t.Errorf("the record is not in the volume: %v", err)
	}
	a, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v5"}), dir)
	if err != nil || !a.FromCache {
		t.Errorf("fetch of the same revision: FromCache %v, %v; want a hit", a != nil && a.FromCache, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cfg", "a")); err != nil || string(b) != "v5" {
		t.Errorf("cfg/a = %q, %v", b, err)
	}
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readRecord(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".ocisource.json"))
	if err != nil {
		t.Error(err)
		return map[string]any{}
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Error(err)
	}
	return m
}

func mustClient(t *testing.T) *oci.Client {
	c, err := oci.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFetchTornRecord: a record a power loss left empty or torn still marks
// the directory as ours, matches nothing, and is replaced by the next fetch.
func TestFetchTornRecord(t *testing.T) {
	e := newEnv(t)
	e.push("app:v1", v1)
	if _, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), e.dir); err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(filepath.Dir(e.dir), ".content.ocisource.json")
	for _, torn := range []string{"", `{"revision": "v1@sha`} {
		if err := os.WriteFile(rec, []byte(torn), 0o644); err != nil {
			t.Fatal(err)
		}
		a, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), e.dir)
		if err != nil || a.FromCache {
			t.Fatalf("record %q: FromCache %v, %v; want a fresh fetch", torn, a != nil && a.FromCache, err)
		}
		if got := readRecord(t, e.dir); got["revision"] != a.Revision {
			t.Errorf("record after the fetch = %v", got)
		}
	}
}

// TestFetchHelmChartVersions: for the Helm chart media type, a semver range
// reads "_" in tags as the "+" helm cannot store ("1.1.0_build.1" is
// 1.1.0+build.1); for other media types such tags are not versions.
func TestFetchHelmChartVersions(t *testing.T) {
	e := newEnv(t)
	for _, tag := range []string{"1.0.0", "1.1.0_build.1"} {
		if _, err := e.reg.PushBytes(e.ctx, "app:"+tag, oci.MediaTypeHelmChart, []byte("chart "+tag)); err != nil {
			t.Fatal(err)
		}
	}
	src := e.src(ocisource.Ref{SemVer: ">=1.0.0"})
	src.Layer = ocisource.LayerSelector{MediaType: oci.MediaTypeHelmChart, Operation: ocisource.LayerCopy}
	a, err := e.f.Fetch(e.ctx, src, e.dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.Tag != "1.1.0_build.1" {
		t.Errorf("chart tag = %q, want 1.1.0_build.1", a.Tag)
	}
	if b, _ := os.ReadFile(filepath.Join(e.dir, "layer")); string(b) != "chart 1.1.0_build.1" {
		t.Errorf("copied layer = %q", b)
	}
	src.Layer.MediaType = ""
	a, err = e.f.Fetch(e.ctx, src, filepath.Join(t.TempDir(), "other"))
	if err != nil || a.Tag != "1.0.0" {
		t.Errorf("without the chart media type: tag %v, %v; want 1.0.0", a, err)
	}
}
