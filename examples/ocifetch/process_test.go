package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/ocisource/ocisource/internal/testfs"
	"github.com/ocisource/ocisource/oci/ocitest"
)

// Real processes against one directory: what the storage guarantees of
// Fetch look like to a user running the built command, killed, run twice at
// once, or pointed at the wrong directory.

var shared struct {
	once sync.Once
	bin  string
	err  error
}

// sharedBinary builds ocifetch once for the tests of this file.
func sharedBinary(t *testing.T) string {
	t.Helper()
	shared.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			shared.err = err
			return
		}
		dir, err := os.MkdirTemp("", "ocifetch-bin-")
		if err != nil {
			shared.err = err
			return
		}
		shared.bin = filepath.Join(dir, "ocifetch")
		if out, err := exec.Command(goTool, "build", "-o", shared.bin, ".").CombinedOutput(); err != nil {
			shared.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.bin
}

// procEnv is an in-memory registry, a scratch directory and the binary.
type procEnv struct {
	t      *testing.T
	reg    *ocitest.Registry
	bin    string
	work   string
	docker string
}

func newProcEnv(t *testing.T) *procEnv {
	p := &procEnv{t: t, reg: ocitest.NewT(t), bin: sharedBinary(t), work: t.TempDir()}
	p.docker = filepath.Join(p.work, "docker")
	if err := os.Mkdir(p.docker, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *procEnv) push(tag string, files map[string]string) {
	p.t.Helper()
	if _, err := p.reg.PushFiles(context.Background(), "app:"+tag, files); err != nil {
		p.t.Fatal(err)
	}
}

// command returns ocifetch with the base flags (plain HTTP, no credentials).
func (p *procEnv) command(host string, args ...string) *exec.Cmd {
	all := append([]string{"--url", "oci://" + host + "/app", "--insecure", "--docker-config", p.docker, "-q"}, args...)
	return exec.Command(p.bin, all...)
}

// run runs ocifetch to completion and returns its exit code and stderr.
func (p *procEnv) run(cmd *exec.Cmd) (int, string) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stderr.String()
	}
	p.t.Fatalf("running ocifetch: %v", err)
	return -1, ""
}

// TestProcessesShareDir runs two ocifetch processes at once, each fetching
// its own artifact into the same directory, again and again: after every
// run the record names the content that is there.
func TestProcessesShareDir(t *testing.T) {
	p := newProcEnv(t)
	p.push("a", map[string]string{"who": "a", "a-only": "1"})
	p.push("b", map[string]string{"who": "b"})
	out := filepath.Join(p.work, "content")
	var wg sync.WaitGroup
	for _, tag := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 12 {
				if code, stderr := p.run(p.command(p.reg.Host(), "--tag", tag, "--out", out)); code != 0 {
					t.Errorf("run %d of --tag %s: exit %d: %s", i, tag, code, stderr)
					return
				}
				recordAgrees(t, out)
			}
		}()
	}
	wg.Wait()
	recordAgrees(t, out)
}

// recordAgrees checks, holding out's lock as a fetch does, that the record
// names the tag whose content is in out.
func recordAgrees(t *testing.T, out string) {
	t.Helper()
	lf, err := os.OpenFile(filepath.Join(filepath.Dir(out), ".content.ocisource.lock"), os.O_RDWR, 0)
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
	b, err := os.ReadFile(filepath.Join(filepath.Dir(out), ".content.ocisource.json"))
	if err != nil {
		t.Error(err)
		return
	}
	var rec struct{ Tag, Tree string }
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Error(err)
		return
	}
	who, err := os.ReadFile(filepath.Join(out, "who"))
	if err != nil {
		t.Error(err)
		return
	}
	_, aOnly := os.Stat(filepath.Join(out, "a-only"))
	if string(who) != rec.Tag || (rec.Tag == "b") != errors.Is(aOnly, os.ErrNotExist) {
		t.Errorf("record names tag %q, content is %q (a-only present: %v)", rec.Tag, who, aOnly == nil)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(out, &st); err != nil {
		t.Error(err)
		return
	}
	if want := fmt.Sprintf("%d:%d", uint64(st.Dev), uint64(st.Ino)); rec.Tree != want {
		t.Errorf("record names tree %s, the directory is %s", rec.Tree, want)
	}
}

// slowProxy serves the registry with blob bodies trickled out, so that a
// process can be killed in the middle of extracting one.
func slowProxy(t *testing.T, reg *ocitest.Registry) string {
	target, _ := url.Parse("http://" + reg.Host())
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method == http.MethodGet && strings.Contains(resp.Request.URL.Path, "/blobs/") && resp.ContentLength > 1<<20 {
			resp.Body = &trickle{r: resp.Body}
		}
		return nil
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

type trickle struct{ r io.ReadCloser }

func (s *trickle) Read(p []byte) (int, error) {
	time.Sleep(20 * time.Millisecond)
	if len(p) > 32<<10 {
		p = p[:32<<10]
	}
	return s.r.Read(p)
}
func (s *trickle) Close() error { return s.r.Close() }

// TestProcessKilledMidExtract SIGKILLs ocifetch three times while it
// extracts a large layer: the previous content stays complete each time, and
// the next normal fetch removes every temporary tree the kills left.
func TestProcessKilledMidExtract(t *testing.T) {
	p := newProcEnv(t)
	p.push("small", map[string]string{"app.yaml": "kind: ConfigMap\n"})
	big := map[string]string{}
	for i := range 40 {
		b := make([]byte, 128<<10)
		rand.Read(b)
		big[fmt.Sprintf("blob-%02d.bin", i)] = fmt.Sprintf("%x", b)
	}
	p.push("big", big)
	out := filepath.Join(p.work, "content")
	if code, stderr := p.run(p.command(p.reg.Host(), "--tag", "small", "--out", out)); code != 0 {
		t.Fatalf("first fetch: exit %d: %s", code, stderr)
	}
	slow := slowProxy(t, p.reg)
	for kill := range 3 {
		cmd := p.command(slow, "--tag", "big", "--out", out, "--timeout", "5m")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		tmp := waitForTempTree(t, p.work)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if tmp == "" {
			t.Fatalf("kill %d: no temporary tree appeared while extracting", kill)
		}
		// Each run removed what the previous kill left; this one's remains.
		if left := tempTrees(t, p.work); len(left) != 1 || left[0] != tmp {
			t.Fatalf("kill %d: temporary trees %q, want only this run's %s", kill, left, tmp)
		}
		if diff := cmp.Diff(map[string]string{"app.yaml": "kind: ConfigMap\n"}, readTree(t, out)); diff != "" {
			t.Fatalf("kill %d: content changed (-want +got):\n%s", kill, diff)
		}
	}
	if code, stderr := p.run(p.command(p.reg.Host(), "--tag", "big", "--out", out)); code != 0 {
		t.Fatalf("fetch after the kills: exit %d: %s", code, stderr)
	}
	if left := tempTrees(t, p.work); len(left) != 0 {
		t.Errorf("temporary trees after a normal fetch: %q", left)
	}
	if got := readTree(t, out); len(got) != len(big) {
		t.Errorf("content has %d files, want %d", len(got), len(big))
	}
}

// waitForTempTree waits until a temporary tree beside content holds a file.
func waitForTempTree(t *testing.T, parent string) string {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for _, tmp := range tempTrees(t, parent) {
			if ents, _ := os.ReadDir(filepath.Join(parent, tmp)); len(ents) > 0 {
				return tmp
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return ""
}

func tempTrees(t *testing.T, parent string) []string {
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".content.ocisource-") {
			out = append(out, e.Name())
		}
	}
	return out
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestProcessOutDotRefused: --out . (and .., and a directory of the user's)
// inside a project is refused with exit 2 and the files are intact;
// --force takes the user's directory, never the working one.
func TestProcessOutDotRefused(t *testing.T) {
	p := newProcEnv(t)
	p.push("latest", map[string]string{"app.yaml": "kind: ConfigMap\n"})
	project := filepath.Join(p.work, "project")
	files := map[string]string{"go.mod": "module example.com/x\n", "main.go": "package main\n", "docs/README": "hello\n"}
	for name, content := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(project, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(project, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		out   string
		force bool
	}{{".", false}, {".", true}, {"..", false}, {"docs", false}} {
		args := []string{"--out", tc.out}
		if tc.force {
			args = append(args, "--force")
		}
		cmd := p.command(p.reg.Host(), args...)
		cmd.Dir = project
		code, stderr := p.run(cmd)
		if code != exitUsage {
			t.Errorf("--out %s (force %v): exit %d, want %d; stderr:\n%s", tc.out, tc.force, code, exitUsage, stderr)
		}
		if diff := cmp.Diff(files, readTree(t, project)); diff != "" {
			t.Fatalf("--out %s: the project changed (-want +got):\n%s", tc.out, diff)
		}
	}
	cmd := p.command(p.reg.Host(), "--out", "docs", "--force")
	cmd.Dir = project
	if code, stderr := p.run(cmd); code != 0 {
		t.Fatalf("--out docs --force: exit %d: %s", code, stderr)
	}
	if got := readTree(t, filepath.Join(project, "docs")); !cmp.Equal(got, map[string]string{"app.yaml": "kind: ConfigMap\n"}) {
		t.Errorf("docs after --force = %v", got)
	}
}

// TestProcessPlantedSymlinks plants a symbolic link at every fixed path the
// command writes or reads beside --out: the link is never followed (the
// file it points to is untouched) and the fetch fails as a storage error.
func TestProcessPlantedSymlinks(t *testing.T) {
	p := newProcEnv(t)
	p.push("latest", map[string]string{"app.yaml": "kind: ConfigMap\n"})
	for _, name := range []string{".content.ocisource.json", ".content.ocisource.lock"} {
		parent := filepath.Join(p.work, strings.TrimPrefix(name, "."))
		if err := os.Mkdir(parent, 0o755); err != nil {
			t.Fatal(err)
		}
		victim := filepath.Join(p.work, "victim-"+name)
		if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(victim, filepath.Join(parent, name)); err != nil {
			t.Fatal(err)
		}
		code, stderr := p.run(p.command(p.reg.Host(), "--out", filepath.Join(parent, "content")))
		if code != exitStorage || !strings.Contains(stderr, "symbolic link") {
			t.Errorf("link at %s: exit %d, want %d naming the link; stderr:\n%s", name, code, exitStorage, stderr)
		}
		if b, _ := os.ReadFile(victim); string(b) != "precious" {
			t.Errorf("link at %s: the file it points to now holds %q", name, b)
		}
	}
	// At the paths of what a fetch writes and replaces (the record's
	// temporary file, the new and the old tree), a link is removed as a
	// crash's leftover, never followed: the fetch succeeds and what the link
	// points to is untouched.
	for _, name := range []string{".content.ocisource.json.tmp", ".content.ocisource-tmp", ".content.ocisource-old"} {
		parent := filepath.Join(p.work, "w"+strings.TrimPrefix(name, "."))
		victims := filepath.Join(p.work, "victims-"+name)
		if err := os.MkdirAll(parent, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(victims, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(victims, "precious"), []byte("precious"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(victims, filepath.Join(parent, name)); err != nil {
			t.Fatal(err)
		}
		if code, stderr := p.run(p.command(p.reg.Host(), "--out", filepath.Join(parent, "content"))); code != 0 {
			t.Fatalf("link at %s: exit %d: %s", name, code, stderr)
		}
		if _, err := os.Lstat(filepath.Join(parent, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("link at %s is still there: %v", name, err)
		}
		if got := readTree(t, victims); !cmp.Equal(got, map[string]string{"precious": "precious"}) {
			t.Errorf("link at %s: the directory it points to now holds %v", name, got)
		}
	}
}

// TestProcessMountPoint fetches twice into a tmpfs mounted at --out (a
// volume), while a reader checks every opening of the tree is one version.
func TestProcessMountPoint(t *testing.T) {
	p := newProcEnv(t)
	for _, v := range []string{"v1", "v2", "v3"} {
		p.push(v, map[string]string{"cfg/a": v, "cfg/b": v})
	}
	out := testfs.MountTmpfs(t, "16m")
	// Before the first fetch the reader finds no cfg/: not counted against it.
	watch := testfs.WatchTree(filepath.Join(out, "cfg"), "a", "b")
	for _, v := range []string{"v1", "v2", "v3"} {
		if code, stderr := p.run(p.command(p.reg.Host(), "--tag", v, "--out", out)); code != 0 {
			t.Fatalf("--tag %s into a mount point: exit %d: %s", v, code, stderr)
		}
		if b, err := os.ReadFile(filepath.Join(out, "cfg", "a")); err != nil || string(b) != v {
			t.Fatalf("after --tag %s: cfg/a = %q, %v", v, b, err)
		}
	}
	if reads, mixed, _ := watch.Stop(); mixed != 0 || reads == 0 {
		t.Errorf("reader: %d reads, %d saw two versions", reads, mixed)
	}
	// Up to date on the next run: the record is in the volume.
	cmd := p.command(p.reg.Host(), "--tag", "v3", "--out", out)
	cmd.Args = slices.DeleteFunc(cmd.Args, func(a string) bool { return a == "-q" })
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if code, stderr := p.run(cmd); code != 0 || !strings.Contains(stdout.String(), "p to date") {
		t.Errorf("third fetch: exit %d, stdout %q, stderr %q; want up to date", code, stdout.String(), stderr)
	}
}
