package cosign

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/verify"
)

// Media types and annotations of cosign's legacy attestation format.
const (
	// MediaTypeDSSE is the layer media type of a legacy attestation: a DSSE
	// envelope, as `cosign attest` attaches it.
	MediaTypeDSSE = "application/vnd.dsse.envelope.v1+json"

	annotationPredicateType       = "predicateType"
	annotationBundlePredicateType = "dev.sigstore.bundle.predicateType"

	statementV01 = "https://in-toto.io/Statement/v0.1"
	statementV1  = "https://in-toto.io/Statement/v1"
)

// Errors of attestation verification, reported inside a
// [*verify.VerificationError].
var (
	// ErrWrongPredicateType reports a signed statement whose predicate type
	// is not the one the verifier requires ([WithAttestation]), or a
	// signature offered where an attestation is required. It is reported
	// together with [ErrInvalidSignature].
	ErrWrongPredicateType = errors.New("attestation has another predicate type")
	// ErrPredicateRejected reports a signed statement whose predicate a
	// predicate policy ([WithPredicatePolicy], [WithSLSAPolicy]) refused.
	ErrPredicateRejected = errors.New("attestation predicate rejected by policy")
)

// PredicateFunc decides whether the predicate of a verified in-toto
// statement is acceptable: it returns nil to accept it, or an error that
// says why not. It is called only after the statement's signature, its
// predicate type and its subject have been verified, and must be safe for
// concurrent use.
type PredicateFunc func(predicateType string, predicate json.RawMessage) error

// predicatePolicy is a named PredicateFunc.
type predicatePolicy struct {
	name  string
	check PredicateFunc
}

// WithAttestation turns the verifier into an attestation verifier: instead
// of signatures it verifies in-toto attestations whose predicate type is
// exactly predicateType (e.g. "https://slsa.dev/provenance/v1"), with the
// same keys, trusted root, identities, format and limits a signature
// verifier would use. Attestations are found in cosign's legacy format (the
// image tagged "sha256-<hex>.att", one DSSE envelope per layer, as `cosign
// attest` attaches them) and as Sigstore bundles holding a DSSE envelope,
// attached as OCI referrers (`cosign attest --new-bundle-format`, GitHub's
// attest-build-provenance). An attestation is accepted when its signature
// verifies, its statement's predicate type is predicateType, one of its
// subjects names the pinned digest, and every predicate policy accepts its
// predicate; each accepted one carries its [verify.Statement]. Attachments
// that declare another predicate type (in their unsigned annotations) are
// other attachments, skipped unread; one that declares predicateType but
// signs another is rejected with [ErrWrongPredicateType]. Plain signatures
// never satisfy an attestation verifier, and attestations never satisfy a
// signature verifier. [PredicateTypeCosignSign] is refused: a statement of
// that type is a cosign signature, which a signature verifier checks. The
// predicate type is part of the fingerprint. The default verifies
// signatures; it may be given once.
func WithAttestation(predicateType string) Option {
	return func(o *options) error {
		if predicateType == "" {
			return fmt.Errorf("%w: WithAttestation(\"\"): a predicate type is required", ErrInvalidOption)
		}
		if predicateType == PredicateTypeCosignSign {
			return fmt.Errorf("%w: WithAttestation(%q): statements of that type are cosign signatures: use a verifier without WithAttestation", ErrInvalidOption, predicateType)
		}
		if err := o.claim(settingAttestation, "WithAttestation"); err != nil {
			return err
		}
		o.predicateType = predicateType
		return nil
	}
}

// WithPredicatePolicy adds a predicate policy to an attestation verifier
// ([WithAttestation]): an attestation is accepted only when check returns
// nil for its predicate. name identifies the policy in messages and in the
// verifier's fingerprint, since a function cannot be compared: give a new
// name whenever check changes what it accepts, or a cached verification
// will still answer for the old policy. Policies add up (all must accept);
// their names must differ. The default is no predicate policy: any
// predicate of the required type is accepted.
func WithPredicatePolicy(name string, check PredicateFunc) Option {
	return func(o *options) error {
		if name == "" {
			return fmt.Errorf("%w: WithPredicatePolicy: a name is required (it stands for the policy in the fingerprint)", ErrInvalidOption)
		}
		if check == nil {
			return fmt.Errorf("%w: WithPredicatePolicy(%q, nil)", ErrInvalidOption, name)
		}
		for _, p := range o.predicatePolicies {
			if p.name == name {
				return fmt.Errorf("%w: predicate policy %q given twice", ErrInvalidOption, name)
			}
		}
		o.predicatePolicies = append(o.predicatePolicies, predicatePolicy{name: name, check: check})
		return nil
	}
}

// statementJSON is an in-toto statement as signed.
type statementJSON struct {
	Type          string           `json:"_type"`
	PredicateType string           `json:"predicateType"`
	Subject       []verify.Subject `json:"subject"`
	Predicate     json.RawMessage  `json:"predicate"`
}

// checkStatement parses the payload of a DSSE envelope as an in-toto
// statement and checks, for an attestation verifier, that it has the
// required predicate type, names d, and passes the predicate policies.
func (v *Verifier) checkStatement(payloadType string, payload []byte, d oci.Digest) (*verify.Statement, error) {
	if payloadType != mediaTypeInToto {
		return nil, fmt.Errorf("%w: DSSE payload type %q, want %q", ErrInvalidSignature, payloadType, mediaTypeInToto)
	}
	var st statementJSON
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, fmt.Errorf("%w: DSSE payload is not an in-toto statement: %w", ErrInvalidSignature, err)
	}
	if st.Type != statementV1 && st.Type != statementV01 {
		return nil, fmt.Errorf("%w: statement type %.100q is not an in-toto statement (%s)", ErrInvalidSignature, st.Type, statementV1)
	}
	want := v.wantPredicateType()
	if st.PredicateType != want {
		what := "an attestation of type " + want
		if want == PredicateTypeCosignSign {
			what = "a cosign signature (" + want + ")"
		}
		return nil, fmt.Errorf("%w: %w: statement predicate %.100q is not %s", ErrInvalidSignature, ErrWrongPredicateType, st.PredicateType, what)
	}
	named := false
	for _, s := range st.Subject {
		if s.Digest[d.Algorithm()] == d.Hex() {
			named = true
			break
		}
	}
	if !named {
		return nil, fmt.Errorf("%w: statement subjects do not include %s", ErrWrongArtifact, d)
	}
	if v.opts.predicateType == "" {
		return nil, nil // a signature: no statement to return
	}
	for _, p := range v.opts.predicatePolicies {
		if err := p.check(st.PredicateType, st.Predicate); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrPredicateRejected, p.name, err)
		}
	}
	out := verify.Statement(st)
	return &out, nil
}

// wantPredicateType is the predicate type a DSSE statement must have: the
// attestation's, or cosign's signature predicate.
func (v *Verifier) wantPredicateType() string {
	if v.opts.predicateType != "" {
		return v.opts.predicateType
	}
	return PredicateTypeCosignSign
}

// legacyAttTag is the tag cosign stores the legacy attestations of d under.
func legacyAttTag(d oci.Digest) string { return oci.CosignTag(d, oci.CosignAttestation) }

// dsseEnvelope is a DSSE envelope as cosign stores it in a legacy
// attestation layer.
type dsseEnvelope struct {
	PayloadType string `json:"payloadType"`
	Payload     string `json:"payload"`
	Signatures  []struct {
		KeyID string `json:"keyid"`
		Sig   string `json:"sig"`
	} `json:"signatures"`
}

// VerifyLegacyAttestation verifies one attestation in cosign's legacy
// format for the artifact with digest d: envelope is the layer's content (a
// DSSE envelope over an in-toto statement) and annotations are the layer's
// annotations (certificate and chain, Rekor bundle, RFC 3161 timestamp).
// The verifier must be an attestation verifier ([WithAttestation]); the
// returned Signature carries the verified [verify.Statement], and has no
// Candidate and Verifier set. It reads nothing from the registry (with
// [WithPublicGoodTUF], the first verification fetches the trusted root).
func (v *Verifier) VerifyLegacyAttestation(ctx context.Context, d oci.Digest, envelope []byte, annotations map[string]string) (sig verify.Signature, err error) {
	defer recoverInto(&err)
	if v.opts.predicateType == "" {
		return verify.Signature{}, fmt.Errorf("%w: VerifyLegacyAttestation needs an attestation verifier (WithAttestation)", ErrInvalidOption)
	}
	return v.verifyLegacy(ctx, d, envelope, annotations)
}

// checkEnvelope parses a legacy attestation layer and checks its statement
// before any cryptography.
func (v *Verifier) checkEnvelope(envelope []byte, d oci.Digest) (*verify.Statement, error) {
	var env dsseEnvelope
	if err := json.Unmarshal(envelope, &env); err != nil {
		return nil, fmt.Errorf("%w: layer is not a DSSE envelope: %w", ErrInvalidSignature, err)
	}
	if len(env.Signatures) == 0 {
		return nil, fmt.Errorf("%w: DSSE envelope holds no signature", ErrInvalidSignature)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: DSSE payload is not base64: %w", ErrInvalidSignature, err)
	}
	return v.checkStatement(env.PayloadType, payload, d)
}

// declaresOtherPredicate reports whether an attachment declares (in
// unsigned annotations) a predicate type other than the one required: it
// is another kind of attachment, not a candidate.
func (v *Verifier) declaresOtherPredicate(annotations map[string]string, key string) bool {
	pt, ok := annotations[key]
	return ok && pt != v.wantPredicateType()
}
