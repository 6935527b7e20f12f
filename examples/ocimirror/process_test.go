package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
)

// syncBuffer is a bytes.Buffer the command's output goroutine writes while
// the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func buildMirror(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is not on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "ocimirror")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestProcessMirrorKilledThenResumed kills the built ocimirror with SIGKILL
// while it waits on a slow blob, half-way through a copy into a layout:
// the layout has no index.json yet (nothing half-written is visible), and
// running it again finishes the copy, sending only what was missing.
func TestProcessMirrorKilledThenResumed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildMirror(t)
	ctx := context.Background()
	reg := ocitest.NewT(t)
	d, err := reg.PushBytes(ctx, "app:1.0.0", oci.MediaTypeFluxContent, []byte("release content"))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := reg.PushBytes(ctx, "app:"+oci.CosignTag(d.Digest, oci.CosignSignature), "application/vnd.dev.cosign.simplesigning.v1+json", []byte(`{"critical":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	sm, err := reg.Client().Manifest(ctx, reg.Ref("app").WithDigest(sig.Digest))
	if err != nil {
		t.Fatal(err)
	}
	// The signature's payload hangs: the artifact's blobs are written by then.
	reg.Inject(ocitest.Fault{Method: http.MethodGet, PathContains: string(sm.Layers[0].Digest), Delay: time.Minute, Times: 1})
	dir := filepath.Join(t.TempDir(), "airgap")
	src, dst := "oci://"+reg.Host()+"/app:1.0.0", oci.LayoutScheme+dir

	cmd := exec.Command(bin, "--insecure", "-v", src, dst)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "manifest copied") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("ocimirror never got to the signature:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // now inside the hanging blob request
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if _, err := os.Stat(filepath.Join(dir, "index.json")); !os.IsNotExist(err) {
		t.Fatalf("index.json exists after a killed copy: %v", err)
	}

	reg.ClearFaults()
	var out, errOut bytes.Buffer
	again := exec.Command(bin, "--insecure", "--json", src, dst)
	again.Stdout, again.Stderr = &out, &errOut
	if err := again.Run(); err != nil {
		t.Fatalf("second run: %v\n%s", err, errOut.String())
	}
	var res oci.CopyResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("--json: %v\n%s", err, out.String())
	}
	if res.BlobsSkipped < 2 || res.Blobs > 2 {
		t.Errorf("resumed copy wrote %d blobs and skipped %d; want the artifact's two skipped", res.Blobs, res.BlobsSkipped)
	}
	c, err := oci.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	lay := oci.Reference{Layout: dir}
	for tag, want := range map[string]oci.Digest{"1.0.0": d.Digest, oci.CosignTag(d.Digest, oci.CosignSignature): sig.Digest} {
		got, err := c.Resolve(ctx, lay.WithTag(tag))
		if err != nil || got.Digest != want {
			t.Errorf("layout %s = %v, %v; want %s", tag, got.Digest, err, want)
		}
	}
}
