package verify_test

import (
	"context"
	"testing"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/verify"
)

func TestFingerprints(t *testing.T) {
	fp := func(s string) verify.Verifier { return fingerprinted{name: s} }
	plain := verify.VerifierFunc(func(context.Context, oci.Reference) (*verify.Result, error) { return nil, nil })
	if got := verify.FingerprintOf(plain); got != "" {
		t.Errorf("plain verifier fingerprint = %q", got)
	}
	a, b := fp("a"), fp("b")
	mk := func(p *verify.Policy, err error) verify.Verifier { return must(t, p, err) }
	distinct := map[string]string{}
	for name, v := range map[string]verify.Verifier{
		"any(a,b)":    mk(verify.AnyOf(a, b)),
		"any(b,a)":    mk(verify.AnyOf(b, a)),
		"all(a,b)":    mk(verify.AllOf(a, b)),
		"1 of (a,b)":  mk(verify.Threshold(1, a, b)),
		"2 of (a,b)":  mk(verify.Threshold(2, a, b)),
		"any(a)":      mk(verify.AnyOf(a)),
		"any(all(a))": mk(verify.AnyOf(mk(verify.AllOf(a)))),
	} {
		got := verify.FingerprintOf(v)
		if got == "" {
			t.Errorf("%s has no fingerprint", name)
		}
		if other, dup := distinct[got]; dup {
			t.Errorf("%s and %s share a fingerprint", name, other)
		}
		distinct[got] = name
	}
	if verify.FingerprintOf(mk(verify.AnyOf(a, b))) != verify.FingerprintOf(mk(verify.AnyOf(fp("a"), fp("b")))) {
		t.Error("equal policies have different fingerprints")
	}
	if got := verify.FingerprintOf(mk(verify.AllOf(a, plain))); got != "" {
		t.Errorf("a combinator over an unfingerprinted verifier has fingerprint %q", got)
	}
	if got := verify.FingerprintOf(&verify.Policy{}); got != "" {
		t.Errorf("the zero Policy has fingerprint %q", got)
	}
}

type fingerprinted struct{ name string }

func (f fingerprinted) Verify(context.Context, oci.Reference) (*verify.Result, error) {
	return nil, nil
}
func (f fingerprinted) Fingerprint() string { return "fp:" + f.name }
