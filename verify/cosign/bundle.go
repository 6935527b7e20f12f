package cosign

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/verify"
)

// Media types and predicate of cosign's bundle format.
const (
	// MediaTypeBundle is the media type (and referrer artifact type) of
	// Sigstore bundles v0.3, as `cosign sign --new-bundle-format` attaches them.
	MediaTypeBundle = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// PredicateTypeCosignSign is the predicate type of the in-toto statement
	// cosign signs for an image in the bundle format.
	PredicateTypeCosignSign = "https://sigstore.dev/cosign/sign/v1"

	mediaTypeBundlePrefix = "application/vnd.dev.sigstore.bundle"
	mediaTypeInToto       = "application/vnd.in-toto+json"
)

// errNotBundle marks a referrer that turns out not to be a bundle.
var errNotBundle = errors.New("referrer is not a Sigstore bundle")

func isBundleType(mt string) bool { return strings.HasPrefix(mt, mediaTypeBundlePrefix) }

// mayBeSignatureBundle tells from a referrer's descriptor whether it may be
// a bundle this verifier checks: a cosign signature, or for an attestation
// verifier an attestation of its predicate type. Referrers of other types
// (SBOMs, attestations with another predicate) are skipped unread. The
// artifact type may be missing, or be the empty config's media type when the
// registry derives it from the config; such referrers are checked on their
// manifest.
func (v *Verifier) mayBeSignatureBundle(d oci.Descriptor) bool {
	switch {
	case isBundleType(d.ArtifactType), d.ArtifactType == "", d.ArtifactType == oci.MediaTypeOCIEmptyJSON:
	default:
		return false
	}
	return !v.declaresOtherPredicate(d.Annotations, annotationBundlePredicateType)
}

// bundles lists and verifies the bundles attached to a.ref as referrers.
func (v *Verifier) bundles(ctx context.Context, p *policy, a *attempt) {
	where := "bundle referrers of " + string(a.ref.Digest) + a.in()
	a.looked = append(a.looked, "bundle referrers"+a.in())
	// All referrers are listed (one request either way) and filtered here:
	// some registries, go-containerregistry's among them, report the config
	// media type as the artifact type, so a server-side filter would miss
	// bundles attached the way cosign attaches them.
	descs, err := v.client.Referrers(ctx, a.sigRef, "")
	if errors.Is(err, oci.ErrNotFound) {
		return
	}
	if err != nil {
		a.listFailed(where, err)
		return
	}
	var cands []oci.Descriptor
	for _, d := range descs {
		if v.mayBeSignatureBundle(d) {
			cands = append(cands, d)
		}
	}
	if len(cands) == 0 {
		return
	}
	a.found += len(cands)
	if len(cands) > v.opts.maxSignatures {
		a.fail(where, fmt.Errorf("%w: %d bundle referrers, the limit is %d; none was read", ErrTooManySignatures, len(cands), v.opts.maxSignatures))
		return
	}
	for _, d := range cands {
		if ctx.Err() != nil {
			return
		}
		candidate := "bundle " + string(d.Digest)
		sig, err := v.bundleCandidate(ctx, a.sigRef, d)
		if errors.Is(err, errNotBundle) {
			a.found-- // another kind of referrer: not a signature
			continue
		}
		if err != nil {
			a.fail(candidate, err)
			continue
		}
		sig.Candidate = candidate
		a.sigs = append(a.sigs, sig)
	}
}

func (v *Verifier) bundleCandidate(ctx context.Context, ref oci.Reference, d oci.Descriptor) (verify.Signature, error) {
	m, err := v.client.Manifest(ctx, ref.WithTag("").WithDigest(d.Digest))
	if err != nil {
		return verify.Signature{}, err
	}
	if m.Subject == nil || m.Subject.Digest != ref.Digest {
		return verify.Signature{}, fmt.Errorf("%w: referrer manifest does not name %s as its subject", ErrInvalidSignature, ref.Digest)
	}
	bundleLayers := 0
	for _, l := range m.Layers {
		if isBundleType(l.MediaType) {
			bundleLayers++
		}
	}
	if (m.ArtifactType != "" && !isBundleType(m.ArtifactType)) || bundleLayers == 0 {
		return verify.Signature{}, errNotBundle
	}
	if len(m.Layers) != 1 {
		return verify.Signature{}, fmt.Errorf("%w: referrer manifest must hold exactly one bundle layer, has %d layers", ErrInvalidSignature, len(m.Layers))
	}
	raw, err := v.fetch(ctx, ref, m.Layers[0])
	if err != nil {
		return verify.Signature{}, err
	}
	return v.verifyBundleRecovered(ctx, ref.Digest, raw)
}

// checkContent checks, before any cryptography, that the bundle signs d:
// a DSSE envelope with an in-toto statement naming d, of cosign's signature
// predicate or, for an attestation verifier, of its predicate type and
// accepted by its predicate policies (the statement is returned); or, for a
// signature verifier, a message signature over d itself.
func (v *Verifier) checkContent(b *sgbundle.Bundle, d oci.Digest) (*verify.Statement, error) {
	switch c := b.Bundle.GetContent().(type) {
	case *protobundle.Bundle_DsseEnvelope:
		env := c.DsseEnvelope
		return v.checkStatement(env.GetPayloadType(), env.GetPayload(), d)
	case *protobundle.Bundle_MessageSignature:
		if v.opts.predicateType != "" {
			return nil, fmt.Errorf("%w: %w: bundle holds a message signature, not an attestation of type %s", ErrInvalidSignature, ErrWrongPredicateType, v.opts.predicateType)
		}
		md := c.MessageSignature.GetMessageDigest()
		if md == nil || hex.EncodeToString(md.GetDigest()) != d.Hex() {
			return nil, fmt.Errorf("%w: message signature is over another digest than %s", ErrWrongArtifact, d)
		}
		return nil, nil
	default:
		return nil, fmt.Errorf("%w: bundle holds neither a DSSE envelope nor a message signature", ErrInvalidSignature)
	}
}

// certificateIdentities returns the identities as sigstore-go matches
// them: issuer, subject and Fulcio extensions of one identity together.
func (v *Verifier) certificateIdentities() (sgverify.CertificateIdentities, error) {
	var out sgverify.CertificateIdentities
	for _, id := range v.opts.identities {
		ci, err := sgverify.NewShortCertificateIdentity(id.Issuer, id.IssuerRegExp, id.Subject, id.SubjectRegExp)
		if err != nil {
			return nil, fmt.Errorf("%w: identity %v: %w", ErrInvalidOption, id, err)
		}
		ci.Extensions = id.Extensions.sigstore()
		out = append(out, ci)
	}
	return out, nil
}

// checkChain refuses an x509CertificateChain (bundles v0.1 and v0.2) that
// holds a root, that is a self-signed certificate: the bundle specification
// forbids it, since roots come from the trusted root only. sigstore-go
// v1.3.0 reads the leaf alone and ignores the rest of the chain, so a
// malformed bundle would otherwise pass. It is checked by hand for that
// reason.
func checkChain(b *sgbundle.Bundle) error {
	chain := b.Bundle.GetVerificationMaterial().GetX509CertificateChain()
	for i, c := range chain.GetCertificates() {
		cert, err := x509.ParseCertificate(c.GetRawBytes())
		if err != nil {
			return fmt.Errorf("%w: %w: certificate %d of the chain: %w", ErrInvalidSignature, ErrMalformedBundle, i, err)
		}
		if bytes.Equal(cert.RawSubject, cert.RawIssuer) || cert.CheckSignatureFrom(cert) == nil {
			return fmt.Errorf("%w: %w: certificate %d of the x509CertificateChain (%q) is a self-signed root; "+
				"the bundle spec forbids roots in the chain (the trusted root supplies them)", ErrInvalidSignature, ErrMalformedBundle, i, cert.Subject.String())
		}
	}
	return nil
}

// VerifyBundle verifies one Sigstore bundle (its JSON) for the artifact
// with digest d. What it accepts depends on the verifier: a signature
// verifier accepts a cosign signature, that is a message signature over d
// or a DSSE envelope over an in-toto statement of predicate type
// [PredicateTypeCosignSign] naming d, and refuses statements of any other
// predicate type; an attestation verifier ([WithAttestation]) accepts only
// a DSSE envelope over a statement of its predicate type, whatever that
// type is, naming d and accepted by its predicate policies, and returns the
// statement in Signature.Statement. It reads nothing from the registry
// (with [WithPublicGoodTUF], the first verification fetches the trusted
// root). The returned Signature has no Candidate and Verifier set.
func (v *Verifier) VerifyBundle(ctx context.Context, d oci.Digest, bundleJSON []byte) (sig verify.Signature, err error) {
	return v.verifyBundleRecovered(ctx, d, bundleJSON)
}

// verifyBundleRecovered is verifyBundle with panics turned into rejections.
func (v *Verifier) verifyBundleRecovered(ctx context.Context, d oci.Digest, bundleJSON []byte) (sig verify.Signature, err error) {
	defer recoverInto(&err)
	return v.verifyBundle(ctx, d, bundleJSON)
}

func (v *Verifier) verifyBundle(ctx context.Context, d oci.Digest, bundleJSON []byte) (verify.Signature, error) {
	p, err := v.currentPolicy(ctx)
	if err != nil {
		return verify.Signature{}, err
	}
	if err := d.Validate(); err != nil {
		return verify.Signature{}, err
	}
	b := new(sgbundle.Bundle)
	if err := b.UnmarshalJSON(bundleJSON); err != nil {
		return verify.Signature{}, fmt.Errorf("%w: bundle: %w", ErrInvalidSignature, err)
	}
	if err := checkChain(b); err != nil {
		return verify.Signature{}, err
	}
	st, err := v.checkContent(b, d)
	if err != nil {
		return verify.Signature{}, err
	}
	digest, err := hex.DecodeString(d.Hex())
	if err != nil {
		return verify.Signature{}, err
	}
	artifact := sgverify.WithArtifactDigest(d.Algorithm(), digest)

	var out verify.Signature
	if len(v.keys) > 0 {
		out, err = v.bundleKeyed(p, b, artifact)
	} else {
		out, err = v.bundleKeyless(p, b, artifact)
	}
	if err != nil {
		return verify.Signature{}, err
	}
	out.Format = verify.FormatBundle
	out.Statement = st
	if p.tlog {
		if entries, err := b.TlogEntries(); err == nil && len(entries) > 0 {
			e := entries[0]
			out.Tlog = &verify.TlogEntry{
				LogIndex:       e.LogIndex(),
				IntegratedTime: e.IntegratedTime().UTC(),
				LogID:          hex.EncodeToString([]byte(e.LogKeyID())),
			}
		}
	}
	return out, nil
}

func (v *Verifier) bundleKeyed(p *policy, b *sgbundle.Bundle, artifact sgverify.ArtifactPolicyOption) (verify.Signature, error) {
	if vc, err := b.VerificationContent(); err != nil || vc.PublicKey() == nil {
		return verify.Signature{}, fmt.Errorf("%w: bundle is not signed with a key", ErrInvalidSignature)
	}
	vopts := []sgverify.VerifierOption{sgverify.WithNoObserverTimestamps()}
	if p.tlog {
		vopts = append(vopts, sgverify.WithTransparencyLog(1))
	}
	var errs []error
	for _, k := range v.keys {
		var keyErr error
		for _, kv := range k.verifiers {
			key := root.NewExpiringKey(kv, time.Time{}, time.Time{})
			var tm root.TrustedMaterial = root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
				return key, nil
			})
			if p.tm != nil {
				tm = root.TrustedMaterialCollection{p.tm, tm}
			}
			sv, err := sgverify.NewVerifier(tm, vopts...)
			if err != nil {
				return verify.Signature{}, err
			}
			if _, err := sv.Verify(b, sgverify.NewPolicy(artifact, sgverify.WithKey())); err != nil {
				keyErr = err
				continue
			}
			return verify.Signature{KeyID: k.id}, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", k.name, keyErr))
	}
	return verify.Signature{}, fmt.Errorf("%w: no trusted key verifies it: %w", ErrInvalidSignature, joinErrors(errs))
}

func (v *Verifier) bundleKeyless(p *policy, b *sgbundle.Bundle, artifact sgverify.ArtifactPolicyOption) (verify.Signature, error) {
	var vopts []sgverify.VerifierOption
	if p.tlog {
		vopts = append(vopts, sgverify.WithTransparencyLog(1))
	}
	if p.sct {
		vopts = append(vopts, sgverify.WithSignedCertificateTimestamps(1))
	}
	switch {
	case p.signedTS:
		vopts = append(vopts, sgverify.WithSignedTimestamps(1))
	case p.tlog && p.useTSA:
		vopts = append(vopts, sgverify.WithObserverTimestamps(1))
	case p.tlog:
		vopts = append(vopts, sgverify.WithIntegratedTimestamps(1))
	default:
		// No trusted time source: the certificate must be valid now.
		vopts = append(vopts, sgverify.WithCurrentTime())
	}
	sv, err := sgverify.NewVerifier(p.tm, vopts...)
	if err != nil {
		return verify.Signature{}, err
	}
	var popts []sgverify.PolicyOption
	cis, err := v.certificateIdentities()
	if err != nil {
		return verify.Signature{}, err
	}
	for _, ci := range cis {
		popts = append(popts, sgverify.WithCertificateIdentity(ci))
	}
	switch {
	case len(popts) > 0:
	case v.opts.noIdentity:
		popts = append(popts, sgverify.WithoutIdentitiesUnsafe())
	default:
		return verify.Signature{}, fmt.Errorf("%w: no identities configured", ErrInvalidOption)
	}
	res, err := sv.Verify(b, sgverify.NewPolicy(artifact, popts...))
	if err != nil {
		return verify.Signature{}, fmt.Errorf("%w: %w", ErrInvalidSignature, err)
	}
	if res.Signature == nil || res.Signature.Certificate == nil {
		return verify.Signature{}, fmt.Errorf("%w: bundle is not signed with a certificate", ErrInvalidSignature)
	}
	c := res.Signature.Certificate
	return verify.Signature{Issuer: c.Issuer, Subject: c.SubjectAlternativeName}, nil
}
