// Package verify defines how ocisource proves that an artifact is authentic:
// the [Verifier] interface, the [Result] of a successful verification, the
// errors a failed one returns, and policy combinators ([AnyOf], [AllOf],
// [Threshold]) that compose verifiers into a [Policy].
//
// A Verifier always works on a digest-pinned reference: the caller resolves a
// tag once, verifies that digest, and downloads that digest. Verifying a tag
// would let the registry swap content between the check and the download.
//
// Three failures are kept apart on purpose. [ErrNoSignatures] means there was
// nothing to check (the artifact is unsigned, or carries no signature in the
// required format); a [*VerificationError] means signatures were present and
// none of them was acceptable, and lists why each candidate failed; and
// [ErrUnavailable] means the signatures could not be read from the registry
// (network error, 5xx, 401/403, timeout), so there is no verdict yet and the
// caller should retry. The first two are verdicts about the artifact; the
// third is a fetch failure.
//
// The combinators check their configuration when they are built: AnyOf()
// with no verifiers, Threshold(3, a, b), Threshold(0, a) or a nil verifier
// are errors wrapping [ErrInvalidPolicy] from the constructor, never a
// verification failure later.
//
// # Registry clients
//
// A verifier that reads signatures from a registry must read them with the
// same client, and so the same credentials, TLS settings, limits and request
// accounting, as the artifact it verifies. Such verifiers implement
// [ClientBinder]; a caller that fetches artifacts (the root package's
// Fetcher) calls [BindClient] with its own client before verifying, and gets
// a copy bound to that client, through every combinator. A verifier
// configured with a client of its own keeps it. Binding never changes what a
// verifier accepts, so its [Fingerprinter] fingerprint stays the same.
//
// This package imports no Sigstore code; implementations live in
// sub-packages such as verify/cosign.
package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ocisource/ocisource/oci"
)

// Sentinel errors. Errors returned by verifiers in this module wrap one of
// them (or the context's error when the context ended), so callers can branch
// with [errors.Is].
var (
	// ErrNoSignatures reports that the artifact carries no signature that the
	// verifier could consider: nothing to check. It is never returned when at
	// least one candidate signature was found and rejected.
	ErrNoSignatures = errors.New("no signatures found")
	// ErrVerificationFailed reports that signatures were found but none was
	// acceptable. [*VerificationError] matches it with errors.Is.
	ErrVerificationFailed = errors.New("signature verification failed")
	// ErrNotPinned reports a reference without a digest. Verifiers refuse
	// tags: resolve the tag to a digest once and verify that digest.
	ErrNotPinned = errors.New("reference is not pinned to a digest")
	// ErrInvalidPolicy reports a combinator that cannot be satisfied as
	// written, such as AnyOf() with no verifiers or Threshold(3, a, b). The
	// combinators return it when they are built.
	ErrInvalidPolicy = errors.New("invalid verification policy")
	// ErrUnavailable reports that what verification needs could not be
	// read: the signatures, from the registry (network error, 5xx, 401/403,
	// timeout), or a trusted root fetched over the network. It is not a
	// verdict about the artifact: retry. Errors wrapping it also wrap the
	// underlying cause, such as an [*oci.Error], and never match
	// [ErrNoSignatures] or [ErrVerificationFailed].
	ErrUnavailable = errors.New("signatures could not be read; retry")
)

// Verifier proves the authenticity of the artifact a digest-pinned reference
// names. Verify returns a non-nil [*Result] listing the signatures it accepted,
// or an error: one wrapping [ErrNotPinned] when ref has no digest, one
// wrapping [ErrNoSignatures] when there was nothing to check, a
// [*VerificationError] when signatures were found and none was acceptable,
// one wrapping [ErrUnavailable] (and the registry's error) when the
// signatures could not be read, the context's error when ctx ended, or
// another error that says what could not be checked.
type Verifier interface {
	Verify(ctx context.Context, ref oci.Reference) (*Result, error)
}

// Named is an optional extension of [Verifier]: a short human-readable name
// ("cosign keyed", "release team keyless") that combinators use in results and
// error messages.
type Named interface {
	Name() string
}

// VerifierFunc adapts a function to the [Verifier] interface.
type VerifierFunc func(ctx context.Context, ref oci.Reference) (*Result, error)

// Verify calls f(ctx, ref).
func (f VerifierFunc) Verify(ctx context.Context, ref oci.Reference) (*Result, error) {
	return f(ctx, ref)
}

// Format is a signature storage format.
type Format uint8

// Signature formats.
const (
	// FormatAny accepts either format. It is only used to state a
	// requirement; a verified [Signature] always has a concrete format.
	FormatAny Format = iota
	// FormatLegacy is cosign's tag-based format: an image manifest tagged
	// "sha256-<hex>.sig" whose layers are simple-signing payloads with the
	// signature and its material in annotations.
	FormatLegacy
	// FormatBundle is a Sigstore bundle (application/vnd.dev.sigstore.bundle.v0.3+json)
	// attached to the artifact as an OCI referrer.
	FormatBundle
	// FormatNotation is a Notary Project signature: a JWS or COSE envelope
	// attached to the artifact as an OCI referrer of artifact type
	// application/vnd.cncf.notary.signature.
	FormatNotation
)

// String returns "any", "legacy", "bundle" or "notation".
func (f Format) String() string {
	switch f {
	case FormatAny:
		return "any"
	case FormatLegacy:
		return "legacy"
	case FormatBundle:
		return "bundle"
	case FormatNotation:
		return "notation"
	default:
		return fmt.Sprintf("Format(%d)", uint8(f))
	}
}

// MarshalText encodes the format as "any", "legacy", "bundle" or "notation".
func (f Format) MarshalText() ([]byte, error) {
	switch f {
	case FormatAny, FormatLegacy, FormatBundle, FormatNotation:
		return []byte(f.String()), nil
	}
	return nil, fmt.Errorf("verify: unknown format %d", uint8(f))
}

// UnmarshalText decodes "any", "legacy", "bundle" or "notation".
func (f *Format) UnmarshalText(b []byte) error {
	for _, c := range []Format{FormatAny, FormatLegacy, FormatBundle, FormatNotation} {
		if string(b) == c.String() {
			*f = c
			return nil
		}
	}
	return fmt.Errorf("verify: unknown format %q", b)
}

// Result is the outcome of a successful verification.
type Result struct {
	// Ref is the digest-pinned reference that was verified.
	Ref oci.Reference `json:"ref"`
	// Signatures lists each signature that was accepted, at least one.
	Signatures []Signature `json:"signatures"`
}

// Signature describes one accepted signature.
type Signature struct {
	// Verifier names the verifier that accepted it (see [Named]).
	Verifier string `json:"verifier,omitempty"`
	// Format is the storage format: [FormatLegacy], [FormatBundle] or
	// [FormatNotation].
	Format Format `json:"format"`
	// Candidate says where the signature was found, e.g.
	// "legacy sha256-<hex>.sig layer 0" or "bundle sha256:<hex>".
	Candidate string `json:"candidate,omitempty"`
	// KeyID identifies the public key for keyed signatures: the lowercase hex
	// sha256 of the key's DER SubjectPublicKeyInfo. Empty for keyless ones.
	KeyID string `json:"keyID,omitempty"`
	// Issuer is the OIDC issuer in the signing certificate (keyless), the
	// issuer's distinguished name of the signing certificate (notation), or
	// "".
	Issuer string `json:"issuer,omitempty"`
	// Subject is the identity (subject alternative name) in the signing
	// certificate (keyless), the subject's distinguished name of the
	// signing certificate (notation, e.g. "CN=release,O=Acme,C=US"), or "".
	Subject string `json:"subject,omitempty"`
	// Tlog is the verified transparency-log entry, or nil when the signature
	// was accepted without one.
	Tlog *TlogEntry `json:"tlog,omitempty"`
	// Statement is the verified in-toto statement when the signature is an
	// attestation (its subject names the verified digest and its predicate
	// passed the verifier's policy), or nil for a plain signature.
	Statement *Statement `json:"statement,omitempty"`
	// Policy names the policy statement that accepted the signature, for
	// verifiers configured with several (notation: the trust policy
	// statement's name), or "".
	Policy string `json:"policy,omitempty"`
	// Level is the verification level that accepted the signature, for
	// verifiers that have levels (notation: "strict", "permissive",
	// "audit" or "skip"), or "".
	Level string `json:"level,omitempty"`
}

// Statement is a verified in-toto statement (https://in-toto.io/Statement/v1
// or v0.1), as an attestation verifier returns it: plain values, so that
// this package needs no in-toto library.
type Statement struct {
	// Type is the statement's _type, e.g. "https://in-toto.io/Statement/v1".
	Type string `json:"_type"`
	// PredicateType is the statement's predicate type, e.g.
	// "https://slsa.dev/provenance/v1".
	PredicateType string `json:"predicateType"`
	// Subject lists the artifacts the statement is about; one of them is the
	// verified digest.
	Subject []Subject `json:"subject"`
	// Predicate is the predicate's JSON, as signed.
	Predicate json.RawMessage `json:"predicate,omitempty"`
}

// Subject is one artifact an in-toto statement is about.
type Subject struct {
	// Name is the subject's name, often an image repository, or "".
	Name string `json:"name,omitempty"`
	// Digest maps algorithm names ("sha256") to lowercase hex digests.
	Digest map[string]string `json:"digest"`
}

// Statements returns the in-toto statements of the accepted attestations
// in r, in the order of r.Signatures; it is empty when r holds plain
// signatures only.
func (r *Result) Statements() []Statement {
	var out []Statement
	for _, s := range r.Signatures {
		if s.Statement != nil {
			out = append(out, *s.Statement)
		}
	}
	return out
}

// Signer returns a string that identifies who made the signature: "key:" and
// the key id for keyed signatures, "identity:" with issuer and subject for
// keyless ones. [Threshold] counts distinct signers.
func (s Signature) Signer() string {
	if s.KeyID != "" {
		return "key:" + s.KeyID
	}
	return "identity:" + s.Issuer + " " + s.Subject
}

// TlogEntry is a verified transparency-log (Rekor) entry.
type TlogEntry struct {
	// LogIndex is the entry's index in the log.
	LogIndex int64 `json:"logIndex"`
	// IntegratedTime is when the log says it recorded the entry.
	IntegratedTime time.Time `json:"integratedTime"`
	// LogID is the lowercase hex id of the log (sha256 of its public key).
	LogID string `json:"logID,omitempty"`
}

// Failure is why one candidate signature (or one verifier) was rejected.
type Failure struct {
	// Verifier names the verifier that rejected it, or "".
	Verifier string
	// Candidate says which signature was rejected, e.g.
	// "legacy sha256-<hex>.sig layer 2" or "bundle sha256:<hex>"; "" when the
	// failure concerns the verifier as a whole.
	Candidate string
	// Err is the reason.
	Err error
}

// String formats the failure as "verifier: candidate: reason".
func (f Failure) String() string {
	var b strings.Builder
	if f.Verifier != "" {
		b.WriteString(f.Verifier)
		b.WriteString(": ")
	}
	if f.Candidate != "" {
		b.WriteString(f.Candidate)
		b.WriteString(": ")
	}
	if f.Err != nil {
		b.WriteString(f.Err.Error())
	} else {
		b.WriteString("rejected")
	}
	return b.String()
}

// VerificationError reports that signatures were found for Ref and none was
// acceptable. It matches [ErrVerificationFailed] with errors.Is, and unwraps
// to the errors of its failures, so errors.Is can also find their causes
// (e.g. oci.ErrTooLarge). It never unwraps to [ErrNoSignatures].
type VerificationError struct {
	// Ref is the reference that failed verification.
	Ref oci.Reference
	// Reason is an optional summary, e.g. "1 of 2 required signers verified".
	Reason string
	// Failures lists why each candidate was rejected.
	Failures []Failure
}

// Error lists the reference and each failure.
func (e *VerificationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v for %s", ErrVerificationFailed, e.Ref)
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	switch len(e.Failures) {
	case 0:
	case 1:
		b.WriteString(": ")
		b.WriteString(e.Failures[0].String())
	default:
		fmt.Fprintf(&b, ": %d candidates rejected", len(e.Failures))
		for _, f := range e.Failures {
			b.WriteString("; ")
			b.WriteString(f.String())
		}
	}
	return b.String()
}

// Is reports whether target is [ErrVerificationFailed].
func (e *VerificationError) Is(target error) bool { return target == ErrVerificationFailed }

// Unwrap returns the errors of the failures.
func (e *VerificationError) Unwrap() []error {
	errs := make([]error, 0, len(e.Failures))
	for _, f := range e.Failures {
		if f.Err != nil {
			errs = append(errs, f.Err)
		}
	}
	return errs
}

// RequirePinned returns nil when ref carries a well-formed digest, and an
// error wrapping [ErrNotPinned] (or [oci.ErrInvalidDigest]) otherwise.
// Verifier implementations call it first.
func RequirePinned(ref oci.Reference) error {
	if ref.Digest == "" {
		return fmt.Errorf("verify %s: %w: resolve the tag once and verify the digest", ref, ErrNotPinned)
	}
	if err := ref.Digest.Validate(); err != nil {
		return fmt.Errorf("verify %s: %w", ref, err)
	}
	return nil
}

// NoSignatures returns an error wrapping [ErrNoSignatures] that names ref and
// says where the verifier looked.
func NoSignatures(ref oci.Reference, where string) error {
	if where == "" {
		return fmt.Errorf("verify %s: %w", ref, ErrNoSignatures)
	}
	return fmt.Errorf("verify %s: %w (looked for %s)", ref, ErrNoSignatures, where)
}

// Unavailable returns an error wrapping [ErrUnavailable] and err that names
// ref: the signatures of ref could not be read, err says why. Verifier
// implementations return it for failures that [IsUnavailable] recognises.
func Unavailable(ref oci.Reference, err error) error {
	if errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("verify %s: %w", ref, err)
	}
	return fmt.Errorf("verify %s: %w: %w", ref, ErrUnavailable, err)
}

// IsUnavailable reports whether err means that something verification needs
// could not be read, rather than being an answer about the artifact: it wraps
// [ErrUnavailable], or it comes from an [oci.Client] that could not reach or
// read from the registry (an [*oci.Error], [oci.ErrRegistry] or
// [oci.ErrUnauthorized]: network errors, 5xx, 401/403, timeouts, credentials
// that cannot be sent). Answers the registry gave about what it holds are
// not failures to read: not found ([oci.ErrNotFound]), and content refused by
// a check ([oci.ErrDigestMismatch], [oci.ErrSizeMismatch], [oci.ErrTooLarge],
// [oci.ErrTooManyPages], [oci.ErrInvalidDigest], [oci.ErrInvalidDescriptor],
// [oci.ErrInvalidReference]).
// Verdicts ([ErrNoSignatures], [ErrVerificationFailed]) are never
// unavailable, whatever they wrap.
func IsUnavailable(err error) bool {
	if err == nil || errors.Is(err, ErrNoSignatures) || errors.Is(err, ErrVerificationFailed) {
		return false
	}
	if errors.Is(err, ErrUnavailable) {
		return true
	}
	var oe *oci.Error
	if !errors.As(err, &oe) && !errors.Is(err, oci.ErrRegistry) && !errors.Is(err, oci.ErrUnauthorized) {
		return false
	}
	for _, answer := range []error{oci.ErrNotFound, oci.ErrDigestMismatch, oci.ErrSizeMismatch, oci.ErrTooLarge,
		oci.ErrTooManyPages, oci.ErrInvalidDigest, oci.ErrInvalidDescriptor, oci.ErrInvalidReference} {
		if errors.Is(err, answer) {
			return false
		}
	}
	return true
}
