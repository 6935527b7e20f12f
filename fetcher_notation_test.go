package ocisource_test

import (
	"errors"
	"testing"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/notation"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// verify.AllOf(cosign, notation) through the Fetcher: both verifiers are
// built without a client and read signatures with the Fetcher's, and both
// signatures are required.
func TestFetchAllOfCosignAndNotation(t *testing.T) {
	e := newEnv(t)
	client := e.reg.Client()
	key, err := verifytest.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	ca, err := verifytest.NewNotationCA("release root")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ca.Issue("release")
	if err != nil {
		t.Fatal(err)
	}
	cv, err := cosign.New(cosign.WithKeys(key.PublicKeyPEM()))
	if err != nil {
		t.Fatal(err)
	}
	nv, err := notation.New(notation.WithTrustPolicy(ca.TrustPolicy(false, e.reg.Host()+"/app")),
		notation.WithCertificates(ca.CertificatePEM()))
	if err != nil {
		t.Fatal(err)
	}
	both, err := verify.AllOf(cv, nv)
	if err != nil {
		t.Fatal(err)
	}

	d1 := e.push("app:v1", v1)
	ref1 := e.reg.Ref("app:v1").WithDigest(d1.Digest)
	if _, err := verifytest.SignLegacy(e.ctx, client, ref1, key, verifytest.WithoutTransparencyLog()); err != nil {
		t.Fatal(err)
	}
	if _, err := verifytest.SignNotation(e.ctx, client, ref1, signer, verifytest.WithEnvelope(verifytest.MediaTypeCOSE)); err != nil {
		t.Fatal(err)
	}
	src := e.src(ocisource.Ref{Tag: "v1"})
	src.Verifier = both
	a, err := e.f.Fetch(e.ctx, src, e.dir)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if a.Verification == nil {
		t.Fatal("no verification result")
	}
	formats := map[verify.Format]bool{}
	for _, s := range a.Verification.Signatures {
		formats[s.Format] = true
		if s.Format == verify.FormatNotation && (s.Subject != signer.Subject() || s.Level != "strict") {
			t.Errorf("notation signature = %+v", s)
		}
	}
	if !formats[verify.FormatLegacy] || !formats[verify.FormatNotation] || len(formats) != 2 {
		t.Errorf("signatures %+v, want one cosign and one notation", a.Verification.Signatures)
	}

	// Signed with cosign only: AllOf refuses, and the directory keeps v1.
	d2 := e.push("app:v2", v2)
	if _, err := verifytest.SignLegacy(e.ctx, client, e.reg.Ref("app:v2").WithDigest(d2.Digest), key, verifytest.WithoutTransparencyLog()); err != nil {
		t.Fatal(err)
	}
	src.Ref = ocisource.Ref{Tag: "v2"}
	if _, err := e.f.Fetch(e.ctx, src, e.dir); !errors.Is(err, ocisource.ErrVerification) || !errors.Is(err, verify.ErrNoSignatures) {
		t.Fatalf("cosign only: err = %v, want ErrVerification wrapping ErrNoSignatures", err)
	}
	assertUntouched(t, e.dir, v1, siblings(t, e.dir))
}
