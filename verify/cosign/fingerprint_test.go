package cosign_test

import (
	"testing"

	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

func TestFingerprintCoversPolicy(t *testing.T) {
	k1, _ := verifytest.NewKeyPair()
	k2, _ := verifytest.NewKeyPair()
	s1, _ := verifytest.NewSigstore()
	s2, _ := verifytest.NewSigstore()
	r1, _ := s1.TrustedRootJSON()
	r2, _ := s2.TrustedRootJSON()
	id := cosign.Identity{Issuer: "https://issuer", Subject: "a@example.com"}
	mk := func(opts ...cosign.Option) string {
		t.Helper()
		v, err := cosign.New(opts...)
		if err != nil {
			t.Fatal(err)
		}
		return verify.FingerprintOf(v)
	}
	policies := map[string]string{
		"key 1":          mk(cosign.WithKeys(k1.PublicKeyPEM())),
		"key 2":          mk(cosign.WithKeys(k2.PublicKeyPEM())),
		"keys 1+2":       mk(cosign.WithKeys(k1.PublicKeyPEM(), k2.PublicKeyPEM())),
		"key 1 legacy":   mk(cosign.WithKeys(k1.PublicKeyPEM()), cosign.WithFormat(verify.FormatLegacy)),
		"root 1":         mk(cosign.WithTrustedRootJSON(r1), cosign.WithIdentities(id)),
		"root 2":         mk(cosign.WithTrustedRootJSON(r2), cosign.WithIdentities(id)),
		"root 1 other":   mk(cosign.WithTrustedRootJSON(r1), cosign.WithIdentities(cosign.Identity{Issuer: "https://issuer", Subject: "b@example.com"})),
		"root 1 regexp":  mk(cosign.WithTrustedRootJSON(r1), cosign.WithIdentities(cosign.Identity{Issuer: "https://issuer", SubjectRegExp: "a@example.com"})),
		"root 1 tlog":    mk(cosign.WithTrustedRootJSON(r1), cosign.WithIdentities(id), cosign.WithRequireTlog()),
		"root 1 unsafe":  mk(cosign.WithTrustedRootJSON(r1), cosign.WithoutIdentityUnsafe()),
		"key 1 max sigs": mk(cosign.WithKeys(k1.PublicKeyPEM()), cosign.WithMaxSignatures(5)),
	}
	seen := map[string]string{}
	for name, fp := range policies {
		if fp == "" {
			t.Errorf("%s: no fingerprint", name)
		}
		if other, dup := seen[fp]; dup {
			t.Errorf("%s and %s share a fingerprint", name, other)
		}
		seen[fp] = name
	}
	if mk(cosign.WithKeys(k2.PublicKeyPEM(), k1.PublicKeyPEM())) != policies["keys 1+2"] {
		t.Error("the order of keys changes the fingerprint")
	}
	if mk(cosign.WithKeys(k1.PublicKeyPEM()), cosign.WithName("renamed")) != policies["key 1"] {
		t.Error("the name changes the fingerprint")
	}
}
