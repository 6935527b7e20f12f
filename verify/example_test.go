package verify_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/verify"
)

// keyVerifier stands in for a real verifier (such as verify/cosign) that
// accepts signatures made with one key.
func keyVerifier(keyID string, signed bool) verify.Verifier {
	return verify.VerifierFunc(func(ctx context.Context, ref oci.Reference) (*verify.Result, error) {
		if err := verify.RequirePinned(ref); err != nil {
			return nil, err
		}
		if !signed {
			return nil, verify.NoSignatures(ref, "signatures by key "+keyID)
		}
		return &verify.Result{Ref: ref, Signatures: []verify.Signature{{Format: verify.FormatLegacy, KeyID: keyID}}}, nil
	})
}

// Two of three maintainers must have signed a release.
func ExampleThreshold() {
	ref, _ := oci.ParseReference("registry.example/org/app@sha256:" +
		"0000000000000000000000000000000000000000000000000000000000000000")
	alice, bob, carol := keyVerifier("alice", true), keyVerifier("bob", false), keyVerifier("carol", true)
	policy, err := verify.Threshold(2, alice, bob, carol)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := policy.Verify(context.Background(), ref)
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	for _, s := range res.Signatures {
		fmt.Println("signed by", s.Signer(), "in", s.Format, "format")
	}

	// Without a digest, nothing is verified.
	_, err = policy.Verify(context.Background(), ref.WithTag("v1"))
	fmt.Println(errors.Is(err, verify.ErrNotPinned))

	// A policy that cannot be met is refused when it is built.
	_, err = verify.Threshold(3, alice, carol)
	fmt.Println(err)
	// Output:
	// signed by key:alice in legacy format
	// signed by key:carol in legacy format
	// true
	// verify: Threshold(3): invalid verification policy: 3 distinct signers required of 2 verifiers; n must be between 1 and the number of verifiers
}
