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

// TestIntegrationOrasLayout carries a signed artifact from a real registry
// into an OCI image layout with the real oras CLI (`oras cp
// --to-oci-layout`, the artifact and its legacy signature tag, and with -r
// its bundle referrer), then fetches it from the layout with keyed and
// keyless verification and no network; a tampered layout is refused.
func TestIntegrationOrasLayout(t *testing.T) {
	reg := realregistry.Start(t)
	ctx := context.Background()
	client, err := oci.NewClient(oci.WithCAFile(reg.CAFile), oci.WithBasicAuth(reg.Username, reg.Password))
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	files := map[string]string{"app.yaml": "kind: Deployment\n", "cfg/env": "LEVEL=info\n"}
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
	pinned := repo.WithTag("v1").WithDigest(d.Digest)
	key, _ := verifytest.NewKeyPair()
	if _, err := verifytest.SignLegacy(ctx, client, pinned, key, verifytest.WithoutTransparencyLog()); err != nil {
		t.Fatal(err)
	}
	ss, err := verifytest.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	const issuer, subject = "https://token.actions.githubusercontent.com", "https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1"
	if _, err := verifytest.SignBundle(ctx, client, pinned, ss.Keyless(issuer, subject), verifytest.WithTransparencyLog(ss)); err != nil {
		t.Fatal(err)
	}
	root, err := ss.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(t.TempDir(), "layout")
	sigTag := verifytest.LegacySignatureTag(d.Digest)
	for _, tag := range []string{"v1", sigTag} {
		cmd := reg.Command(t, "oras", "cp", "-r", "--from-ca-file", reg.CAFile,
			"--from-username", reg.Username, "--from-password", reg.Password,
			"--to-oci-layout", reg.Host+"/org/app:"+tag, dir+":"+tag)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("oras cp %s: %v\n%s", tag, err, out)
		}
	}

	// The layout is read with no network at all.
	offline := &noNetwork{}
	lc, err := oci.NewClient(oci.WithTransport(offline))
	if err != nil {
		t.Fatal(err)
	}
	f, err := ocisource.NewFetcher(ocisource.WithClient(lc))
	if err != nil {
		t.Fatal(err)
	}
	keyed, err := cosign.New(cosign.WithKeys(key.PublicKeyPEM()), cosign.WithFormat(verify.FormatLegacy))
	if err != nil {
		t.Fatal(err)
	}
	keyless, err := cosign.New(cosign.WithTrustedRootJSON(root), cosign.WithIdentities(cosign.Identity{Issuer: issuer, Subject: subject}))
	if err != nil {
		t.Fatal(err)
	}
	url := oci.LayoutScheme + dir
	for name, v := range map[string]*cosign.Verifier{"keyed legacy": keyed, "keyless bundle": keyless} {
		out := filepath.Join(t.TempDir(), "out")
		a, err := f.Fetch(ctx, ocisource.Source{URL: url, Ref: ocisource.Ref{Tag: "v1"}, Verifier: v}, out)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if a.Digest != d.Digest || a.Verification == nil {
			t.Errorf("%s: artifact %+v", name, a)
		}
		if diff := cmp.Diff(files, tree(t, out)); diff != "" {
			t.Errorf("%s: content (-want +got):\n%s", name, diff)
		}
	}
	if n := offline.calls.Load(); n != 0 {
		t.Errorf("%d network requests while reading the layout", n)
	}

	// A tampered layer in the layout is refused, and nothing is written.
	m, err := client.Manifest(ctx, pinned)
	if err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(string(m.Layers[0].Digest), "sha256:"))
	b, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(blob, b, 0o644); err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(t.TempDir(), "tampered")
	_, err = f.Fetch(ctx, ocisource.Source{URL: url, Ref: ocisource.Ref{Tag: "v1"}, Verifier: keyed}, tampered)
	if err == nil || errors.Is(err, ocisource.ErrVerification) {
		t.Errorf("tampered layout: error = %v, want a fetch or storage failure", err)
	}
	if _, err := os.Lstat(tampered); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a tampered layout wrote the directory: %v", err)
	}
}
