package cosign

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	cbundle "github.com/sigstore/cosign/v2/pkg/cosign/bundle"
	cosignoci "github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/verify"
)

// Media type and annotation keys of cosign's legacy signature format.
const (
	// MediaTypeSimpleSigning is the media type of a legacy signature layer.
	MediaTypeSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"

	annotationSignature   = static.SignatureAnnotationKey
	annotationCertificate = static.CertificateAnnotationKey
	annotationChain       = static.ChainAnnotationKey
	annotationBundle      = static.BundleAnnotationKey
	annotationTimestamp   = static.RFC3161TimestampAnnotationKey
)

// legacyTag is the tag cosign stores the legacy signatures of d under.
func legacyTag(d oci.Digest) string { return oci.CosignTag(d, oci.CosignSignature) }

// legacy lists and verifies the legacy signatures of a.ref.
func (v *Verifier) legacy(ctx context.Context, p *policy, a *attempt) {
	tag, mediaType, where := legacyTag(a.ref.Digest), MediaTypeSimpleSigning, "legacy signatures "
	if v.opts.predicateType != "" {
		tag, mediaType, where = legacyAttTag(a.ref.Digest), MediaTypeDSSE, "legacy attestations "
	}
	where += tag + a.in()
	a.looked = append(a.looked, "tag "+tag+a.in())
	m, err := v.client.Manifest(ctx, a.sigRef.WithTag(tag))
	if errors.Is(err, oci.ErrNotFound) {
		return
	}
	if err != nil {
		a.listFailed(where, err)
		return
	}
	layers := m.Layers
	if v.opts.predicateType != "" {
		// Attestations of other predicate types share the image.
		layers = nil
		for _, l := range m.Layers {
			if !v.declaresOtherPredicate(l.Annotations, annotationPredicateType) {
				layers = append(layers, l)
			}
		}
	}
	if len(layers) == 0 {
		return
	}
	a.found += len(layers)
	if len(layers) > v.opts.maxSignatures {
		a.fail(where, fmt.Errorf("%w: %d signature layers, the limit is %d; none was read", ErrTooManySignatures, len(layers), v.opts.maxSignatures))
		return
	}
	// Signatures over the same payload share one blob: fetch each once.
	payloads := map[oci.Digest][]byte{}
	for i, layer := range layers {
		if ctx.Err() != nil {
			return
		}
		candidate := fmt.Sprintf("legacy %s layer %d", tag, i)
		if layer.MediaType != mediaType {
			a.fail(candidate, fmt.Errorf("%w: layer media type %q, want %q", ErrInvalidSignature, layer.MediaType, mediaType))
			continue
		}
		payload, ok := payloads[layer.Digest]
		if !ok || int64(len(payload)) != layer.Size {
			var err error
			if payload, err = v.fetch(ctx, a.sigRef, layer); err != nil {
				a.fail(candidate, err)
				continue
			}
			payloads[layer.Digest] = payload
		}
		sig, err := v.verifyLegacyRecovered(ctx, a.ref.Digest, payload, layer.Annotations)
		if err != nil {
			a.fail(candidate, err)
			continue
		}
		sig.Candidate = candidate
		a.sigs = append(a.sigs, sig)
	}
}

// simpleSigning is the part of cosign's simple-signing payload that names
// the signed manifest.
type simpleSigning struct {
	Critical struct {
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
}

// checkPayloadDigest parses a simple-signing payload and checks that it
// names want.
func checkPayloadDigest(payload []byte, want oci.Digest) error {
	var p simpleSigning
	if err := json.Unmarshal(payload, &p); err != nil {
		return fmt.Errorf("%w: payload is not a simple-signing document: %w", ErrInvalidSignature, err)
	}
	got := p.Critical.Image.DockerManifestDigest
	if got == "" {
		return fmt.Errorf("%w: payload names no manifest digest", ErrInvalidSignature)
	}
	if got != string(want) {
		return fmt.Errorf("%w: payload signs %.80s, not %s", ErrWrongArtifact, got, want)
	}
	return nil
}

// VerifyLegacySignature verifies one signature in cosign's legacy format
// for the artifact with digest d: payload is the layer's content (a
// simple-signing document) and annotations are the layer's annotations
// (signature, certificate and chain, Rekor bundle, RFC 3161 timestamp). It
// reads nothing from the registry (with [WithPublicGoodTUF], the first
// verification fetches the trusted root). The returned Signature has no
// Candidate and Verifier set.
//
// An attestation verifier ([WithAttestation]) refuses it with an error
// wrapping [ErrInvalidOption]: use [Verifier.VerifyLegacyAttestation].
func (v *Verifier) VerifyLegacySignature(ctx context.Context, d oci.Digest, payload []byte, annotations map[string]string) (sig verify.Signature, err error) {
	defer recoverInto(&err)
	if v.opts.predicateType != "" {
		return verify.Signature{}, fmt.Errorf("%w: an attestation verifier verifies no simple-signing signature: use VerifyLegacyAttestation", ErrInvalidOption)
	}
	return v.verifyLegacy(ctx, d, payload, annotations)
}

// verifyLegacyRecovered is verifyLegacy with panics turned into rejections.
func (v *Verifier) verifyLegacyRecovered(ctx context.Context, d oci.Digest, payload []byte, annotations map[string]string) (sig verify.Signature, err error) {
	defer recoverInto(&err)
	return v.verifyLegacy(ctx, d, payload, annotations)
}

func (v *Verifier) verifyLegacy(ctx context.Context, d oci.Digest, payload []byte, annotations map[string]string) (verify.Signature, error) {
	p, err := v.currentPolicy(ctx)
	if err != nil {
		return verify.Signature{}, err
	}
	if err := d.Validate(); err != nil {
		return verify.Signature{}, err
	}
	// Defence in depth: check the claim ourselves before any cryptography,
	// whatever cosign's ClaimVerifier does.
	att := v.opts.predicateType != ""
	var st *verify.Statement
	b64sig := annotations[annotationSignature]
	if att {
		// The signature is in the envelope; cosign leaves the annotation empty.
		if st, err = v.checkEnvelope(payload, d); err != nil {
			return verify.Signature{}, err
		}
		b64sig = ""
	} else {
		if err := checkPayloadDigest(payload, d); err != nil {
			return verify.Signature{}, err
		}
		if b64sig == "" {
			return verify.Signature{}, fmt.Errorf("%w: no %s annotation", ErrInvalidSignature, annotationSignature)
		}
		if _, err := base64.StdEncoding.DecodeString(b64sig); err != nil {
			return verify.Signature{}, fmt.Errorf("%w: %s annotation is not base64: %w", ErrInvalidSignature, annotationSignature, err)
		}
	}
	var sopts []static.Option
	if cert := annotations[annotationCertificate]; cert != "" {
		sopts = append(sopts, static.WithCertChain([]byte(cert), []byte(annotations[annotationChain])))
	}
	var rekorBundle *cbundle.RekorBundle
	if raw := annotations[annotationBundle]; raw != "" {
		rekorBundle = new(cbundle.RekorBundle)
		if err := json.Unmarshal([]byte(raw), rekorBundle); err != nil {
			return verify.Signature{}, fmt.Errorf("%w: %s annotation: %w", ErrInvalidSignature, annotationBundle, err)
		}
		if _, ok := rekorBundle.Payload.Body.(string); !ok {
			return verify.Signature{}, fmt.Errorf("%w: %s annotation: body is not a string", ErrInvalidSignature, annotationBundle)
		}
		sopts = append(sopts, static.WithBundle(rekorBundle))
	}
	hasTimestamp := false
	if raw := annotations[annotationTimestamp]; raw != "" {
		ts := new(cbundle.RFC3161Timestamp)
		if err := json.Unmarshal([]byte(raw), ts); err != nil {
			return verify.Signature{}, fmt.Errorf("%w: %s annotation: %w", ErrInvalidSignature, annotationTimestamp, err)
		}
		hasTimestamp = len(ts.SignedRFC3161Timestamp) > 0
		if hasTimestamp && len(v.keys) == 0 && p.useTSA {
			// Verified here first: cosign v2.6.5 indexes an empty result
			// (a panic) when no timestamp verifies, and logs warnings.
			// The timestamp covers the raw signature, or for an
			// attestation the envelope, as cosign's VerifyRFC3161Timestamp has it.
			raw, _ := base64.StdEncoding.DecodeString(b64sig)
			if att {
				raw = payload
			}
			entity := &timestampEntity{ts: ts.SignedRFC3161Timestamp, sig: raw}
			if _, err := sgverify.VerifySignedTimestampWithThreshold(entity, p.tm, 1); err != nil {
				return verify.Signature{}, fmt.Errorf("%w: RFC 3161 timestamp: %w", ErrInvalidSignature, err)
			}
		}
		sopts = append(sopts, static.WithRFC3161Timestamp(ts))
	}
	sig, err := static.NewSignature(payload, b64sig, sopts...)
	if err != nil {
		return verify.Signature{}, fmt.Errorf("%w: %w", ErrInvalidSignature, err)
	}
	h, err := v1.NewHash(string(d))
	if err != nil {
		return verify.Signature{}, err
	}
	if p.tlog && rekorBundle == nil {
		return verify.Signature{}, fmt.Errorf("%w: no transparency-log entry (%s annotation), and the trusted root demands one", ErrInvalidSignature, annotationBundle)
	}

	var out verify.Signature
	if len(v.keys) > 0 {
		out, err = v.legacyKeyed(ctx, p, sig, h)
	} else {
		if p.signedTS && !hasTimestamp {
			return verify.Signature{}, fmt.Errorf("%w: no RFC 3161 timestamp (%s annotation), and the trusted root demands one", ErrInvalidSignature, annotationTimestamp)
		}
		out, err = v.legacyKeyless(ctx, p, sig, h)
	}
	if err != nil {
		return verify.Signature{}, err
	}
	out.Format = verify.FormatLegacy
	out.Statement = st
	if p.tlog && rekorBundle != nil {
		out.Tlog = &verify.TlogEntry{
			LogIndex:       rekorBundle.Payload.LogIndex,
			IntegratedTime: time.Unix(rekorBundle.Payload.IntegratedTime, 0).UTC(),
			LogID:          rekorBundle.Payload.LogID,
		}
	}
	return out, nil
}

func (v *Verifier) legacyKeyed(ctx context.Context, p *policy, sig cosignoci.Signature, h v1.Hash) (verify.Signature, error) {
	var errs []error
	for _, k := range v.keys {
		var keyErr error
		for _, kv := range k.verifiers {
			co := &cosign.CheckOpts{
				SigVerifier: kv,
				IgnoreTlog:  !p.tlog,
				IgnoreSCT:   true,
				Offline:     true,
				// Used for the Rekor bundle only: with SigVerifier set,
				// cosign ignores certificates.
				TrustedMaterial: p.tm,
			}
			if err := v.cosignVerify(ctx, sig, h, co); err != nil {
				keyErr = err
				continue
			}
			return verify.Signature{KeyID: k.id}, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", k.name, keyErr))
	}
	return verify.Signature{}, fmt.Errorf("%w: no trusted key verifies it: %w", ErrInvalidSignature, joinErrors(errs))
}

func (v *Verifier) legacyKeyless(ctx context.Context, p *policy, sig cosignoci.Signature, h v1.Hash) (verify.Signature, error) {
	cert, err := sig.Cert()
	if err != nil {
		return verify.Signature{}, fmt.Errorf("%w: certificate annotation: %w", ErrInvalidSignature, err)
	}
	if cert == nil {
		return verify.Signature{}, fmt.Errorf("%w: no certificate (keyless verification needs one)", ErrInvalidSignature)
	}
	co := &cosign.CheckOpts{
		TrustedMaterial:     p.tm,
		IgnoreTlog:          !p.tlog,
		IgnoreSCT:           !p.sct,
		UseSignedTimestamps: p.useTSA,
		Offline:             true,
	}
	for _, id := range v.opts.identities {
		co.Identities = append(co.Identities, cosign.Identity{
			Issuer: id.Issuer, IssuerRegExp: id.IssuerRegExp,
			Subject: id.Subject, SubjectRegExp: id.SubjectRegExp,
		})
	}
	if len(co.Identities) == 0 && !v.opts.noIdentity {
		// Unreachable through New; never let an empty list mean "anyone".
		return verify.Signature{}, fmt.Errorf("%w: no identities configured", ErrInvalidOption)
	}
	if err := v.cosignVerify(ctx, sig, h, co); err != nil {
		return verify.Signature{}, fmt.Errorf("%w: %w", ErrInvalidSignature, err)
	}
	sum, err := certificate.SummarizeCertificate(cert)
	if err != nil {
		return verify.Signature{}, fmt.Errorf("%w: certificate: %w", ErrInvalidSignature, err)
	}
	if !v.opts.noIdentity {
		// cosign matched issuer and subject, but its CheckOpts carry no
		// Fulcio extensions beyond the deprecated GitHub ones, and only
		// one set of those: match each identity as a whole, extensions
		// included, the way sigstore-go does for bundles.
		cis, err := v.certificateIdentities()
		if err != nil {
			return verify.Signature{}, err
		}
		if _, err := cis.Verify(sum); err != nil {
			return verify.Signature{}, fmt.Errorf("%w: certificate identity: %w", ErrInvalidSignature, err)
		}
	}
	return verify.Signature{Issuer: sum.Issuer, Subject: sum.SubjectAlternativeName}, nil
}

// cosignVerify verifies a legacy signature, or attestation, with cosign,
// and has cosign check the claim too.
func (v *Verifier) cosignVerify(ctx context.Context, sig cosignoci.Signature, h v1.Hash, co *cosign.CheckOpts) error {
	if v.opts.predicateType != "" {
		co.ClaimVerifier = cosign.IntotoSubjectClaimVerifier
		_, err := cosign.VerifyBlobAttestation(ctx, sig, h, co)
		return err
	}
	co.ClaimVerifier = cosign.SimpleClaimVerifier
	_, err := cosign.VerifyImageSignature(ctx, sig, h, co)
	return err
}

// timestampEntity presents a legacy signature's RFC 3161 timestamp to
// sigstore-go: the timestamp covers the raw signature bytes.
type timestampEntity struct {
	sgverify.BaseSignedEntity
	ts, sig []byte
}

func (e *timestampEntity) Timestamps() ([][]byte, error) { return [][]byte{e.ts}, nil }

func (e *timestampEntity) SignatureContent() (sgverify.SignatureContent, error) {
	return rawSignature(e.sig), nil
}

type rawSignature []byte

func (s rawSignature) Signature() []byte                                         { return s }
func (s rawSignature) EnvelopeContent() sgverify.EnvelopeContent                 { return nil }
func (s rawSignature) MessageSignatureContent() sgverify.MessageSignatureContent { return nil }

// recoverInto turns a panic in the Sigstore libraries, on input we could not
// vet, into a rejection: hostile input must never crash the host program.
func recoverInto(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: malformed signature material (verifier library panicked: %v)", ErrInvalidSignature, r)
	}
}
