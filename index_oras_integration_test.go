package ocisource_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/internal/realregistry"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/push"
	"github.com/ocisource/ocisource/verify/cosign"
)

// TestIntegrationOrasIndex builds a two-platform index with the real oras
// CLI (`oras push --artifact-platform`, then `oras manifest index create`)
// in a real registry, signs the index with the real cosign CLI, and fetches
// each platform with verification; without a platform the fetch is refused
// with the platforms listed. oci.Copy then carries the index, both children
// and the signature into a layout, and the same fetch works offline, as it
// does from what `cosign save` writes of the index.
func TestIntegrationOrasIndex(t *testing.T) {
	reg := realregistry.Start(t)
	ctx := context.Background()
	client, err := oci.NewClient(oci.WithCAFile(reg.CAFile), oci.WithBasicAuth(reg.Username, reg.Password))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := reg.Command(t, name, args...)
		cmd.Dir = work
		cmd.Env = append(cmd.Env, "COSIGN_PASSWORD=index")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	oras := func(args ...string) string {
		return run("oras", append(args, "--ca-file", reg.CAFile, "-u", reg.Username, "-p", reg.Password)...)
	}
	want := map[string]map[string]string{
		"linux/amd64": {"arch.txt": "amd64\n"},
		"linux/arm64": {"arch.txt": "arm64\n"},
	}
	for platform, files := range want {
		src := t.TempDir()
		writeTree(t, src, files)
		layer, cleanup, err := push.LayerFromDir(ctx, src)
		if err != nil {
			t.Fatal(err)
		}
		rc, _ := layer.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		cleanup()
		tag := strings.ReplaceAll(platform, "/", "-")
		if err := os.WriteFile(filepath.Join(work, tag+".tgz"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		oras("push", "--artifact-platform", platform, reg.Host+"/org/multi:"+tag, tag+".tgz:"+oci.MediaTypeFluxContent)
	}
	oras("manifest", "index", "create", reg.Host+"/org/multi:v1", "linux-amd64", "linux-arm64")

	repo, _ := oci.ParseURL("oci://" + reg.Host + "/org/multi")
	idx, err := client.Resolve(ctx, repo.WithTag("v1"))
	if err != nil {
		t.Fatal(err)
	}
	if idx.MediaType != oci.MediaTypeOCIIndex {
		t.Fatalf("oras made a %s, want an OCI index", idx.MediaType)
	}
	run("cosign", "generate-key-pair", "--output-key-prefix", "signer")
	run("cosign", "sign", "--yes", "--key", "signer.key", "--tlog-upload=false", reg.Host+"/org/multi@"+string(idx.Digest))

	fetchAll := func(t *testing.T, c *oci.Client, url string) {
		t.Helper()
		f, err := ocisource.NewFetcher(ocisource.WithClient(c))
		if err != nil {
			t.Fatal(err)
		}
		v, err := cosign.New(cosign.WithClient(c), cosign.WithKeyFiles(filepath.Join(work, "signer.pub")))
		if err != nil {
			t.Fatal(err)
		}
		for platform, files := range want {
			out := filepath.Join(t.TempDir(), "out")
			a, err := f.Fetch(ctx, ocisource.Source{URL: url, Ref: ocisource.Ref{Tag: "v1", Platform: platform}, Verifier: v}, out)
			if err != nil {
				t.Fatalf("%s: %v", platform, err)
			}
			if a.Digest != idx.Digest || a.ManifestDigest == idx.Digest || a.Platform != platform {
				t.Errorf("%s: digest %s manifest %s platform %q; want the index %s and its %s child", platform, a.Digest, a.ManifestDigest, a.Platform, idx.Digest, platform)
			}
			if diff := cmp.Diff(files, tree(t, out)); diff != "" {
				t.Errorf("%s: content (-want +got):\n%s", platform, diff)
			}
		}
		_, err = f.Fetch(ctx, ocisource.Source{URL: url, Ref: ocisource.Ref{Tag: "v1"}, Verifier: v}, filepath.Join(t.TempDir(), "none"))
		var pe *oci.PlatformError
		if !errors.Is(err, ocisource.ErrInvalidSource) || !errors.As(err, &pe) || !strings.Contains(err.Error(), "linux/arm64") {
			t.Errorf("no platform: err = %v, want ErrInvalidSource listing linux/arm64", err)
		}
	}
	t.Run("registry", func(t *testing.T) { fetchAll(t, client, "oci://"+reg.Host+"/org/multi") })

	dir := filepath.Join(t.TempDir(), "layout")
	res, err := oci.Copy(ctx, client, repo.WithTag("v1"), client, oci.Reference{Layout: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifests < 4 { // index, two children, signature
		t.Errorf("copied %d manifests, want the index, its children and the signature", res.Manifests)
	}
	offline := &noNetwork{}
	lc, err := oci.NewClient(oci.WithTransport(offline))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("layout", func(t *testing.T) { fetchAll(t, lc, oci.LayoutScheme+dir) })
	// `cosign save` of the signed index: its kind annotations name the index
	// ("latest") and the signature, and each platform fetches offline.
	saved := filepath.Join(t.TempDir(), "saved")
	run("cosign", "save", "--dir", saved, reg.Host+"/org/multi@"+string(idx.Digest))
	t.Run("cosign save", func(t *testing.T) {
		f, err := ocisource.NewFetcher(ocisource.WithClient(lc))
		if err != nil {
			t.Fatal(err)
		}
		v, err := cosign.New(cosign.WithClient(lc), cosign.WithKeyFiles(filepath.Join(work, "signer.pub")))
		if err != nil {
			t.Fatal(err)
		}
		for platform, files := range want {
			out := filepath.Join(t.TempDir(), "out")
			a, err := f.Fetch(ctx, ocisource.Source{URL: oci.LayoutScheme + saved, Ref: ocisource.Ref{Platform: platform}, Verifier: v}, out)
			if err != nil {
				t.Fatalf("%s: %v", platform, err)
			}
			if a.Digest != idx.Digest {
				t.Errorf("%s: digest %s, want the index %s", platform, a.Digest, idx.Digest)
			}
			if diff := cmp.Diff(files, tree(t, out)); diff != "" {
				t.Errorf("%s: content (-want +got):\n%s", platform, diff)
			}
		}
	})
	if n := offline.calls.Load(); n != 0 {
		t.Errorf("%d requests reached the network", n)
	}
}
