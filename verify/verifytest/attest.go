package verifytest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ocisource/ocisource/oci"
)

// Media types, annotations and predicate types of attestations, as cosign
// v2.6 and GitHub's attest-build-provenance write them.
const (
	// MediaTypeDSSE is the layer media type of a legacy attestation.
	MediaTypeDSSE = "application/vnd.dsse.envelope.v1+json"
	// AnnotationPredicateType declares a legacy attestation layer's
	// predicate type (unsigned).
	AnnotationPredicateType = "predicateType"
	// StatementTypeV01 is the in-toto statement type legacy `cosign attest` signs.
	StatementTypeV01 = "https://in-toto.io/Statement/v0.1"
	// StatementTypeV1 is the in-toto statement type of bundle attestations.
	StatementTypeV1 = "https://in-toto.io/Statement/v1"
	// PredicateTypeSLSAProvenanceV02 is SLSA provenance v0.2.
	PredicateTypeSLSAProvenanceV02 = "https://slsa.dev/provenance/v0.2"
	// PredicateTypeSLSAProvenanceV1 is SLSA provenance v1.
	PredicateTypeSLSAProvenanceV1 = "https://slsa.dev/provenance/v1"
)

// LegacyAttestationTag returns the tag cosign stores the legacy
// attestations of the manifest with digest d under: "sha256-<hex>.att".
func LegacyAttestationTag(d oci.Digest) string {
	return oci.CosignTag(d, oci.CosignAttestation)
}

// WithDeclaredPredicateType makes [AttestLegacy] and [AttestBundle]
// declare pt in the attachment's unsigned annotations while the signed
// statement keeps its own predicate type: an attachment that lies about
// what it is, to test verifiers that must trust the signed statement only.
// The default declares the statement's predicate type.
func WithDeclaredPredicateType(pt string) SignOption {
	return func(o *signOptions) error {
		if pt == "" {
			return errors.New("verifytest: WithDeclaredPredicateType(\"\")")
		}
		o.declare = pt
		return nil
	}
}

// Statement returns an in-toto statement of type statementType
// ([StatementTypeV1] or [StatementTypeV01]) whose subject is d and whose
// predicate is predicate (JSON; nil means {}).
func Statement(statementType string, d oci.Digest, predicateType string, predicate json.RawMessage) ([]byte, error) {
	if predicate == nil {
		predicate = json.RawMessage("{}")
	}
	if !json.Valid(predicate) {
		return nil, errors.New("verifytest: the predicate is not JSON")
	}
	return json.Marshal(map[string]any{
		"_type":         statementType,
		"subject":       []any{map[string]any{"name": "artifact", "digest": map[string]string{d.Algorithm(): d.Hex()}}},
		"predicateType": predicateType,
		"predicate":     predicate,
	})
}

func prepareAttestation(ref oci.Reference, s Signer, predicateType string, opts []SignOption) (*signOptions, oci.Digest, string, error) {
	o, claimed, err := prepare(ref, s, opts)
	if err != nil {
		return nil, "", "", err
	}
	if predicateType == "" {
		return nil, "", "", errors.New("verifytest: a predicate type is required")
	}
	declared := predicateType
	if o.declare != "" {
		declared = o.declare
	}
	return o, claimed, declared, nil
}

// AttestLegacy attests the manifest ref names (ref must carry a digest) as
// `cosign attest` does in its legacy format: an in-toto statement (v0.1)
// about the digest with predicateType and predicate (JSON), signed in a
// DSSE envelope, appended as a layer of media type [MediaTypeDSSE] to the
// image tagged "sha256-<hex>.att", with the certificate chain, the Rekor
// entry (kind dsse) and the RFC 3161 timestamp (over the envelope) in its
// annotations. Keyed and keyless signers both work, with the options of
// [SignLegacy]. It returns the descriptor of the attestation image's
// manifest.
func AttestLegacy(ctx context.Context, c *oci.Client, ref oci.Reference, s Signer, predicateType string, predicate json.RawMessage, opts ...SignOption) (oci.Descriptor, error) {
	o, claimed, declared, err := prepareAttestation(ref, s, predicateType, opts)
	if err != nil {
		return oci.Descriptor{}, err
	}
	m, err := s.material()
	if err != nil {
		return oci.Descriptor{}, err
	}
	statement, err := Statement(StatementTypeV01, claimed, predicateType, predicate)
	if err != nil {
		return oci.Descriptor{}, err
	}
	sig, err := signMessage(m.priv, dssePAE(MediaTypeInToto, statement))
	if err != nil {
		return oci.Descriptor{}, fmt.Errorf("verifytest: signing: %w", err)
	}
	envelope, err := json.Marshal(map[string]any{
		"payloadType": MediaTypeInToto,
		"payload":     base64.StdEncoding.EncodeToString(statement),
		"signatures":  []any{map[string]string{"keyid": "", "sig": base64.StdEncoding.EncodeToString(sig)}},
	})
	if err != nil {
		return oci.Descriptor{}, err
	}
	ann := map[string]string{AnnotationSignature: "", AnnotationPredicateType: declared}
	if err := o.legacyAnnotations(ctx, m, ann, "dsse", envelope, sig, envelope); err != nil {
		return oci.Descriptor{}, err
	}
	layer := oci.Descriptor{MediaType: MediaTypeDSSE, Digest: oci.DigestOf(envelope), Size: int64(len(envelope)), Annotations: ann}
	return AppendLegacyAttestation(ctx, c, o.target(ref), layer, envelope)
}

// AppendLegacyAttestation uploads envelope and appends layer (its
// descriptor, annotations included) to the legacy attestation image
// ("sha256-<hex>.att") of the manifest ref names, creating the image when
// there is none. Use it to attach crafted attestations (or a signature
// where an attestation belongs) in tests; [AttestLegacy] uses it for real
// ones.
func AppendLegacyAttestation(ctx context.Context, c *oci.Client, ref oci.Reference, layer oci.Descriptor, envelope []byte) (oci.Descriptor, error) {
	return appendLegacy(ctx, c, ref, LegacyAttestationTag(ref.Digest), layer, envelope)
}

// AttestBundle attests the manifest ref names (ref must carry a digest) as
// `cosign attest --new-bundle-format` and GitHub's attest-build-provenance
// do: an in-toto statement (v1) about the digest with predicateType and
// predicate (JSON), signed in a DSSE envelope inside a Sigstore bundle
// v0.3, attached as an OCI referrer of artifact type [MediaTypeBundle]
// that declares the predicate type in its annotations. Keyed and keyless
// signers both work, with the options of [SignBundle]. It returns the
// descriptor of the referrer manifest.
func AttestBundle(ctx context.Context, c *oci.Client, ref oci.Reference, s Signer, predicateType string, predicate json.RawMessage, opts ...SignOption) (oci.Descriptor, error) {
	o, claimed, declared, err := prepareAttestation(ref, s, predicateType, opts)
	if err != nil {
		return oci.Descriptor{}, err
	}
	m, err := s.material()
	if err != nil {
		return oci.Descriptor{}, err
	}
	statement, err := Statement(StatementTypeV1, claimed, predicateType, predicate)
	if err != nil {
		return oci.Descriptor{}, err
	}
	bundle, err := statementBundle(ctx, o, m, statement)
	if err != nil {
		return oci.Descriptor{}, err
	}
	return attachBundle(ctx, c, ref, o.target(ref).WithTag(""), bundle, declared)
}

// AttestationBundleJSON returns the Sigstore bundle [AttestBundle] would
// attach for digest d, without attaching it.
func AttestationBundleJSON(ctx context.Context, d oci.Digest, s Signer, predicateType string, predicate json.RawMessage, opts ...SignOption) ([]byte, error) {
	probe := oci.Reference{Registry: "x", Repository: "x", Digest: d}
	o, claimed, _, err := prepareAttestation(probe, s, predicateType, opts)
	if err != nil {
		return nil, err
	}
	m, err := s.material()
	if err != nil {
		return nil, err
	}
	statement, err := Statement(StatementTypeV1, claimed, predicateType, predicate)
	if err != nil {
		return nil, err
	}
	return statementBundle(ctx, o, m, statement)
}
