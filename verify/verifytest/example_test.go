package verifytest_test

import (
	"context"
	"fmt"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// Sign an artifact in an in-memory registry, keyed and keyless, in both of
// cosign's formats: a test of a verification policy needs nothing else.
func Example() {
	ctx := context.Background()
	reg := ocitest.New()
	defer reg.Close()
	client := reg.Client()
	desc, _ := reg.PushBytes(ctx, "app:v1", oci.MediaTypeFluxContent, []byte("manifests"))
	ref := reg.Ref("app:v1").WithDigest(desc.Digest)

	key, _ := verifytest.NewKeyPair()
	sigstore, _ := verifytest.NewSigstore()

	_, err1 := verifytest.SignLegacy(ctx, client, ref, key)
	_, err2 := verifytest.SignBundle(ctx, client, ref, sigstore.Keyless("https://issuer.example", "ci@example.com"))
	fmt.Println(err1, err2)

	sigs, _ := client.Manifest(ctx, ref.WithTag(verifytest.LegacySignatureTag(ref.Digest)))
	bundles, _ := client.Referrers(ctx, ref, "")
	fmt.Println(len(sigs.Layers), "legacy signature,", len(bundles), "bundle")
	// Output:
	// <nil> <nil>
	// 1 legacy signature, 1 bundle
}
