package notation_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ocisource/ocisource/internal/realregistry"
	"github.com/ocisource/ocisource/oci"
	ocipush "github.com/ocisource/ocisource/oci/push"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/notation"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// TestIntegrationNotationRealRegistry signs with notation-go (JWS and COSE)
// into a real Distribution registry, which has no referrers API: the
// signatures are found through the referrers tag schema and verify; an
// unsigned artifact and a signature from an untrusted CA are refused.
func TestIntegrationNotationRealRegistry(t *testing.T) {
	reg := realregistry.Start(t)
	ctx := context.Background()
	client, err := oci.NewClient(oci.WithCAFile(reg.CAFile), oci.WithBasicAuth(reg.Username, reg.Password))
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := oci.ParseURL("oci://" + reg.Host + "/org/app")
	pushed := func(content string) oci.Reference {
		t.Helper()
		d, err := ocipush.Artifact(ctx, client, repo.WithTag(content), ocipush.LayerFromBytes(oci.MediaTypeFluxContent, []byte(content)))
		if err != nil {
			t.Fatal(err)
		}
		return repo.WithDigest(d.Digest)
	}
	ca, err := verifytest.NewNotationCA("integration root")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ca.Issue("release")
	if err != nil {
		t.Fatal(err)
	}
	other, err := verifytest.NewNotationCA("someone else")
	if err != nil {
		t.Fatal(err)
	}
	mallory, err := other.Issue("mallory")
	if err != nil {
		t.Fatal(err)
	}
	v, err := notation.New(notation.WithClient(client), notation.WithTrustPolicy(ca.TrustPolicy(false)), notation.WithCertificates(ca.CertificatePEM()))
	if err != nil {
		t.Fatal(err)
	}
	for _, mt := range []string{notation.MediaTypeJWS, notation.MediaTypeCOSE} {
		ref := pushed("signed-" + map[string]string{notation.MediaTypeJWS: "jws", notation.MediaTypeCOSE: "cose"}[mt])
		if _, err := verifytest.SignNotation(ctx, client, ref, signer, verifytest.WithEnvelope(mt)); err != nil {
			t.Fatal(err)
		}
		res, err := v.Verify(ctx, ref)
		if err != nil {
			t.Fatalf("%s: %v", mt, err)
		}
		if len(res.Signatures) != 1 || res.Signatures[0].Format != verify.FormatNotation {
			t.Errorf("%s: result %+v", mt, res)
		}
	}
	unsigned := pushed("unsigned")
	if _, err := v.Verify(ctx, unsigned); !errors.Is(err, verify.ErrNoSignatures) {
		t.Errorf("unsigned: err = %v, want ErrNoSignatures", err)
	}
	forged := pushed("forged")
	if _, err := verifytest.SignNotation(ctx, client, forged, mallory); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, forged); !errors.Is(err, verify.ErrVerificationFailed) {
		t.Errorf("untrusted CA: err = %v, want ErrVerificationFailed", err)
	}
}
