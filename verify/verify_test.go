package verify_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/verify"
)

var pinned = oci.Reference{
	Registry:   "registry.example",
	Repository: "org/app",
	Tag:        "v1",
	Digest:     oci.Digest("sha256:" + strings.Repeat("ab", 32)),
}

// fake is a verifier with a scripted answer that counts its calls.
type fake struct {
	name  string
	sigs  []verify.Signature
	err   error
	calls atomic.Int32
}

func (f *fake) Name() string { return f.name }

func (f *fake) Verify(ctx context.Context, ref oci.Reference) (*verify.Result, error) {
	f.calls.Add(1)
	if err := verify.RequirePinned(ref); err != nil {
		return nil, err
	}
	if f.err != nil {
		return nil, f.err
	}
	return &verify.Result{Ref: ref, Signatures: f.sigs}, nil
}

func pass(name, keyID string) *fake {
	return &fake{name: name, sigs: []verify.Signature{{Format: verify.FormatLegacy, Candidate: "c-" + name, KeyID: keyID}}}
}

func none(name string) *fake {
	return &fake{name: name, err: verify.NoSignatures(pinned, "sha256-….sig")}
}

func bad(name string) *fake {
	return &fake{name: name, err: &verify.VerificationError{Ref: pinned, Failures: []verify.Failure{
		{Candidate: "legacy layer 0", Err: errors.New("invalid signature")},
	}}}
}

func broken(name string, err error) *fake { return &fake{name: name, err: err} }

type outcome int

const (
	ok outcome = iota
	noSigs
	failed
	invalidPolicy
	other
)

func classify(t *testing.T, res *verify.Result, err error) outcome {
	t.Helper()
	var ve *verify.VerificationError
	switch {
	case err == nil:
		if res == nil || len(res.Signatures) == 0 {
			t.Fatalf("success without signatures: %+v", res)
		}
		return ok
	case errors.Is(err, verify.ErrInvalidPolicy):
		return invalidPolicy
	case errors.Is(err, verify.ErrNoSignatures):
		if errors.As(err, &ve) || errors.Is(err, verify.ErrVerificationFailed) {
			t.Fatalf("error is both 'no signatures' and 'verification failed': %v", err)
		}
		return noSigs
	case errors.As(err, &ve):
		if !errors.Is(err, verify.ErrVerificationFailed) {
			t.Fatalf("VerificationError does not match ErrVerificationFailed: %v", err)
		}
		return failed
	default:
		return other
	}
}

func TestCombinators(t *testing.T) {
	errRegistry := fmt.Errorf("fetching signatures: %w", oci.ErrRegistry)
	tests := []struct {
		name        string
		v           func() verify.Verifier
		want        outcome
		wantSigners []string
	}{
		{"any: first passes", func() verify.Verifier { return verify.AnyOf(pass("a", "k1"), bad("b")) }, ok, []string{"key:k1"}},
		{"any: second passes", func() verify.Verifier { return verify.AnyOf(bad("a"), pass("b", "k2")) }, ok, []string{"key:k2"}},
		{"any: all empty", func() verify.Verifier { return verify.AnyOf(none("a"), none("b")) }, noSigs, nil},
		{"any: empty and invalid", func() verify.Verifier { return verify.AnyOf(none("a"), bad("b")) }, failed, nil},
		{"any: registry error and empty", func() verify.Verifier { return verify.AnyOf(none("a"), broken("b", errRegistry)) }, failed, nil},
		{"any: no verifiers", func() verify.Verifier { return verify.AnyOf() }, invalidPolicy, nil},
		{"any: nil verifier", func() verify.Verifier { return verify.AnyOf(pass("a", "k"), nil) }, invalidPolicy, nil},
		{"any: success without signatures is not a pass", func() verify.Verifier { return verify.AnyOf(&fake{name: "liar"}) }, failed, nil},
		{"all: both pass", func() verify.Verifier { return verify.AllOf(pass("a", "k1"), pass("b", "k2")) }, ok, []string{"key:k1", "key:k2"}},
		{"all: one invalid", func() verify.Verifier { return verify.AllOf(pass("a", "k1"), bad("b")) }, failed, nil},
		{"all: one empty", func() verify.Verifier { return verify.AllOf(pass("a", "k1"), none("b")) }, noSigs, nil},
		{"all: registry error", func() verify.Verifier { return verify.AllOf(pass("a", "k1"), broken("b", errRegistry)) }, other, nil},
		{"all: no verifiers", func() verify.Verifier { return verify.AllOf() }, invalidPolicy, nil},
		{"threshold 2 of 3", func() verify.Verifier {
			return verify.Threshold(2, pass("a", "k1"), bad("b"), pass("c", "k3"))
		}, ok, []string{"key:k1", "key:k3"}},
		{"threshold 2 of 3, one passes", func() verify.Verifier {
			return verify.Threshold(2, pass("a", "k1"), bad("b"), none("c"))
		}, failed, nil},
		{"threshold 2 of 3, all empty", func() verify.Verifier {
			return verify.Threshold(2, none("a"), none("b"), none("c"))
		}, noSigs, nil},
		{"threshold counts one signer once", func() verify.Verifier {
			return verify.Threshold(2, pass("a", "k1"), pass("a-again", "k1"))
		}, failed, nil},
		{"threshold counts one verifier listed twice once", func() verify.Verifier {
			v := pass("a", "k1")
			return verify.Threshold(2, v, v)
		}, failed, nil},
		{"threshold keyless identities are signers", func() verify.Verifier {
			id := func(name, sub string) *fake {
				return &fake{name: name, sigs: []verify.Signature{{Format: verify.FormatBundle, Issuer: "https://issuer", Subject: sub}}}
			}
			return verify.Threshold(2, id("alice", "alice@example.com"), id("bob", "bob@example.com"))
		}, ok, []string{"identity:https://issuer alice@example.com", "identity:https://issuer bob@example.com"}},
		{"threshold 0", func() verify.Verifier { return verify.Threshold(0, pass("a", "k1")) }, invalidPolicy, nil},
		{"threshold above count", func() verify.Verifier { return verify.Threshold(3, pass("a", "k1"), pass("b", "k2")) }, invalidPolicy, nil},
		{"nested", func() verify.Verifier {
			return verify.AllOf(verify.AnyOf(bad("a"), pass("b", "k2")), verify.Threshold(1, none("c"), pass("d", "k4")))
		}, ok, []string{"key:k2", "key:k4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.v().Verify(context.Background(), pinned)
			if got := classify(t, res, err); got != tt.want {
				t.Fatalf("outcome = %d, want %d (err: %v)", got, tt.want, err)
			}
			if tt.want != ok {
				if err.Error() == "" || !strings.Contains(err.Error(), "org/app") && tt.want != other {
					t.Errorf("error %q does not name the reference", err)
				}
				return
			}
			var signers []string
			for _, s := range res.Signatures {
				signers = append(signers, s.Signer())
				if s.Verifier == "" {
					t.Errorf("signature %+v not attributed to a verifier", s)
				}
			}
			if diff := cmp.Diff(tt.wantSigners, signers); diff != "" {
				t.Errorf("signers (-want +got):\n%s", diff)
			}
			if res.Ref != pinned {
				t.Errorf("Result.Ref = %v, want %v", res.Ref, pinned)
			}
		})
	}
}

func TestShortCircuit(t *testing.T) {
	ctx := context.Background()
	t.Run("any stops at first success", func(t *testing.T) {
		a, b := pass("a", "k1"), pass("b", "k2")
		if _, err := verify.AnyOf(a, b).Verify(ctx, pinned); err != nil {
			t.Fatal(err)
		}
		if got := b.calls.Load(); got != 0 {
			t.Errorf("second verifier called %d times, want 0", got)
		}
	})
	t.Run("all stops at first failure", func(t *testing.T) {
		a, b := bad("a"), pass("b", "k2")
		if _, err := verify.AllOf(a, b).Verify(ctx, pinned); err == nil {
			t.Fatal("AllOf passed with a failing verifier")
		}
		if got := b.calls.Load(); got != 0 {
			t.Errorf("second verifier called %d times, want 0", got)
		}
	})
	t.Run("threshold stops when met", func(t *testing.T) {
		a, b, c := pass("a", "k1"), pass("b", "k2"), pass("c", "k3")
		if _, err := verify.Threshold(2, a, b, c).Verify(ctx, pinned); err != nil {
			t.Fatal(err)
		}
		if got := c.calls.Load(); got != 0 {
			t.Errorf("third verifier called %d times, want 0", got)
		}
	})
	t.Run("threshold stops when out of reach", func(t *testing.T) {
		a, b, c := bad("a"), bad("b"), pass("c", "k3")
		if _, err := verify.Threshold(2, a, b, c).Verify(ctx, pinned); err == nil {
			t.Fatal("threshold met by one signer")
		}
		if got := c.calls.Load(); got != 0 {
			t.Errorf("third verifier called %d times, want 0", got)
		}
	})
}

func TestContextCancel(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	ctxAware := verify.VerifierFunc(func(ctx context.Context, ref oci.Reference) (*verify.Result, error) {
		return nil, fmt.Errorf("fetching: %w", ctx.Err())
	})
	for name, v := range map[string]verify.Verifier{
		"any":       verify.AnyOf(ctxAware, pass("b", "k")),
		"all":       verify.AllOf(ctxAware, pass("b", "k")),
		"threshold": verify.Threshold(1, ctxAware, pass("b", "k")),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(cancelled, pinned)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			var ve *verify.VerificationError
			if errors.As(err, &ve) || errors.Is(err, verify.ErrNoSignatures) {
				t.Fatalf("cancellation reported as a verification outcome: %v", err)
			}
		})
	}
	// A verifier that ignores ctx still must not turn cancellation into a
	// verification failure.
	t.Run("ignoring verifier", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		first := verify.VerifierFunc(func(context.Context, oci.Reference) (*verify.Result, error) {
			cancel()
			return nil, &verify.VerificationError{Ref: pinned}
		})
		second := pass("b", "k")
		_, err := verify.AnyOf(first, second).Verify(ctx, pinned)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if second.calls.Load() != 0 {
			t.Error("verifier ran after cancellation")
		}
	})
}

func TestNotPinned(t *testing.T) {
	tag := pinned.WithTag("v1")
	for name, v := range map[string]verify.Verifier{
		"any":       verify.AnyOf(pass("a", "k")),
		"all":       verify.AllOf(pass("a", "k")),
		"threshold": verify.Threshold(1, pass("a", "k")),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := v.Verify(context.Background(), tag); !errors.Is(err, verify.ErrNotPinned) {
				t.Fatalf("err = %v, want ErrNotPinned", err)
			}
		})
	}
	bad := pinned
	bad.Digest = "sha256:../../etc"
	if err := verify.RequirePinned(bad); !errors.Is(err, oci.ErrInvalidDigest) {
		t.Fatalf("RequirePinned(%v) = %v, want ErrInvalidDigest", bad, err)
	}
}

func TestVerificationErrorUnwrap(t *testing.T) {
	cause := fmt.Errorf("signature attachment: %w", oci.ErrTooLarge)
	err := error(&verify.VerificationError{Ref: pinned, Failures: []verify.Failure{
		{Verifier: "cosign", Candidate: "legacy sha256-x.sig layer 0", Err: cause},
		{Verifier: "cosign", Candidate: "legacy sha256-x.sig layer 1", Err: errors.New("bad signature")},
	}})
	if !errors.Is(err, oci.ErrTooLarge) {
		t.Error("errors.Is does not reach a failure's cause")
	}
	if !errors.Is(err, verify.ErrVerificationFailed) {
		t.Error("VerificationError does not match ErrVerificationFailed")
	}
	for _, want := range []string{"org/app", "layer 0", "layer 1", "bad signature", "2 candidates"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	// A failure that says "no signatures" inside a combined error must not
	// make the whole error read as "nothing to check".
	combined, err2 := verify.AnyOf(none("a"), bad("b")).Verify(context.Background(), pinned)
	if combined != nil || errors.Is(err2, verify.ErrNoSignatures) {
		t.Fatalf("combined error matches ErrNoSignatures: %v", err2)
	}
	if !strings.Contains(err2.Error(), "no signatures") {
		t.Errorf("combined error %q lost the empty verifier's reason", err2)
	}
}

func TestFormatString(t *testing.T) {
	got := []string{verify.FormatAny.String(), verify.FormatLegacy.String(), verify.FormatBundle.String(), verify.Format(9).String()}
	want := []string{"any", "legacy", "bundle", "Format(9)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestNoSigstoreImport keeps this package free of Sigstore and cosign code,
// as the design requires.
func TestNoSigstoreImport(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/ocisource/ocisource/verify").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "sigstore") || strings.Contains(dep, "cosign") {
			t.Errorf("verify depends on %s", dep)
		}
	}
}
