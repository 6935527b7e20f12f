package cosign_test

import (
	"crypto"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sigstore/sigstore/pkg/signature"

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

// TestKeysAsValues verifies with keys given as crypto.PublicKey values and as
// sigstore signature.Verifier values (what kms.Get returns), in both formats.
func TestKeysAsValues(t *testing.T) {
	for _, f := range formats {
		for _, kt := range []verifytest.KeyType{verifytest.KeyECDSAP256, verifytest.KeyEd25519, verifytest.KeyRSA2048} {
			t.Run(f.name+"/"+kt.String(), func(t *testing.T) {
				e := newEnv(t)
				signer, other := mustKey(t, kt), mustKey(t, kt)
				e.sign(t, f.sign, e.ref, signer)
				base := []cosign.Option{cosign.WithClient(e.client), cosign.WithFormat(f.format)}
				tests := []struct {
					name string
					opt  cosign.Option
					want outcome
				}{
					{"public key", cosign.WithPublicKeys(signer.PublicKey()), passed},
					{"other public key", cosign.WithPublicKeys(other.PublicKey()), rejected},
					{"one of two public keys", cosign.WithPublicKeys(other.PublicKey(), signer.PublicKey()), passed},
					{"verifier", cosign.WithSignatureVerifiers(mustSigVerifier(t, signer)), passed},
					{"other verifier", cosign.WithSignatureVerifiers(mustSigVerifier(t, other)), rejected},
					{"one of two verifiers", cosign.WithSignatureVerifiers(mustSigVerifier(t, other), mustSigVerifier(t, signer)), passed},
				}
				for _, tt := range tests {
					t.Run(tt.name, func(t *testing.T) {
						v := mustVerifier(t, append(base, tt.opt)...)
						res, _ := expect(t, v, e.ref, tt.want)
						if tt.want == passed {
							if got := res.Signatures[0].KeyID; got != signer.KeyID() {
								t.Errorf("KeyID = %s, want %s", got, signer.KeyID())
							}
						}
					})
				}
			})
		}
	}
}

// mustSigVerifier wraps k's public key in a signature.Verifier, as a KMS
// provider hands one over.
func mustSigVerifier(t *testing.T, k *verifytest.KeyPair) signature.Verifier {
	t.Helper()
	sv, err := signature.LoadVerifier(k.PublicKey(), crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return sv
}

// failingVerifier is a verifier whose public key cannot be read (a KMS that
// refuses).
type failingVerifier struct{ signature.Verifier }

func (failingVerifier) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return nil, errors.New("kms: access denied")
}

func TestKeysAsValuesOptions(t *testing.T) {
	k1, k2, k3 := mustKey(t, verifytest.KeyECDSAP256), mustKey(t, verifytest.KeyECDSAP256), mustKey(t, verifytest.KeyECDSAP256)
	_, rootJSON := mustSigstore(t)
	id := cosign.WithIdentities(cosign.Identity{Issuer: issuer, Subject: subject})
	tests := []struct {
		name    string
		opts    []cosign.Option
		wantErr error
		want    string
	}{
		{"no public keys", []cosign.Option{cosign.WithPublicKeys()}, cosign.ErrInvalidOption, "WithPublicKeys(): no keys given"},
		{"no verifiers", []cosign.Option{cosign.WithSignatureVerifiers()}, cosign.ErrInvalidOption, "WithSignatureVerifiers(): no verifiers given"},
		{"nil public key", []cosign.Option{cosign.WithPublicKeys(nil)}, cosign.ErrInvalidKey, "key 1 is nil"},
		{"nil verifier", []cosign.Option{cosign.WithSignatureVerifiers(nil)}, cosign.ErrInvalidKey, "verifier 1 is nil"},
		{"unsupported public key", []cosign.Option{cosign.WithPublicKeys("not a key")}, cosign.ErrInvalidKey, "key 1: "},
		{"verifier without public key", []cosign.Option{cosign.WithKeys(k1.PublicKeyPEM()), cosign.WithSignatureVerifiers(failingVerifier{})}, cosign.ErrInvalidKey, "key 2: reading the verifier's public key: kms: access denied"},
		{"PEM key, then the same as value", []cosign.Option{cosign.WithKeys(k1.PublicKeyPEM()), cosign.WithPublicKeys(k1.PublicKey())}, cosign.ErrInvalidOption, "key 2 is the same key as key 1"},
		{"value, then the same as verifier", []cosign.Option{cosign.WithPublicKeys(k2.PublicKey()), cosign.WithKeys(k1.PublicKeyPEM()), cosign.WithSignatureVerifiers(mustSigVerifier(t, k2))}, cosign.ErrInvalidOption, "key 3 is the same key as key 1"},
		{"public keys and identities", []cosign.Option{cosign.WithTrustedRootJSON(rootJSON), cosign.WithPublicKeys(k1.PublicKey()), id}, cosign.ErrInvalidOption, "WithPublicKeys conflicts with WithIdentities"},
		{"verifiers and identities", []cosign.Option{cosign.WithTrustedRootJSON(rootJSON), cosign.WithSignatureVerifiers(mustSigVerifier(t, k1)), id}, cosign.ErrInvalidOption, "WithSignatureVerifiers conflicts with WithIdentities"},
		{"several key options and any identity", []cosign.Option{cosign.WithTrustedRootJSON(rootJSON), cosign.WithKeys(k3.PublicKeyPEM()), cosign.WithSignatureVerifiers(mustSigVerifier(t, k1)), cosign.WithoutIdentityUnsafe()}, cosign.ErrInvalidOption, "WithKeys and WithSignatureVerifiers conflict with WithoutIdentityUnsafe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cosign.New(tt.opts...)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want %v saying %q", err, tt.wantErr, tt.want)
			}
		})
	}

	t.Run("names across key options", func(t *testing.T) {
		e := newEnv(t)
		e.sign(t, verifytest.SignLegacy, e.ref, mustKey(t, verifytest.KeyECDSAP256))
		v := mustVerifier(t, cosign.WithClient(e.client), cosign.WithFormat(verify.FormatLegacy),
			cosign.WithKeys(k1.PublicKeyPEM()), cosign.WithPublicKeys(k2.PublicKey()), cosign.WithSignatureVerifiers(mustSigVerifier(t, k3)))
		_, err := expect(t, v, e.ref, rejected)
		for _, w := range []string{"key 1: ", "key 2: ", "key 3: "} {
			if strings.Count(err.Error(), w) != 1 {
				t.Errorf("message names %q %d times, want once:\n%v", w, strings.Count(err.Error(), w), err)
			}
		}
	})

	t.Run("fingerprint", func(t *testing.T) {
		fp := func(opts ...cosign.Option) string { return mustVerifier(t, opts...).Fingerprint() }
		if fp(cosign.WithSignatureVerifiers(mustSigVerifier(t, k1))) == fp(cosign.WithSignatureVerifiers(mustSigVerifier(t, k2))) {
			t.Error("verifiers of two keys share a fingerprint")
		}
		if fp(cosign.WithPublicKeys(k1.PublicKey())) == fp(cosign.WithPublicKeys(k2.PublicKey())) {
			t.Error("two public keys share a fingerprint")
		}
		if fp(cosign.WithPublicKeys(k1.PublicKey())) == fp(cosign.WithPublicKeys(k1.PublicKey(), k2.PublicKey())) {
			t.Error("adding a public key leaves the fingerprint unchanged")
		}
	})
}
