package verify

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/ocisource/ocisource/oci"
)

// Policy is a [Verifier] composed of other verifiers by [AnyOf], [AllOf] or
// [Threshold]. Its configuration is checked when it is built and cannot
// change afterwards, so a Policy that exists can be satisfied as written.
// It is safe for concurrent use when its verifiers are.
//
// A Policy decides only when its verifiers do: when none of the verifiers it
// consulted gives it enough to accept, and one of them could not read the
// registry (its error wraps [ErrUnavailable]), the outcome is unknown and the
// error wraps ErrUnavailable too, never [ErrVerificationFailed] or
// [ErrNoSignatures]. The same holds for a verifier that failed in any other
// way than with a verdict: its error is returned, not filed as a rejection.
//
// The zero Policy is not usable: its Verify fails with [ErrInvalidPolicy].
type Policy struct {
	kind policyKind
	n    int // threshold: distinct signers required
	vs   []Verifier
}

type policyKind uint8

const (
	policyInvalid policyKind = iota
	policyAny
	policyAll
	policyThreshold
)

var (
	_ Verifier      = (*Policy)(nil)
	_ Named         = (*Policy)(nil)
	_ Fingerprinter = (*Policy)(nil)
	_ ClientBinder  = (*Policy)(nil)
)

// AnyOf returns a Policy that accepts the artifact when at least one of vs
// does. The verifiers run in order and the first success wins (later ones are
// not consulted, which saves registry requests). When none accepts, the error
// wraps [ErrNoSignatures] if none of them found anything to check, wraps
// [ErrUnavailable] if one of them could not read the registry, and is a
// [*VerificationError] listing every failure otherwise.
//
// AnyOf fails with an error wrapping [ErrInvalidPolicy] when vs is empty or
// holds a nil verifier.
func AnyOf(vs ...Verifier) (*Policy, error) {
	if err := checkVerifiers("AnyOf", vs); err != nil {
		return nil, err
	}
	return &Policy{kind: policyAny, vs: clone(vs)}, nil
}

// AllOf returns a Policy that accepts the artifact only when every one of vs
// does; its Result merges theirs. It stops at the first verifier that rejects
// the artifact or finds nothing to check, and returns that failure, naming
// the verifier. A verifier that could not read the registry does not stop
// it: the others still run, so that a definite rejection by one of them is
// reported as such; when none rejects, the error wraps [ErrUnavailable].
//
// AllOf fails with an error wrapping [ErrInvalidPolicy] when vs is empty or
// holds a nil verifier.
func AllOf(vs ...Verifier) (*Policy, error) {
	if err := checkVerifiers("AllOf", vs); err != nil {
		return nil, err
	}
	return &Policy{kind: policyAll, vs: clone(vs)}, nil
}

// Threshold returns a Policy that accepts the artifact when at least n of vs
// accept it with n distinct signers (see [Signature.Signer]): two verifiers
// that accept only the same key or identity count once, so a policy cannot be
// met by listing one signer twice. Verifiers run in order until n signers are
// counted or n can no longer be reached, even if every verifier that could not
// read the registry had accepted; when it is that reading that decides, the
// error wraps [ErrUnavailable].
//
// Threshold fails with an error wrapping [ErrInvalidPolicy] when n is not
// between 1 and len(vs), when vs holds a nil verifier, or when it lists the
// same verifier twice.
func Threshold(n int, vs ...Verifier) (*Policy, error) {
	op := fmt.Sprintf("Threshold(%d)", n)
	if err := checkVerifiers(op, vs); err != nil {
		return nil, err
	}
	if n < 1 || n > len(vs) {
		return nil, fmt.Errorf("verify: %s: %w: %d distinct signers required of %d verifiers; n must be between 1 and the number of verifiers", op, ErrInvalidPolicy, n, len(vs))
	}
	for i := range vs {
		for j := range i {
			if sameVerifier(vs[i], vs[j]) {
				return nil, fmt.Errorf("verify: %s: %w: verifier %d is verifier %d listed again; each must be a different verifier", op, ErrInvalidPolicy, i+1, j+1)
			}
		}
	}
	return &Policy{kind: policyThreshold, n: n, vs: clone(vs)}, nil
}

// checkVerifiers refuses an empty list and nil verifiers, including typed
// nils (a nil *cosign.Verifier from an ignored constructor error).
func checkVerifiers(op string, vs []Verifier) error {
	if len(vs) == 0 {
		return fmt.Errorf("verify: %s: %w: no verifiers", op, ErrInvalidPolicy)
	}
	for i, v := range vs {
		if isNil(v) {
			return fmt.Errorf("verify: %s: %w: verifier %d is nil", op, ErrInvalidPolicy, i+1)
		}
	}
	return nil
}

func isNil(v Verifier) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Slice, reflect.Chan, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// sameVerifier reports whether a and b are the same comparable value (the
// same pointer, typically). Values of types that cannot be compared, such as
// VerifierFunc, are never the same.
func sameVerifier(a, b Verifier) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta == tb && ta.Comparable() && a == b
}

func clone(vs []Verifier) []Verifier { return append([]Verifier(nil), vs...) }

// Name implements [Named]: "any of 2 verifiers", "all of 2 verifiers",
// "2 of 3 verifiers".
func (p *Policy) Name() string {
	switch p.kind {
	case policyAny:
		return fmt.Sprintf("any of %d verifiers", len(p.vs))
	case policyAll:
		return fmt.Sprintf("all of %d verifiers", len(p.vs))
	case policyThreshold:
		return fmt.Sprintf("%d of %d verifiers", p.n, len(p.vs))
	default:
		return "invalid policy"
	}
}

// Verify applies the policy to the artifact ref names; ref must carry a
// digest. See [AnyOf], [AllOf] and [Threshold] for what each accepts.
func (p *Policy) Verify(ctx context.Context, ref oci.Reference) (*Result, error) {
	if err := RequirePinned(ref); err != nil {
		return nil, err
	}
	switch p.kind {
	case policyAny:
		return p.verifyAny(ctx, ref)
	case policyAll:
		return p.verifyAll(ctx, ref)
	case policyThreshold:
		return p.verifyThreshold(ctx, ref)
	default:
		return nil, fmt.Errorf("verify %s: %w: the Policy was not built by AnyOf, AllOf or Threshold", ref, ErrInvalidPolicy)
	}
}

// outcome is how one verifier answered.
type outcome uint8

const (
	accepted    outcome = iota
	empty               // ErrNoSignatures: a verdict
	rejected            // a VerificationError: a verdict
	unavailable         // could not read the registry: no verdict
	undecided           // failed otherwise: no verdict
)

// answer is one verifier's answer, classified.
type answer struct {
	name    string
	res     *Result
	err     error
	outcome outcome
}

// ask runs v and classifies its answer. It returns a non-nil error only when
// ctx ended, which ends the whole policy.
func ask(ctx context.Context, v Verifier, ref oci.Reference, i int) (answer, error) {
	if err := ctx.Err(); err != nil {
		return answer{}, err
	}
	a := answer{name: nameOf(v, i)}
	a.res, a.err = run(ctx, v, ref, a.name)
	if a.err == nil {
		return a, nil
	}
	if cerr := contextErr(ctx, a.err); cerr != nil {
		return answer{}, cerr
	}
	var ve *VerificationError
	switch {
	case IsUnavailable(a.err):
		a.outcome = unavailable
		if !errors.Is(a.err, ErrUnavailable) {
			// A verifier that returned the registry's error as is.
			a.err = fmt.Errorf("%w: %w", ErrUnavailable, a.err)
		}
	case errors.Is(a.err, ErrNoSignatures):
		a.outcome = empty
	case errors.As(a.err, &ve), errors.Is(a.err, ErrVerificationFailed):
		a.outcome = rejected
	default:
		a.outcome = undecided
	}
	return a, nil
}

func (p *Policy) verifyAny(ctx context.Context, ref oci.Reference) (*Result, error) {
	var answers []answer
	for i, v := range p.vs {
		a, err := ask(ctx, v, ref, i)
		if err != nil {
			return nil, err
		}
		if a.outcome == accepted {
			return a.res, nil
		}
		answers = append(answers, a)
	}
	if err := undecidedError(ref, "no verifier accepted a signature", answers); err != nil {
		return nil, err
	}
	allEmpty := true
	var failures []Failure
	for _, a := range answers {
		allEmpty = allEmpty && a.outcome == empty
		failures = append(failures, failuresFrom(a.name, a.err)...)
	}
	if allEmpty {
		return nil, fmt.Errorf("verify %s: %w by any of %d verifiers", ref, ErrNoSignatures, len(p.vs))
	}
	return nil, &VerificationError{Ref: ref, Reason: "no verifier accepted a signature", Failures: failures}
}

func (p *Policy) verifyAll(ctx context.Context, ref oci.Reference) (*Result, error) {
	merged := &Result{Ref: ref}
	var pending []answer // verifiers that gave no verdict
	for i, v := range p.vs {
		a, err := ask(ctx, v, ref, i)
		if err != nil {
			return nil, err
		}
		switch a.outcome {
		case accepted:
			merged.Signatures = append(merged.Signatures, a.res.Signatures...)
		case rejected:
			return nil, &VerificationError{
				Ref:      ref,
				Reason:   fmt.Sprintf("%s rejected it (all of %d required)", a.name, len(p.vs)),
				Failures: failuresFrom(a.name, a.err),
			}
		case empty:
			return nil, fmt.Errorf("%s (all of %d required): %w", a.name, len(p.vs), a.err)
		default:
			pending = append(pending, a)
		}
	}
	if err := undecidedError(ref, fmt.Sprintf("all of %d verifiers required", len(p.vs)), pending); err != nil {
		return nil, err
	}
	return merged, nil
}

func (p *Policy) verifyThreshold(ctx context.Context, ref oci.Reference) (*Result, error) {
	merged := &Result{Ref: ref}
	counted := map[string]bool{}
	var answers []answer
	passed, unknown, anyFound := 0, 0, false
	for i, v := range p.vs {
		// Stop when met, or when not even the verifiers that gave no
		// verdict could make up the difference.
		if passed >= p.n || passed+unknown+len(p.vs)-i < p.n {
			break
		}
		a, err := ask(ctx, v, ref, i)
		if err != nil {
			return nil, err
		}
		switch a.outcome {
		case accepted:
			anyFound = true
			newSigner := ""
			for _, s := range a.res.Signatures {
				if !counted[s.Signer()] {
					newSigner = s.Signer()
					break
				}
			}
			if newSigner == "" {
				a.outcome = rejected
				a.err = errors.New("accepted only signers already counted by another verifier")
				answers = append(answers, a)
				continue
			}
			counted[newSigner] = true
			passed++
			merged.Signatures = append(merged.Signatures, a.res.Signatures...)
		case unavailable, undecided:
			unknown++
			answers = append(answers, a)
		case rejected:
			anyFound = true
			answers = append(answers, a)
		default:
			answers = append(answers, a)
		}
	}
	if passed >= p.n {
		return merged, nil
	}
	reason := fmt.Sprintf("%d of %d required distinct signers verified", passed, p.n)
	if passed+unknown >= p.n {
		// The verifiers without a verdict decide.
		return nil, undecidedError(ref, reason, answers)
	}
	if !anyFound && unknown == 0 {
		return nil, fmt.Errorf("verify %s: %w by any of %d verifiers (%d required)", ref, ErrNoSignatures, len(p.vs), p.n)
	}
	var failures []Failure
	for _, a := range answers {
		failures = append(failures, failuresFrom(a.name, a.err)...)
	}
	return nil, &VerificationError{Ref: ref, Reason: reason, Failures: failures}
}

// undecidedError returns nil when every answer is a verdict. Otherwise it
// returns an error that wraps the errors of the verifiers that gave none
// (and so [ErrUnavailable] when one of them could not read the registry),
// and names the verdicts of the others without wrapping them: it never
// matches ErrVerificationFailed or ErrNoSignatures.
func undecidedError(ref oci.Reference, reason string, answers []answer) error {
	var causes []error
	var verdicts []string
	for _, a := range answers {
		switch a.outcome {
		case unavailable, undecided:
			causes = append(causes, fmt.Errorf("%s: %w", a.name, a.err))
		case empty, rejected:
			verdicts = append(verdicts, fmt.Sprintf("%s: %v", a.name, a.err))
		}
	}
	if len(causes) == 0 {
		return nil
	}
	return &policyError{ref: ref, reason: reason, causes: causes, verdicts: verdicts}
}

// policyError reports a policy that could not reach a verdict.
type policyError struct {
	ref      oci.Reference
	reason   string
	causes   []error
	verdicts []string
}

func (e *policyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "verify %s: %s, and ", e.ref, e.reason)
	if len(e.causes) == 1 {
		b.WriteString("1 verifier gave no verdict: ")
	} else {
		fmt.Fprintf(&b, "%d verifiers gave no verdict: ", len(e.causes))
	}
	for i, c := range e.causes {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(c.Error())
	}
	if len(e.verdicts) > 0 {
		b.WriteString("; verdicts of the others: ")
		b.WriteString(strings.Join(e.verdicts, "; "))
	}
	return b.String()
}

func (e *policyError) Unwrap() []error { return e.causes }

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
// error wrapping ErrNoSignatures or ErrUnavailable is flattened to its
// message so that a combined VerificationError matches neither.
func failuresFrom(name string, err error) []Failure {
	flatten := func(err error) error {
		if err != nil && (errors.Is(err, ErrNoSignatures) || errors.Is(err, ErrUnavailable)) {
			return errors.New(err.Error())
		}
		return err
	}
	var ve *VerificationError
	if errors.As(err, &ve) && len(ve.Failures) > 0 {
		out := make([]Failure, len(ve.Failures))
		copy(out, ve.Failures)
		for i := range out {
			if out[i].Verifier == "" {
				out[i].Verifier = name
			}
			out[i].Err = flatten(out[i].Err)
		}
		return out
	}
	return []Failure{{Verifier: name, Err: flatten(err)}}
}

func nameOf(v Verifier, i int) string {
	if n, ok := v.(Named); ok {
		if name := n.Name(); name != "" {
			return name
		}
	}
	return fmt.Sprintf("verifier %d", i+1)
}

// contextErr returns the error to report when ctx has ended (err itself
// when it says so, else ctx.Err()), or nil when ctx is live: then err is an
// ordinary failure, even one caused by a deadline of the verifier's own.
func contextErr(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return ctx.Err()
}
