package sigstorestack

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocisource/ocisource/internal/realregistry"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/tarball"
)

// PushArtifact pushes files as a Flux-layout artifact (config
// oci.MediaTypeFluxConfig, one oci.MediaTypeFluxContent tar.gz layer) to
// reg at repoTag ("repo:tag") with the real oras CLI, and returns its
// reference, tag and digest.
func PushArtifact(t *testing.T, reg *realregistry.Registry, repoTag string, files map[string]string) oci.Reference {
	t.Helper()
	work := t.TempDir()
	src := filepath.Join(work, "src")
	for name, content := range files {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var layer bytes.Buffer
	if err := tarball.Build(t.Context(), src, &layer); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "content.tar.gz"), layer.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "config.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := reg.Command(t, "oras", "push", "--ca-file", reg.CAFile, "--username", reg.Username, "--password", reg.Password,
		"--config", "config.json:"+oci.MediaTypeFluxConfig,
		"--format", "go-template={{.digest}}",
		reg.Repo(repoTag), "content.tar.gz:"+oci.MediaTypeFluxContent)
	cmd.Dir = work
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("oras push %s: %v\n%s", repoTag, err, out)
	}
	ref, err := oci.ParseReference(reg.Repo(repoTag))
	if err != nil {
		t.Fatal(err)
	}
	d := oci.Digest(strings.TrimSpace(string(out)))
	if !strings.HasPrefix(string(d), "sha256:") {
		t.Fatalf("oras push %s printed %q, want a digest", repoTag, out)
	}
	return ref.WithDigest(d)
}
