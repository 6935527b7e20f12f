package cosign_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// Verify an artifact signed with a key, as `cosign sign --key` does.
func ExampleNew_keyed() {
	ctx := context.Background()
	reg := ocitest.New()
	defer reg.Close()
	client := reg.Client()

	desc, _ := reg.PushBytes(ctx, "app:v1", oci.MediaTypeFluxContent, []byte("manifests"))
	ref := reg.Ref("app:v1").WithDigest(desc.Digest) // resolve once, verify the digest
	key, _ := verifytest.NewKeyPair()

	v, err := cosign.New(cosign.WithClient(client), cosign.WithKeys(key.PublicKeyPEM()))
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = v.Verify(ctx, ref)
	fmt.Println("unsigned:", errors.Is(err, verify.ErrNoSignatures))

	if _, err := verifytest.SignLegacy(ctx, client, ref, key); err != nil {
		fmt.Println(err)
		return
	}
	res, err := v.Verify(ctx, ref)
	if err != nil {
		fmt.Println(err)
		return
	}
	s := res.Signatures[0]
	fmt.Println("signed:", s.Format, s.KeyID == key.KeyID())
	// Output:
	// unsigned: true
	// signed: legacy true
}

// Verify a keyless signature against a private Sigstore deployment, known
// only from its trusted_root.json, with no network use.
func ExampleNew_keyless() {
	ctx := context.Background()
	reg := ocitest.New()
	defer reg.Close()
	client := reg.Client()
	desc, _ := reg.PushBytes(ctx, "app:v1", oci.MediaTypeFluxContent, []byte("manifests"))
	ref := reg.Ref("app:v1").WithDigest(desc.Digest)

	sigstore, _ := verifytest.NewSigstore()
	trustedRoot, _ := sigstore.TrustedRootJSON()
	signer := sigstore.Keyless("https://token.actions.githubusercontent.com",
		"https://github.com/org/app/.github/workflows/release.yaml@refs/heads/main")
	if _, err := verifytest.SignBundle(ctx, client, ref, signer); err != nil {
		fmt.Println(err)
		return
	}

	v, err := cosign.New(
		cosign.WithClient(client),
		cosign.WithTrustedRootJSON(trustedRoot),
		cosign.WithIdentities(cosign.Identity{
			Issuer:        "https://token.actions.githubusercontent.com",
			SubjectRegExp: `https://github\.com/org/app/\.github/workflows/.*`,
		}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := v.Verify(ctx, ref)
	if err != nil {
		fmt.Println(err)
		return
	}
	s := res.Signatures[0]
	fmt.Println(s.Format, s.Subject)
	fmt.Println("in transparency log:", s.Tlog != nil)
	// Output:
	// bundle https://github.com/org/app/.github/workflows/release.yaml@refs/heads/main
	// in transparency log: true
}
