package verify

import (
	"context"
	"errors"
	"fmt"

	"github.com/ocisource/ocisource/oci"
)

// AnyOf returns a Verifier that accepts the artifact when at least one of vs
// does. The verifiers run in order and the first success wins (later ones are
// not consulted, which saves registry requests). When all of them fail, the
// error wraps [ErrNoSignatures] if none of them found anything to check, and is
// a [*VerificationError] listing every failure otherwise. AnyOf() with no
// verifiers fails with [ErrInvalidPolicy].
func AnyOf(vs ...Verifier) Verifier { return &anyOf{vs: vs} }

// AllOf returns a Verifier that accepts the artifact only when every one of vs
// does; its Result merges theirs. It stops at the first failure and returns
// that failure, naming the verifier. AllOf() with no verifiers fails with
// [ErrInvalidPolicy].
func AllOf(vs ...Verifier) Verifier { return &allOf{vs: vs} }

// Threshold returns a Verifier that accepts the artifact when at least n of
// vs accept it with n distinct signers (see [Signature.Signer]): two verifiers
// that accept only the same key or identity count once, so a policy cannot be
// met by listing one signer twice. Verifiers run in order until n signers are
// counted or n can no longer be reached. n must be between 1 and len(vs),
// otherwise Verify fails with [ErrInvalidPolicy].
func Threshold(n int, vs ...Verifier) Verifier { return &threshold{n: n, vs: vs} }

type anyOf struct{ vs []Verifier }

// Name implements [Named].
func (a *anyOf) Name() string { return fmt.Sprintf("any of %d verifiers", len(a.vs)) }

func (a *anyOf) Verify(ctx context.Context, ref oci.Reference) (*Result, error) {
	if err := checkPolicy(ref, a.vs, 1); err != nil {
		return nil, err
	}
	var failures []Failure
	allEmpty := true
	for i, v := range a.vs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name := nameOf(v, i)
		res, err := run(ctx, v, ref, name)
		if err == nil {
			return res, nil
		}
		if cerr := contextErr(ctx, err); cerr != nil {
			return nil, cerr
		}
		if !errors.Is(err, ErrNoSignatures) {
			allEmpty = false
		}
		failures = append(failures, failuresFrom(name, err)...)
	}
	if allEmpty {
		return nil, fmt.Errorf("verify %s: %w by any of %d verifiers", ref, ErrNoSignatures, len(a.vs))
	}
	return nil, &VerificationError{Ref: ref, Reason: "no verifier accepted a signature", Failures: failures}
}

type allOf struct{ vs []Verifier }

// Name implements [Named].
func (a *allOf) Name() string { return fmt.Sprintf("all of %d verifiers", len(a.vs)) }

func (a *allOf) Verify(ctx context.Context, ref oci.Reference) (*Result, error) {
	if err := checkPolicy(ref, a.vs, 1); err != nil {
		return nil, err
	}
	merged := &Result{Ref: ref}
	for i, v := range a.vs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name := nameOf(v, i)
		res, err := run(ctx, v, ref, name)
		if err != nil {
			if cerr := contextErr(ctx, err); cerr != nil {
				return nil, cerr
			}
			var ve *VerificationError
			if errors.As(err, &ve) {
				return nil, &VerificationError{
					Ref:      ref,
					Reason:   fmt.Sprintf("%s rejected it (all of %d required)", name, len(a.vs)),
					Failures: failuresFrom(name, err),
				}
			}
			return nil, fmt.Errorf("%s (all of %d required): %w", name, len(a.vs), err)
		}
		merged.Signatures = append(merged.Signatures, res.Signatures...)
	}
	return merged, nil
}

type threshold struct {
	n  int
	vs []Verifier
}

// Name implements [Named].
func (t *threshold) Name() string { return fmt.Sprintf("%d of %d verifiers", t.n, len(t.vs)) }

func (t *threshold) Verify(ctx context.Context, ref oci.Reference) (*Result, error) {
	if err := checkPolicy(ref, t.vs, t.n); err != nil {
		return nil, err
	}
	merged := &Result{Ref: ref}
	counted := map[string]bool{}
	var failures []Failure
	passed, anyFound := 0, false
	for i, v := range t.vs {
		if passed >= t.n || passed+len(t.vs)-i < t.n {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name := nameOf(v, i)
		res, err := run(ctx, v, ref, name)
		if err != nil {
			if cerr := contextErr(ctx, err); cerr != nil {
				return nil, cerr
			}
			if !errors.Is(err, ErrNoSignatures) {
				anyFound = true
			}
			failures = append(failures, failuresFrom(name, err)...)
			continue
		}
		anyFound = true
		newSigner := ""
		for _, s := range res.Signatures {
			if !counted[s.Signer()] {
				newSigner = s.Signer()
				break
			}
		}
		if newSigner == "" {
			failures = append(failures, Failure{Verifier: name,
				Err: errors.New("accepted only signers already counted by another verifier")})
			continue
		}
		counted[newSigner] = true
		passed++
		merged.Signatures = append(merged.Signatures, res.Signatures...)
	}
	if passed >= t.n {
		return merged, nil
	}
	if !anyFound {
		return nil, fmt.Errorf("verify %s: %w by any of %d verifiers (%d required)", ref, ErrNoSignatures, len(t.vs), t.n)
	}
	return nil, &VerificationError{
		Ref:      ref,
		Reason:   fmt.Sprintf("%d of %d required distinct signers verified", passed, t.n),
		Failures: failures,
	}
}

// checkPolicy validates the reference and the combinator's configuration.
func checkPolicy(ref oci.Reference, vs []Verifier, n int) error {
	if err := RequirePinned(ref); err != nil {
		return err
	}
	if len(vs) == 0 {
		return fmt.Errorf("verify %s: %w: no verifiers", ref, ErrInvalidPolicy)
	}
	if n < 1 || n > len(vs) {
		return fmt.Errorf("verify %s: %w: threshold %d with %d verifiers", ref, ErrInvalidPolicy, n, len(vs))
	}
	for i, v := range vs {
		if v == nil {
			return fmt.Errorf("verify %s: %w: verifier %d is nil", ref, ErrInvalidPolicy, i+1)
		}
	}
	return nil
}

// run calls v and normalises its answer: a success must carry at least one
// signature, and each signature is labelled with the verifier's name.
func run(ctx context.Context, v Verifier, ref oci.Reference, name string) (*Result, error) {
	res, err := v.Verify(ctx, ref)
	if err != nil {
		return nil, err
	}
	if res == nil || len(res.Signatures) == 0 {
		// A verifier that reports success without a signature is broken;
		// never count it as a pass.
		return nil, &VerificationError{Ref: ref, Failures: []Failure{{Verifier: name,
			Err: errors.New("verifier reported success without any signature")}}}
	}
	out := &Result{Ref: ref, Signatures: make([]Signature, len(res.Signatures))}
	copy(out.Signatures, res.Signatures)
	for i := range out.Signatures {
		if out.Signatures[i].Verifier == "" {
			out.Signatures[i].Verifier = name
		}
	}
	return out, nil
}

// failuresFrom turns a verifier's error into failures attributed to it. An
// error wrapping ErrNoSignatures is flattened to its message so that a
// combined VerificationError never matches ErrNoSignatures.
func failuresFrom(name string, err error) []Failure {
	var ve *VerificationError
	if errors.As(err, &ve) && len(ve.Failures) > 0 {
		out := make([]Failure, len(ve.Failures))
		copy(out, ve.Failures)
		for i := range out {
			if out[i].Verifier == "" {
				out[i].Verifier = name
			}
			if out[i].Err != nil && errors.Is(out[i].Err, ErrNoSignatures) {
				out[i].Err = errors.New(out[i].Err.Error())
			}
		}
		return out
	}
	if errors.Is(err, ErrNoSignatures) {
		return []Failure{{Verifier: name, Err: errors.New(err.Error())}}
	}
	return []Failure{{Verifier: name, Err: err}}
}

func nameOf(v Verifier, i int) string {
	if n, ok := v.(Named); ok {
		if name := n.Name(); name != "" {
			return name
		}
	}
	return fmt.Sprintf("verifier %d", i+1)
}

// contextErr returns the error to report when err was caused by ctx ending
// (err itself when it says so, else ctx.Err()), or nil when ctx is live and
// err is an ordinary failure.
func contextErr(ctx context.Context, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return ctx.Err()
}
