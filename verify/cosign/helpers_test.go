package cosign_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

const (
	issuer  = "https://issuer.example"
	subject = "release@example.com"
)

// env is a registry with one pushed artifact.
type env struct {
	reg    *ocitest.Registry
	client *oci.Client
	ref    oci.Reference // digest-pinned
}

func newEnv(t *testing.T) *env {
	t.Helper()
	reg := ocitest.NewT(t)
	return &env{reg: reg, client: reg.Client(), ref: push(t, reg, "app:v1", "v1")}
}

func push(t *testing.T, reg *ocitest.Registry, ref, content string) oci.Reference {
	t.Helper()
	desc, err := reg.PushBytes(context.Background(), ref, oci.MediaTypeFluxContent, []byte(content))
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return reg.Ref(ref).WithDigest(desc.Digest)
}

func mustKey(t *testing.T, kt verifytest.KeyType) *verifytest.KeyPair {
	t.Helper()
	k, err := verifytest.GenerateKeyPair(kt)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSigstore(t *testing.T, opts ...verifytest.SigstoreOption) (*verifytest.Sigstore, []byte) {
	t.Helper()
	ss, err := verifytest.NewSigstore(opts...)
	if err != nil {
		t.Fatal(err)
	}
	rootJSON, err := ss.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}
	return ss, rootJSON
}

func mustVerifier(t *testing.T, opts ...cosign.Option) *cosign.Verifier {
	t.Helper()
	v, err := cosign.New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

type signFunc func(ctx context.Context, c *oci.Client, ref oci.Reference, s verifytest.Signer, opts ...verifytest.SignOption) (oci.Descriptor, error)

var formats = []struct {
	name   string
	format verify.Format
	sign   signFunc
}{
	{"legacy", verify.FormatLegacy, verifytest.SignLegacy},
	{"bundle", verify.FormatBundle, verifytest.SignBundle},
}

func (e *env) sign(t *testing.T, sign signFunc, ref oci.Reference, s verifytest.Signer, opts ...verifytest.SignOption) {
	t.Helper()
	if _, err := sign(context.Background(), e.client, ref, s, opts...); err != nil {
		t.Fatalf("sign %s: %v", ref, err)
	}
}

// outcome classifies a verification.
type outcome string

const (
	passed      outcome = "passed"
	noSigs      outcome = "no signatures"
	rejected    outcome = "rejected"
	unavailable outcome = "unavailable"
	errored     outcome = "other error"
)

func classify(t *testing.T, res *verify.Result, err error) outcome {
	t.Helper()
	var ve *verify.VerificationError
	switch {
	case err == nil:
		if res == nil || len(res.Signatures) == 0 {
			t.Fatalf("success without signatures: %+v", res)
		}
		return passed
	case errors.Is(err, verify.ErrUnavailable):
		if errors.As(err, &ve) || errors.Is(err, verify.ErrVerificationFailed) || errors.Is(err, verify.ErrNoSignatures) {
			t.Fatalf("error is both 'unavailable' and a verdict: %v", err)
		}
		return unavailable
	case errors.Is(err, verify.ErrNoSignatures):
		if errors.As(err, &ve) {
			t.Fatalf("error is both 'no signatures' and a VerificationError: %v", err)
		}
		return noSigs
	case errors.As(err, &ve):
		if len(ve.Failures) == 0 {
			t.Fatalf("VerificationError without failures: %v", err)
		}
		return rejected
	default:
		return errored
	}
}

func expect(t *testing.T, v verify.Verifier, ref oci.Reference, want outcome) (*verify.Result, error) {
	t.Helper()
	res, err := v.Verify(context.Background(), ref)
	if testing.Verbose() && err != nil {
		t.Logf("%s: %v", want, err)
	}
	if got := classify(t, res, err); got != want {
		t.Fatalf("Verify(%s) = %s, want %s; err: %v", ref, got, want, err)
	}
	return res, err
}
