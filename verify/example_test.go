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
	policy := verify.Threshold(2,
		keyVerifier("alice", true),
		keyVerifier("bob", false),
		keyVerifier("carol", true),
	)
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
	// Output:
	// signed by key:alice in legacy format
	// signed by key:carol in legacy format
	// true
}
