package ocisource_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// TestMirrorSignedToLayoutOffline is issue 14's must-show: an artifact
// signed keyed (legacy ".sig" tag) and keyless (a Sigstore bundle found
// through referrers) is mirrored with oci.Copy into a layout directory; the
// registry is then closed, and the layout is fetched with both verifiers and
// no network. A layout tampered after the mirror is refused, and the target
// directory keeps what it held.
func TestMirrorSignedToLayoutOffline(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.New()
	c := reg.Client()
	d, err := reg.PushFiles(ctx, "app:1.0.0", map[string]string{"app.yaml": "kind: ConfigMap\n"})
	if err != nil {
		t.Fatal(err)
	}
	pinned := reg.Ref("app").WithDigest(d.Digest)
	key, err := verifytest.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	store, err := verifytest.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	root, err := store.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifytest.SignLegacy(ctx, c, pinned, key, verifytest.WithoutTransparencyLog()); err != nil {
		t.Fatal(err)
	}
	ci := store.Keyless("https://token.actions.githubusercontent.com", "release@example.com")
	if _, err := verifytest.SignBundle(ctx, c, pinned, ci, verifytest.WithTransparencyLog(store)); err != nil {
		t.Fatal(err)
	}

	layoutDir := filepath.Join(t.TempDir(), "airgap")
	dst, err := oci.ParseURL(oci.LayoutScheme + layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := oci.Copy(ctx, c, reg.Ref("app:1.0.0"), c, dst)
	if err != nil {
		t.Fatal(err)
	}
	if res.Descriptor.Digest != d.Digest || res.Tag != "1.0.0" || len(res.Attachments) != 2 {
		t.Fatalf("copy result = %+v, want %s tagged 1.0.0 with 2 attachments", res, d.Digest)
	}
	reg.Close() // from here on, nothing can come from the registry

	f, _, nn := offlineFetcher(t, key)
	offline, err := oci.NewClient(oci.WithTransport(nn))
	if err != nil {
		t.Fatal(err)
	}
	keyed, err := cosign.New(cosign.WithClient(offline), cosign.WithKeys(key.PublicKeyPEM()))
	if err != nil {
		t.Fatal(err)
	}
	keyless, err := cosign.New(cosign.WithClient(offline), cosign.WithTrustedRootJSON(root),
		cosign.WithIdentities(cosign.Identity{Issuer: ci.Issuer(), Subject: ci.Subject()}))
	if err != nil {
		t.Fatal(err)
	}
	both, err := verify.AllOf(keyed, keyless)
	if err != nil {
		t.Fatal(err)
	}
	src := ocisource.Source{URL: oci.LayoutScheme + layoutDir, Ref: ocisource.Ref{SemVer: "1.x"}, Verifier: both}
	out := filepath.Join(t.TempDir(), "content")
	a, err := f.Fetch(ctx, src, out)
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != d.Digest || len(a.Verification.Signatures) < 2 {
		t.Errorf("fetched %s with %d signatures, want %s with a keyed and a keyless one", a.Digest, len(a.Verification.Signatures), d.Digest)
	}
	if diff := cmp.Diff(map[string]string{"app.yaml": "kind: ConfigMap\n"}, tree(t, out)); diff != "" {
		t.Errorf("content (-want +got):\n%s", diff)
	}

	// Tamper with the layer in the layout: same size, one byte changed.
	m, err := offline.Manifest(ctx, oci.Reference{Layout: layoutDir}.WithDigest(d.Digest))
	if err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(layoutDir, "blobs", "sha256", m.Layers[0].Digest.Hex())
	b, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(blob, b, 0o644); err != nil {
		t.Fatal(err)
	}
	src.Ref = ocisource.Ref{Tag: "1.0.0"}
	f2, _, _ := offlineFetcher(t, key) // a fresh Fetcher: no cached record says "done"
	_, err = f2.Fetch(ctx, src, filepath.Join(t.TempDir(), "fresh"))
	if !errors.Is(err, oci.ErrDigestMismatch) || !errors.Is(err, ocisource.ErrFetchFailed) {
		t.Fatalf("tampered layer: err = %v, want ErrDigestMismatch in the fetch phase (not a storage failure)", err)
	}

	// Tamper with the keyed signature's payload: the keyed verifier refuses.
	sigDesc, err := offline.Resolve(ctx, oci.Reference{Layout: layoutDir, Tag: oci.CosignTag(d.Digest, oci.CosignSignature)})
	if err != nil {
		t.Fatal(err)
	}
	sm, err := offline.Manifest(ctx, oci.Reference{Layout: layoutDir}.WithDigest(sigDesc.Digest))
	if err != nil {
		t.Fatal(err)
	}
	payload := filepath.Join(layoutDir, "blobs", "sha256", sm.Layers[0].Digest.Hex())
	if err := os.WriteFile(payload, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = keyed.Verify(ctx, oci.Reference{Layout: layoutDir}.WithDigest(d.Digest))
	if err == nil {
		t.Fatal("a layout with a tampered signature payload verified")
	}
	if n := nn.calls.Load(); n != 0 {
		t.Errorf("%d requests reached the network", n)
	}
}
