package cosign_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

func TestKeyed(t *testing.T) {
	keyTypes := []verifytest.KeyType{verifytest.KeyECDSAP256, verifytest.KeyECDSAP384, verifytest.KeyEd25519, verifytest.KeyRSA2048}
	keys := map[verifytest.KeyType]*verifytest.KeyPair{}
	for _, kt := range keyTypes {
		keys[kt] = mustKey(t, kt)
	}
	other := mustKey(t, verifytest.KeyECDSAP256)

	for _, f := range formats {
		for _, kt := range keyTypes {
			t.Run(f.name+"/"+kt.String(), func(t *testing.T) {
				e := newEnv(t)
				signer := keys[kt]
				e.sign(t, f.sign, e.ref, signer)

				v := mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(signer.PublicKeyPEM()))
				res, _ := expect(t, v, e.ref, passed)
				want := []verify.Signature{{Verifier: "cosign keyed", Format: f.format, KeyID: signer.KeyID()}}
				if diff := cmp.Diff(want, res.Signatures, cmpIgnoreCandidate); diff != "" {
					t.Errorf("signatures (-want +got):\n%s", diff)
				}
				if res.Ref != e.ref {
					t.Errorf("Result.Ref = %v, want %v", res.Ref, e.ref)
				}

				t.Run("wrong key", func(t *testing.T) {
					v := mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(other.PublicKeyPEM()))
					expect(t, v, e.ref, rejected)
				})
				t.Run("one of many keys", func(t *testing.T) {
					v := mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(other.PublicKeyPEM(), signer.PublicKeyPEM()))
					res, _ := expect(t, v, e.ref, passed)
					if got := res.Signatures[0].KeyID; got != signer.KeyID() {
						t.Errorf("KeyID = %s, want the signer's %s", got, signer.KeyID())
					}
				})
				t.Run("several keys in one PEM", func(t *testing.T) {
					pem := append(other.PublicKeyPEM(), signer.PublicKeyPEM()...)
					v := mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(pem))
					expect(t, v, e.ref, passed)
				})
			})
		}
	}
}

var cmpIgnoreCandidate = cmp.FilterPath(func(p cmp.Path) bool {
	return p.Last().String() == ".Candidate"
}, cmp.Ignore())
