package cosign_test

import (
	"context"
	"crypto"
	"errors"
	"fmt"

	"github.com/sigstore/sigstore/pkg/signature"

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

// A verifier built without a client reads signatures with the client of
// whoever verifies through it: the root Fetcher binds its own, and so does
// this example, for an in-memory registry that speaks plain HTTP.
func ExampleVerifier_BindClient() {
	ctx := context.Background()
	reg := ocitest.New()
	defer reg.Close()
	client := reg.Client() // plain HTTP, as the registry needs
	desc, _ := reg.PushBytes(ctx, "app:v1", oci.MediaTypeFluxContent, []byte("manifests"))
	ref := reg.Ref("app:v1").WithDigest(desc.Digest)
	key, _ := verifytest.NewKeyPair()
	if _, err := verifytest.SignLegacy(ctx, client, ref, key); err != nil {
		fmt.Println(err)
		return
	}

	keyed, _ := cosign.New(cosign.WithKeys(key.PublicKeyPEM()))
	policy, err := verify.AnyOf(keyed)
	if err != nil {
		fmt.Println(err)
		return
	}
	// On its own, the verifier's default client speaks HTTPS: it cannot
	// read the signatures, which is not a verdict about the artifact.
	_, err = policy.Verify(ctx, ref)
	fmt.Println("unbound:", errors.Is(err, verify.ErrUnavailable), errors.Is(err, verify.ErrVerificationFailed))

	// Bound to the client the artifact is read with, it verifies. The
	// policy itself is unchanged, and so is its fingerprint.
	bound := verify.BindClient(policy, client)
	res, err := bound.Verify(ctx, ref)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("bound:", res.Signatures[0].KeyID == key.KeyID())
	fmt.Println("same policy:", verify.FingerprintOf(bound) == verify.FingerprintOf(policy))
	// Output:
	// unbound: true false
	// bound: true
	// same policy: true
}

// Verify with a key held in a KMS or an HSM: any sigstore signature.Verifier
// plugs in. With sigstore's pkg/signature/kms, the verifier comes from
// kms.Get(ctx, "awskms:///arn:aws:kms:...", crypto.SHA256) (the provider
// package imported by the caller, e.g. _ ".../kms/aws"); here a test key is
// wrapped the same way.
func ExampleWithSignatureVerifiers() {
	ctx := context.Background()
	reg := ocitest.New()
	defer reg.Close()
	client := reg.Client()
	desc, _ := reg.PushBytes(ctx, "app:v1", oci.MediaTypeFluxContent, []byte("manifests"))
	ref := reg.Ref("app:v1").WithDigest(desc.Digest)

	key, _ := verifytest.NewKeyPair() // the key the KMS holds
	if _, err := verifytest.SignBundle(ctx, client, ref, key); err != nil {
		fmt.Println(err)
		return
	}
	kmsVerifier, err := signature.LoadVerifier(key.PublicKey(), crypto.SHA256)
	if err != nil {
		fmt.Println(err)
		return
	}

	v, err := cosign.New(cosign.WithClient(client), cosign.WithSignatureVerifiers(kmsVerifier))
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
	fmt.Println("signed:", s.Format, s.KeyID == key.KeyID())
	// Output:
	// signed: bundle true
}

// Require SLSA provenance from a given builder and repository, as
// `cosign attest --type slsaprovenance1` or GitHub's attest-build-provenance
// attach it, and read the verified statement back.
func ExampleWithAttestation() {
	ctx := context.Background()
	reg := ocitest.New()
	defer reg.Close()
	client := reg.Client()
	desc, _ := reg.PushBytes(ctx, "app:v1", oci.MediaTypeFluxContent, []byte("manifests"))
	ref := reg.Ref("app:v1").WithDigest(desc.Digest)
	key, _ := verifytest.NewKeyPair()

	provenance := []byte(`{
	  "buildDefinition": {
	    "buildType": "https://actions.github.io/buildtypes/workflow/v1",
	    "externalParameters": {"workflow": {"repository": "https://github.com/org/app", "ref": "refs/tags/v1", "path": ".github/workflows/release.yml"}}
	  },
	  "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}}
	}`)
	if _, err := verifytest.AttestLegacy(ctx, client, ref, key, cosign.PredicateTypeSLSAProvenanceV1, provenance, verifytest.WithoutTransparencyLog()); err != nil {
		fmt.Println(err)
		return
	}
	for _, repo := range []string{"https://github.com/org/app", "https://github.com/org/other"} {
		v, err := cosign.New(cosign.WithClient(client), cosign.WithKeys(key.PublicKeyPEM()),
			cosign.WithAttestation(cosign.PredicateTypeSLSAProvenanceV1),
			cosign.WithSLSAPolicy(cosign.SLSAPolicy{BuilderID: "https://github.com/actions/runner/github-hosted", SourceRepository: repo}))
		if err != nil {
			fmt.Println(err)
			return
		}
		res, err := v.Verify(ctx, ref)
		if err != nil {
			fmt.Println(repo, "rejected:", errors.Is(err, cosign.ErrPredicateRejected))
			continue
		}
		fmt.Println(repo, "accepted:", res.Statements()[0].PredicateType)
	}
	// Output:
	// https://github.com/org/app accepted: https://slsa.dev/provenance/v1
	// https://github.com/org/other rejected: true
}
