package ocisource_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/internal/realregistry"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/push"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// TestIntegrationMirrorCosignCLI signs an artifact in a real registry with
// the real cosign CLI (legacy ".sig" and a bundle referrer, which
// Distribution stores through the referrers tag schema), mirrors it with
// oci.Copy into another repository and into a layout, and checks that
// `cosign verify` accepts the mirror in both formats, that the layout
// verifies offline through the Fetcher, and that `cosign save` output is a
// source the Fetcher verifies offline too.
func TestIntegrationMirrorCosignCLI(t *testing.T) {
	reg := realregistry.Start(t)
	ctx := context.Background()
	client, err := oci.NewClient(oci.WithCAFile(reg.CAFile), oci.WithBasicAuth(reg.Username, reg.Password))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"app.yaml": "kind: Deployment\n"}
	src := t.TempDir()
	writeTree(t, src, files)
	layer, cleanup, err := push.LayerFromDir(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	repo, _ := oci.ParseURL("oci://" + reg.Host + "/org/app")
	d, err := push.Artifact(ctx, client, repo.WithTag("v1"), layer)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	cosignCLI := func(args ...string) (string, error) {
		cmd := reg.Command(t, "cosign", args...)
		cmd.Dir = work
		cmd.Env = append(cmd.Env, "COSIGN_PASSWORD=mirror")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := cosignCLI(args...)
		if err != nil {
			t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	must("generate-key-pair", "--output-key-prefix", "signer")
	pinned := reg.Host + "/org/app@" + string(d.Digest)
	// cosign verify switches to the bundle format as soon as it finds a
	// bundle, so the legacy signature is mirrored and checked first, then
	// the bundle is added and the copy run again (it sends only the bundle).
	// A keyed bundle with no log entry needs no trust material, but cosign
	// asks for a trusted root whenever it reads bundles: an empty one.
	emptyRoot := filepath.Join(work, "empty_root.json")
	if err := os.WriteFile(emptyRoot, []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	must("generate-key-pair", "--output-key-prefix", "other")
	mirror, _ := oci.ParseURL("oci://" + reg.Host + "/mirror/app")
	mirrored := reg.Host + "/mirror/app@" + string(d.Digest)
	for _, step := range []struct {
		name   string
		sign   []string
		verify []string
	}{
		{"legacy", []string{"sign", "--yes", "--key", "signer.key", "--tlog-upload=false", pinned},
			[]string{"verify", "--insecure-ignore-tlog=true", mirrored}},
		{"bundle", []string{"sign", "--yes", "--new-bundle-format", "--key", "signer.key", "--tlog-upload=false", pinned},
			[]string{"verify", "--insecure-ignore-tlog=true", "--new-bundle-format", "--trusted-root", emptyRoot, mirrored}},
	} {
		must(step.sign...)
		res, err := oci.Copy(ctx, client, repo.WithTag("v1"), client, mirror)
		if err != nil {
			t.Fatal(err)
		}
		if res.Descriptor.Digest != d.Digest || len(res.Attachments) == 0 {
			t.Fatalf("%s: copy = %+v, want %s with its signatures", step.name, res, d.Digest)
		}
		if step.name == "bundle" && res.Bytes > 4<<10 {
			t.Errorf("second copy sent %d bytes: more than the bundle", res.Bytes)
		}
		out := must(append(step.verify, "--key", "signer.pub")...)
		if !strings.Contains(out, string(d.Digest)) {
			t.Errorf("%s: cosign verify output does not name %s:\n%s", step.name, d.Digest, out)
		}
		if out, err := cosignCLI(append(step.verify, "--key", "other.pub")...); err == nil {
			t.Errorf("%s: cosign verify accepted the mirror with another key:\n%s", step.name, out)
		}
	}

	// Registry to layout, fetched offline with both formats required.
	layoutDir := filepath.Join(t.TempDir(), "airgap")
	if _, err := oci.Copy(ctx, client, mirror.WithTag("v1"), client, oci.Reference{Layout: layoutDir}); err != nil {
		t.Fatal(err)
	}
	offline := &noNetwork{}
	lc, err := oci.NewClient(oci.WithTransport(offline))
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(work, "signer.pub")
	legacy, err := cosign.New(cosign.WithClient(lc), cosign.WithKeyFiles(pub), cosign.WithFormat(verify.FormatLegacy))
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := cosign.New(cosign.WithClient(lc), cosign.WithKeyFiles(pub), cosign.WithFormat(verify.FormatBundle))
	if err != nil {
		t.Fatal(err)
	}
	both, err := verify.AllOf(legacy, bundle)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ocisource.NewFetcher(ocisource.WithClient(lc))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "content")
	a, err := f.Fetch(ctx, ocisource.Source{URL: oci.LayoutScheme + layoutDir, Ref: ocisource.Ref{Tag: "v1"}, Verifier: both}, out)
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != d.Digest {
		t.Errorf("fetched %s, want %s", a.Digest, d.Digest)
	}
	if diff := cmp.Diff(files, tree(t, out)); diff != "" {
		t.Errorf("content (-want +got):\n%s", diff)
	}

	// `cosign save` writes a layout with no tags, only "kind" annotations:
	// its image answers for "latest" and its signature for the .sig tag.
	saved := filepath.Join(t.TempDir(), "saved")
	must("save", "--dir", saved, pinned)
	out2 := filepath.Join(t.TempDir(), "from-save")
	a, err = f.Fetch(ctx, ocisource.Source{URL: oci.LayoutScheme + saved, Verifier: legacy}, out2)
	if err != nil {
		t.Fatalf("fetch from cosign save layout: %v", err)
	}
	if a.Digest != d.Digest {
		t.Errorf("cosign save layout: fetched %s, want %s", a.Digest, d.Digest)
	}
	// Tampering with the saved signature is refused.
	sig, err := lc.Resolve(ctx, oci.Reference{Layout: saved, Tag: oci.CosignTag(d.Digest, oci.CosignSignature)})
	if err != nil {
		t.Fatal(err)
	}
	sm, err := lc.Manifest(ctx, oci.Reference{Layout: saved}.WithDigest(sig.Digest))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(saved, "blobs", "sha256", sm.Layers[0].Digest.Hex()), []byte(`{"critical":{}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	f2, err := ocisource.NewFetcher(ocisource.WithClient(lc))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f2.Fetch(ctx, ocisource.Source{URL: oci.LayoutScheme + saved, Verifier: legacy}, filepath.Join(t.TempDir(), "tampered"))
	if !errors.Is(err, ocisource.ErrVerification) {
		t.Errorf("tampered cosign save layout: err = %v, want ErrVerification", err)
	}
	if n := offline.calls.Load(); n != 0 {
		t.Errorf("%d requests reached the network", n)
	}
}

// TestIntegrationMirrorKeylessCosignCLI mirrors a keyless-signed artifact
// (a Sigstore bundle from verifytest's virtual Sigstore, found through the
// referrers tag schema of a real Distribution registry) with oci.Copy into
// another repository, and the real cosign v3 CLI verifies the mirror with
// the same identity, and refuses another.
func TestIntegrationMirrorKeylessCosignCLI(t *testing.T) {
	reg := realregistry.Start(t)
	ctx := context.Background()
	client, err := oci.NewClient(oci.WithCAFile(reg.CAFile), oci.WithBasicAuth(reg.Username, reg.Password))
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := oci.ParseURL("oci://" + reg.Host + "/org/app")
	d, err := push.Artifact(ctx, client, repo.WithTag("v1"), push.LayerFromBytes(oci.MediaTypeFluxContent, []byte("keyless")))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := verifytest.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	root, err := ss.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}
	const issuer, subject = "https://token.actions.githubusercontent.com", "https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1"
	if _, err := verifytest.SignBundle(ctx, client, repo.WithDigest(d.Digest), ss.Keyless(issuer, subject), verifytest.WithTransparencyLog(ss)); err != nil {
		t.Fatal(err)
	}
	mirror, _ := oci.ParseURL("oci://" + reg.Host + "/mirror/app")
	if _, err := oci.Copy(ctx, client, repo.WithTag("v1"), client, mirror); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "trusted_root.json"), root, 0o600); err != nil {
		t.Fatal(err)
	}
	verifyArgs := func(identity string) []string {
		return []string{"verify", "--trusted-root", "trusted_root.json", "--insecure-ignore-sct=true",
			"--certificate-oidc-issuer", issuer, "--certificate-identity", identity, reg.Host + "/mirror/app@" + string(d.Digest)}
	}
	cmd := reg.Command(t, "cosign3", verifyArgs(subject)...)
	cmd.Dir = work
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign3 verify of the mirror: %v\n%s", err, out)
	}
	cmd = reg.Command(t, "cosign3", verifyArgs("https://github.com/mallory/app/.github/workflows/release.yml@refs/tags/v1")...)
	cmd.Dir = work
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("cosign3 verify accepted the mirror for another identity:\n%s", out)
	}
}
