package cosign_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// TestSignatureRepository: signatures stored in another repository of the
// same registry (cosign's COSIGN_REPOSITORY) verify with
// WithSignatureRepository, and are not found without it; signatures beside
// the artifact are not found with it.
func TestSignatureRepository(t *testing.T) {
	key := mustKey(t, verifytest.KeyECDSAP256)
	ss, rootJSON := mustSigstore(t)
	keyless := ss.Keyless(issuer, subject)
	modes := []struct {
		name   string
		signer verifytest.Signer
		opts   []cosign.Option
	}{
		{"keyed", key, []cosign.Option{cosign.WithKeys(key.PublicKeyPEM())}},
		{"keyless", keyless, []cosign.Option{cosign.WithTrustedRootJSON(rootJSON), cosign.WithIdentities(cosign.Identity{Issuer: issuer, Subject: subject})}},
	}
	for _, f := range formats {
		for _, m := range modes {
			t.Run(f.name+"/"+m.name, func(t *testing.T) {
				e := newEnv(t)
				sigRepo := e.reg.Ref("signatures/app")
				e.sign(t, f.sign, e.ref, m.signer, verifytest.WithSignatureRepository(sigRepo))
				base := append([]cosign.Option{cosign.WithClient(e.client), cosign.WithFormat(f.format)}, m.opts...)

				for _, repo := range []string{sigRepo.Repo(), sigRepo.URL()} {
					v := mustVerifier(t, append(base, cosign.WithSignatureRepository(repo))...)
					res, _ := expect(t, v, e.ref, passed)
					if res.Ref != e.ref || res.Signatures[0].Format != f.format {
						t.Errorf("%s: result %+v", repo, res)
					}
				}
				_, err := expect(t, mustVerifier(t, base...), e.ref, noSigs)
				if !errors.Is(err, verify.ErrNoSignatures) {
					t.Errorf("without the option: %v", err)
				}

				// Signed beside the artifact only: the option looks elsewhere.
				other := push(t, e.reg, "app:v2", "v2")
				e.sign(t, f.sign, other, m.signer)
				v := mustVerifier(t, append(base, cosign.WithSignatureRepository(sigRepo.Repo()))...)
				_, err = expect(t, v, other, noSigs)
				if !strings.Contains(err.Error(), sigRepo.Repo()) {
					t.Errorf("message does not name the signature repository: %v", err)
				}
			})
		}
	}
}

func TestSignatureRepositoryOptions(t *testing.T) {
	key := mustKey(t, verifytest.KeyECDSAP256)
	keyed := cosign.WithKeys(key.PublicKeyPEM())
	for _, bad := range []string{"", "no-host", "registry.example/app:v1", "oci://registry.example/app@sha256:" + strings.Repeat("a", 64), "https://registry.example/app"} {
		if _, err := cosign.New(keyed, cosign.WithSignatureRepository(bad)); !errors.Is(err, cosign.ErrInvalidOption) {
			t.Errorf("WithSignatureRepository(%q): New = %v, want ErrInvalidOption", bad, err)
		}
	}
	_, err := cosign.New(keyed, cosign.WithSignatureRepository("registry.example/a"), cosign.WithSignatureRepository("registry.example/b"))
	if !errors.Is(err, cosign.ErrInvalidOption) || !strings.Contains(err.Error(), "WithSignatureRepository given twice") {
		t.Errorf("twice: New = %v", err)
	}
	fp := func(opts ...cosign.Option) string {
		return mustVerifier(t, append([]cosign.Option{keyed}, opts...)...).Fingerprint()
	}
	plain, a, a2, b := fp(), fp(cosign.WithSignatureRepository("registry.example/a")), fp(cosign.WithSignatureRepository("oci://registry.example/a")), fp(cosign.WithSignatureRepository("registry.example/b"))
	if plain == a || a == b || plain == b {
		t.Error("the signature repository does not change the fingerprint")
	}
	if a != a2 {
		t.Error("one repository, given as host/path and as oci:// URL, has two fingerprints")
	}
}
