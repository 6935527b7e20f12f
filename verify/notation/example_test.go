package notation_test

import (
	"context"
	"fmt"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/verify/notation"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// Verify a notation signature as Flux's provider: notation does: a trust
// policy and the certificates of a Secret.
func Example() {
	ctx := context.Background()
	reg := ocitest.New()
	defer reg.Close()
	client := reg.Client()
	desc, err := reg.PushBytes(ctx, "app:v1", oci.MediaTypeFluxContent, []byte("kind: ConfigMap"))
	if err != nil {
		panic(err)
	}
	ref := reg.Ref("app:v1").WithDigest(desc.Digest)

	// What `notation sign` would have done.
	ca, _ := verifytest.NewNotationCA("Acme release root")
	signer, _ := ca.Issue("release")
	if _, err := verifytest.SignNotation(ctx, client, ref, signer); err != nil {
		panic(err)
	}

	// trustpolicy.json and the .crt values of the Secret.
	trustPolicy := []byte(`{
	  "version": "1.0",
	  "trustPolicies": [{
	    "name": "acme",
	    "registryScopes": ["*"],
	    "signatureVerification": {"level": "strict"},
	    "trustStores": ["ca:acme"],
	    "trustedIdentities": ["x509.subject: C=US,ST=WA,O=verifytest,CN=release"]
	  }]
	}`)
	v, err := notation.New(notation.WithTrustPolicy(trustPolicy), notation.WithCertificates(ca.CertificatePEM()),
		notation.WithClient(client)) // the root Fetcher lends its client instead
	if err != nil {
		panic(err)
	}
	res, err := v.Verify(ctx, ref)
	if err != nil {
		panic(err)
	}
	s := res.Signatures[0]
	fmt.Println(s.Format, s.Policy, s.Level)
	fmt.Println(s.Subject)
	// Output:
	// notation acme strict
	// CN=release,O=verifytest,ST=WA,C=US
}
