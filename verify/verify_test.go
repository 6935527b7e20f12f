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
	unavailable
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
	case errors.Is(err, verify.ErrUnavailable):
		if errors.As(err, &ve) || errors.Is(err, verify.ErrVerificationFailed) || errors.Is(err, verify.ErrNoSignatures) {
			t.Fatalf("error is both 'unavailable' and a verdict: %v", err)
		}
		if !verify.IsUnavailable(err) {
			t.Fatalf("IsUnavailable(%v) = false for an error wrapping ErrUnavailable", err)
		}
		return unavailable
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

// must unwraps a combinator's result for tests whose policy is valid.
func must(t *testing.T, p *verify.Policy, err error) *verify.Policy {
	t.Helper()
	if err != nil {
		t.Fatalf("building policy: %v", err)
	}
	return p
}

// mustT is must for a combinator's results passed as they are:
// mustT(t)(verify.AnyOf(a, b)).
func mustT(t *testing.T) func(*verify.Policy, error) *verify.Policy {
	return func(p *verify.Policy, err error) *verify.Policy {
		t.Helper()
		return must(t, p, err)
	}
}

// unreachable is a registry failure as an oci.Client reports it, returned
// by a verifier that does not wrap it in ErrUnavailable itself.
var unreachable = &oci.Error{Op: "manifest", Ref: "registry.example/org/app:sha256-ab.sig", StatusCode: 503,
	Err: fmt.Errorf("%w (HTTP 503)", oci.ErrRegistry)}

func down(name string) *fake {
	return &fake{name: name, err: verify.Unavailable(pinned, unreachable)}
}

func TestCombinators(t *testing.T) {
	errRegistry := fmt.Errorf("fetching signatures: %w", oci.ErrRegistry)
	errBug := errors.New("verifier misconfigured")
	tests := []struct {
		name        string
		v           func() (*verify.Policy, error)
		want        outcome
		wantSigners []string
	}{
		{"any: first passes", func() (*verify.Policy, error) { return verify.AnyOf(pass("a", "k1"), bad("b")) }, ok, []string{"key:k1"}},
		{"any: second passes", func() (*verify.Policy, error) { return verify.AnyOf(bad("a"), pass("b", "k2")) }, ok, []string{"key:k2"}},
		{"any: all empty", func() (*verify.Policy, error) { return verify.AnyOf(none("a"), none("b")) }, noSigs, nil},
		{"any: empty and invalid", func() (*verify.Policy, error) { return verify.AnyOf(none("a"), bad("b")) }, failed, nil},
		{"any: registry error and empty", func() (*verify.Policy, error) { return verify.AnyOf(none("a"), broken("b", errRegistry)) }, unavailable, nil},
		{"any: unavailable and invalid", func() (*verify.Policy, error) { return verify.AnyOf(down("a"), bad("b")) }, unavailable, nil},
		{"any: invalid and unavailable", func() (*verify.Policy, error) { return verify.AnyOf(bad("a"), down("b")) }, unavailable, nil},
		{"any: raw oci error is unavailable", func() (*verify.Policy, error) { return verify.AnyOf(bad("a"), broken("b", unreachable)) }, unavailable, nil},
		{"any: unavailable, then a pass", func() (*verify.Policy, error) { return verify.AnyOf(down("a"), pass("b", "k2")) }, ok, []string{"key:k2"}},
		{"any: other failure is not a verdict", func() (*verify.Policy, error) { return verify.AnyOf(bad("a"), broken("b", errBug)) }, other, nil},
		{"any: success without signatures is not a pass", func() (*verify.Policy, error) { return verify.AnyOf(&fake{name: "liar"}) }, failed, nil},
		{"all: both pass", func() (*verify.Policy, error) { return verify.AllOf(pass("a", "k1"), pass("b", "k2")) }, ok, []string{"key:k1", "key:k2"}},
		{"all: one invalid", func() (*verify.Policy, error) { return verify.AllOf(pass("a", "k1"), bad("b")) }, failed, nil},
		{"all: one empty", func() (*verify.Policy, error) { return verify.AllOf(pass("a", "k1"), none("b")) }, noSigs, nil},
		{"all: registry error", func() (*verify.Policy, error) { return verify.AllOf(pass("a", "k1"), broken("b", errRegistry)) }, unavailable, nil},
		{"all: unavailable, others pass", func() (*verify.Policy, error) { return verify.AllOf(down("a"), pass("b", "k2")) }, unavailable, nil},
		{"all: unavailable, then a rejection", func() (*verify.Policy, error) { return verify.AllOf(down("a"), bad("b")) }, failed, nil},
		{"all: rejection, then unavailable", func() (*verify.Policy, error) { return verify.AllOf(bad("a"), down("b")) }, failed, nil},
		{"all: unavailable, then empty", func() (*verify.Policy, error) { return verify.AllOf(down("a"), none("b")) }, noSigs, nil},
		{"all: other failure is not a verdict", func() (*verify.Policy, error) { return verify.AllOf(pass("a", "k1"), broken("b", errBug)) }, other, nil},
		{"threshold 2 of 3", func() (*verify.Policy, error) {
			return verify.Threshold(2, pass("a", "k1"), bad("b"), pass("c", "k3"))
		}, ok, []string{"key:k1", "key:k3"}},
		{"threshold 2 of 3, one passes", func() (*verify.Policy, error) {
			return verify.Threshold(2, pass("a", "k1"), bad("b"), none("c"))
		}, failed, nil},
		{"threshold 2 of 3, all empty", func() (*verify.Policy, error) {
			return verify.Threshold(2, none("a"), none("b"), none("c"))
		}, noSigs, nil},
		{"threshold 2 of 3, one passes, one unavailable", func() (*verify.Policy, error) {
			return verify.Threshold(2, pass("a", "k1"), down("b"), bad("c"))
		}, unavailable, nil},
		{"threshold 2 of 3, unavailable cannot make up the difference", func() (*verify.Policy, error) {
			return verify.Threshold(2, down("a"), bad("b"), bad("c"))
		}, failed, nil},
		{"threshold 2 of 3, unavailable and empty", func() (*verify.Policy, error) {
			return verify.Threshold(2, down("a"), none("b"), none("c"))
		}, failed, nil},
		{"threshold 1 of 2, unavailable, then a pass", func() (*verify.Policy, error) {
			return verify.Threshold(1, down("a"), pass("b", "k2"))
		}, ok, []string{"key:k2"}},
		{"threshold counts one signer once", func() (*verify.Policy, error) {
			return verify.Threshold(2, pass("a", "k1"), pass("a-again", "k1"))
		}, failed, nil},
		{"threshold keyless identities are signers", func() (*verify.Policy, error) {
			id := func(name, sub string) *fake {
				return &fake{name: name, sigs: []verify.Signature{{Format: verify.FormatBundle, Issuer: "https://issuer", Subject: sub}}}
			}
			return verify.Threshold(2, id("alice", "alice@example.com"), id("bob", "bob@example.com"))
		}, ok, []string{"identity:https://issuer alice@example.com", "identity:https://issuer bob@example.com"}},
		{"nested", func() (*verify.Policy, error) {
			either, err := verify.AnyOf(bad("a"), pass("b", "k2"))
			if err != nil {
				return nil, err
			}
			one, err := verify.Threshold(1, none("c"), pass("d", "k4"))
			if err != nil {
				return nil, err
			}
			return verify.AllOf(either, one)
		}, ok, []string{"key:k2", "key:k4"}},
		{"nested unavailable stays unavailable", func() (*verify.Policy, error) {
			inner, err := verify.AnyOf(down("a"), bad("b"))
			if err != nil {
				return nil, err
			}
			return verify.AnyOf(none("c"), inner)
		}, unavailable, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.v()
			p = must(t, p, err)
			res, err := p.Verify(context.Background(), pinned)
			if got := classify(t, res, err); got != tt.want {
				t.Fatalf("outcome = %d, want %d (err: %v)", got, tt.want, err)
			}
			if tt.want == unavailable {
				var oe *oci.Error
				if !errors.As(err, &oe) && !errors.Is(err, oci.ErrRegistry) {
					t.Errorf("unavailable error %q lost the registry's error", err)
				}
			}
			if tt.want != ok {
				if err.Error() == "" || !strings.Contains(err.Error(), "org/app") {
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

// TestInvalidPolicyAtConstruction checks that a policy that cannot be
// satisfied as written is refused when it is built, not when it verifies.
func TestInvalidPolicyAtConstruction(t *testing.T) {
	a, b := pass("a", "k1"), pass("b", "k2")
	var typedNil *fake
	var nilFunc verify.VerifierFunc
	tests := []struct {
		name string
		v    func() (*verify.Policy, error)
		want string // in the message
	}{
		{"AnyOf()", func() (*verify.Policy, error) { return verify.AnyOf() }, "AnyOf: invalid verification policy: no verifiers"},
		{"AllOf()", func() (*verify.Policy, error) { return verify.AllOf() }, "AllOf: invalid verification policy: no verifiers"},
		{"Threshold(1)", func() (*verify.Policy, error) { return verify.Threshold(1) }, "no verifiers"},
		{"Threshold(0, a)", func() (*verify.Policy, error) { return verify.Threshold(0, a) }, "0 distinct signers required of 1"},
		{"Threshold(-1, a)", func() (*verify.Policy, error) { return verify.Threshold(-1, a) }, "-1 distinct signers"},
		{"Threshold(3, a, b)", func() (*verify.Policy, error) { return verify.Threshold(3, a, b) }, "3 distinct signers required of 2"},
		{"AnyOf(a, nil)", func() (*verify.Policy, error) { return verify.AnyOf(a, nil) }, "verifier 2 is nil"},
		{"AllOf(nil)", func() (*verify.Policy, error) { return verify.AllOf(nil) }, "verifier 1 is nil"},
		{"AnyOf(typed nil)", func() (*verify.Policy, error) { return verify.AnyOf(a, typedNil) }, "verifier 2 is nil"},
		{"AllOf(nil func)", func() (*verify.Policy, error) { return verify.AllOf(nilFunc) }, "verifier 1 is nil"},
		{"Threshold(1, a, nil)", func() (*verify.Policy, error) { return verify.Threshold(1, a, nil) }, "verifier 2 is nil"},
		{"Threshold(2, a, a)", func() (*verify.Policy, error) { return verify.Threshold(2, a, a) }, "verifier 2 is verifier 1 listed again"},
		{"Threshold(1, a, b, a)", func() (*verify.Policy, error) { return verify.Threshold(1, a, b, a) }, "verifier 3 is verifier 1 listed again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.v()
			if !errors.Is(err, verify.ErrInvalidPolicy) {
				t.Fatalf("err = %v, want ErrInvalidPolicy", err)
			}
			if p != nil {
				t.Errorf("policy %v returned with the error", p)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
	if a.calls.Load()+b.calls.Load() != 0 {
		t.Error("a verifier ran while a policy was being built")
	}
	// Functions are not comparable: two of them are never taken for one.
	f := verify.VerifierFunc(func(context.Context, oci.Reference) (*verify.Result, error) { return nil, nil })
	if _, err := verify.Threshold(2, f, f); err != nil {
		t.Errorf("Threshold over two VerifierFuncs: %v", err)
	}
	// A zero Policy refuses to verify rather than panicking or accepting.
	var zero verify.Policy
	if _, err := zero.Verify(context.Background(), pinned); !errors.Is(err, verify.ErrInvalidPolicy) {
		t.Errorf("zero Policy: err = %v, want ErrInvalidPolicy", err)
	}
}

// TestPolicyKeepsItsVerifiers checks that a policy does not share the
// caller's slice: changing it afterwards changes nothing.
func TestPolicyKeepsItsVerifiers(t *testing.T) {
	list := []verify.Verifier{pass("a", "k1")}
	p := mustT(t)(verify.AnyOf(list...))
	list[0] = bad("b")
	if _, err := p.Verify(context.Background(), pinned); err != nil {
		t.Fatalf("policy changed with the caller's slice: %v", err)
	}
}

func TestShortCircuit(t *testing.T) {
	ctx := context.Background()
	t.Run("any stops at first success", func(t *testing.T) {
		a, b := pass("a", "k1"), pass("b", "k2")
		if _, err := mustT(t)(verify.AnyOf(a, b)).Verify(ctx, pinned); err != nil {
			t.Fatal(err)
		}
		if got := b.calls.Load(); got != 0 {
			t.Errorf("second verifier called %d times, want 0", got)
		}
	})
	t.Run("all stops at first failure", func(t *testing.T) {
		a, b := bad("a"), pass("b", "k2")
		if _, err := mustT(t)(verify.AllOf(a, b)).Verify(ctx, pinned); err == nil {
			t.Fatal("AllOf passed with a failing verifier")
		}
		if got := b.calls.Load(); got != 0 {
			t.Errorf("second verifier called %d times, want 0", got)
		}
	})
	t.Run("threshold stops when met", func(t *testing.T) {
		a, b, c := pass("a", "k1"), pass("b", "k2"), pass("c", "k3")
		if _, err := mustT(t)(verify.Threshold(2, a, b, c)).Verify(ctx, pinned); err != nil {
			t.Fatal(err)
		}
		if got := c.calls.Load(); got != 0 {
			t.Errorf("third verifier called %d times, want 0", got)
		}
	})
	t.Run("threshold stops when out of reach", func(t *testing.T) {
		a, b, c := bad("a"), bad("b"), pass("c", "k3")
		if _, err := mustT(t)(verify.Threshold(2, a, b, c)).Verify(ctx, pinned); err == nil {
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
		"any":       mustT(t)(verify.AnyOf(ctxAware, pass("b", "k"))),
		"all":       mustT(t)(verify.AllOf(ctxAware, pass("b", "k"))),
		"threshold": mustT(t)(verify.Threshold(1, ctxAware, pass("b", "k"))),
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
		_, err := mustT(t)(verify.AnyOf(first, second)).Verify(ctx, pinned)
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
		"any":       mustT(t)(verify.AnyOf(pass("a", "k"))),
		"all":       mustT(t)(verify.AllOf(pass("a", "k"))),
		"threshold": mustT(t)(verify.Threshold(1, pass("a", "k"))),
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
	combined, err2 := mustT(t)(verify.AnyOf(none("a"), bad("b"))).Verify(context.Background(), pinned)
	if combined != nil || errors.Is(err2, verify.ErrNoSignatures) {
		t.Fatalf("combined error matches ErrNoSignatures: %v", err2)
	}
	if !strings.Contains(err2.Error(), "no signatures") {
		t.Errorf("combined error %q lost the empty verifier's reason", err2)
	}
}

func TestFormatString(t *testing.T) {
	got := []string{verify.FormatAny.String(), verify.FormatLegacy.String(), verify.FormatBundle.String(), verify.FormatNotation.String(), verify.Format(9).String()}
	want := []string{"any", "legacy", "bundle", "notation", "Format(9)"}
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
