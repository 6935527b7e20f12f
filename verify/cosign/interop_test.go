package cosign_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocisource/ocisource/internal/realregistry"
	"github.com/ocisource/ocisource/oci"
	ocipush "github.com/ocisource/ocisource/oci/push"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// realEnv is a real registry (CNCF Distribution over TLS with basic auth)
// holding one artifact pushed with our client.
type realEnv struct {
	reg    *realregistry.Registry
	client *oci.Client
	ref    oci.Reference
	work   string
}

func newRealEnv(t *testing.T) *realEnv {
	t.Helper()
	reg := realregistry.Start(t)
	client, err := oci.NewClient(oci.WithBasicAuth(reg.Username, reg.Password), oci.WithCACertPool(reg.CAPool))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := oci.ParseReference(reg.Repo("app:v1"))
	if err != nil {
		t.Fatal(err)
	}
	desc, err := ocipush.Artifact(context.Background(), client, ref, ocipush.LayerFromBytes(oci.MediaTypeFluxContent, []byte("interop")))
	if err != nil {
		t.Fatal(err)
	}
	return &realEnv{reg: reg, client: client, ref: ref.WithDigest(desc.Digest), work: t.TempDir()}
}

func (e *realEnv) cosign(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := e.reg.Command(t, "cosign", args...)
	cmd.Dir = e.work
	cmd.Env = append(cmd.Env, "COSIGN_PASSWORD=interop-password")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e *realEnv) mustCosign(t *testing.T, args ...string) string {
	t.Helper()
	out, err := e.cosign(t, args...)
	if err != nil {
		t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// cliRef is the reference the cosign CLI is given: repository@digest.
func (e *realEnv) cliRef() string { return e.ref.Repo() + "@" + string(e.ref.Digest) }

// A signature made by the real cosign CLI verifies with our keyed verifier.
func TestIntegrationCosignCLISignsWeVerify(t *testing.T) {
	e := newRealEnv(t)
	e.mustCosign(t, "generate-key-pair", "--output-key-prefix", "signer")
	e.mustCosign(t, "generate-key-pair", "--output-key-prefix", "other")
	e.mustCosign(t, "sign", "--yes", "--key", "signer.key", "--tlog-upload=false", e.cliRef())

	ctx := context.Background()
	v := mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeyFiles(filepath.Join(e.work, "signer.pub")))
	res, err := v.Verify(ctx, e.ref)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if s := res.Signatures[0]; s.Format != verify.FormatLegacy || s.KeyID == "" {
		t.Errorf("signature = %+v, want a keyed legacy signature", s)
	}
	expect(t, mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeyFiles(filepath.Join(e.work, "other.pub"))), e.ref, rejected)
}

// A signature made by the cosign CLI in the bundle format (attached as a
// referrer through the tag-schema fallback, as Distribution has no referrers
// API) verifies with our keyed verifier.
func TestIntegrationCosignCLIBundleWeVerify(t *testing.T) {
	e := newRealEnv(t)
	e.mustCosign(t, "generate-key-pair", "--output-key-prefix", "signer")
	e.mustCosign(t, "sign", "--yes", "--new-bundle-format", "--key", "signer.key", "--tlog-upload=false", e.cliRef())

	v := mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeyFiles(filepath.Join(e.work, "signer.pub")), cosign.WithFormat(verify.FormatBundle))
	res, err := v.Verify(context.Background(), e.ref)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if s := res.Signatures[0]; s.Format != verify.FormatBundle || s.KeyID == "" {
		t.Errorf("signature = %+v, want a keyed bundle signature", s)
	}
}

// `cosign verify --key` accepts a signature made by verifytest.
func TestIntegrationWeSignCosignCLIVerifies(t *testing.T) {
	for _, kt := range []verifytest.KeyType{verifytest.KeyECDSAP256, verifytest.KeyEd25519, verifytest.KeyRSA2048} {
		t.Run(kt.String(), func(t *testing.T) {
			e := newRealEnv(t)
			key := mustKey(t, kt)
			if err := os.WriteFile(filepath.Join(e.work, "key.pub"), key.PublicKeyPEM(), 0o600); err != nil {
				t.Fatal(err)
			}
			other := mustKey(t, kt)
			if err := os.WriteFile(filepath.Join(e.work, "other.pub"), other.PublicKeyPEM(), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := verifytest.SignLegacy(context.Background(), e.client, e.ref, key); err != nil {
				t.Fatal(err)
			}
			out := e.mustCosign(t, "verify", "--key", "key.pub", "--insecure-ignore-tlog=true", e.cliRef())
			if !strings.Contains(out, `"docker-manifest-digest":"`+string(e.ref.Digest)+`"`) {
				t.Errorf("cosign verify output does not name %s:\n%s", e.ref.Digest, out)
			}
			if out, err := e.cosign(t, "verify", "--key", "other.pub", "--insecure-ignore-tlog=true", e.cliRef()); err == nil {
				t.Errorf("cosign verify accepted another key:\n%s", out)
			}
		})
	}
}

// cosign sign --key also works with a key verifytest generated.
func TestIntegrationCosignCLISignsWithOurKey(t *testing.T) {
	e := newRealEnv(t)
	key := mustKey(t, verifytest.KeyECDSAP256)
	priv, err := key.CosignPrivateKeyPEM([]byte("interop-password"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.work, "our.key"), priv, 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustCosign(t, "sign", "--yes", "--key", "our.key", "--tlog-upload=false", e.cliRef())
	res, _ := expect(t, mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(key.PublicKeyPEM())), e.ref, passed)
	if got := res.Signatures[0].KeyID; got != key.KeyID() {
		t.Errorf("KeyID = %s, want %s", got, key.KeyID())
	}
}

// `cosign verify` with our virtual Sigstore's trusted_root.json accepts a
// keyless signature made by verifytest: the virtual deployment is shaped like
// a real private one.
func TestIntegrationKeylessCosignCLIVerifies(t *testing.T) {
	e := newRealEnv(t)
	ss, rootJSON := mustSigstore(t)
	if err := os.WriteFile(filepath.Join(e.work, "trusted_root.json"), rootJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := verifytest.SignLegacy(context.Background(), e.client, e.ref, ss.Keyless(issuer, subject)); err != nil {
		t.Fatal(err)
	}
	// cosign demands an SCT whatever the root lists; ours lists no CT log
	// (the virtual CA embeds none), so the CLI is told not to.
	e.mustCosign(t, "verify", "--trusted-root", "trusted_root.json", "--insecure-ignore-sct=true",
		"--certificate-identity", subject, "--certificate-oidc-issuer", issuer, e.cliRef())
	if out, err := e.cosign(t, "verify", "--trusted-root", "trusted_root.json", "--insecure-ignore-sct=true",
		"--certificate-identity", "mallory@example.com", "--certificate-oidc-issuer", issuer, e.cliRef()); err == nil {
		t.Errorf("cosign verify accepted another identity:\n%s", out)
	}
	// And ours agrees, over the real registry.
	expect(t, mustVerifier(t, cosign.WithClient(e.client), cosign.WithTrustedRootJSON(rootJSON),
		cosign.WithIdentities(cosign.Identity{Issuer: issuer, Subject: subject})), e.ref, passed)
}
