package notation

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"

	_ "github.com/notaryproject/notation-core-go/signature/cose" // registers the COSE envelope
	_ "github.com/notaryproject/notation-core-go/signature/jws"  // registers the JWS envelope
	notationgo "github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	godigest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/verify"
)

// Media types of notation signatures.
const (
	// ArtifactTypeSignature is the artifact type of the referrer manifests
	// that carry notation signatures.
	ArtifactTypeSignature = "application/vnd.cncf.notary.signature"
	// MediaTypeJWS is the media type of a JWS signature envelope.
	MediaTypeJWS = "application/jose+json"
	// MediaTypeCOSE is the media type of a COSE signature envelope.
	MediaTypeCOSE = "application/cose"
)

// Sentinel errors of this package. Rejections of individual signatures are
// reported inside a [*verify.VerificationError], whose failures wrap these.
var (
	// ErrInvalidOption reports options that are missing, malformed or
	// contradict each other.
	ErrInvalidOption = errors.New("invalid verifier option")
	// ErrInvalidTrustPolicy reports a trust policy document that cannot be
	// used: malformed JSON, an unsupported version, invalid statements, or
	// (without WithLenientLevelsUnsafe) a level weaker than strict. It
	// matches ErrInvalidOption too.
	ErrInvalidTrustPolicy = fmt.Errorf("%w: trust policy", ErrInvalidOption)
	// ErrInvalidTrustStore reports trust store certificates that cannot be
	// used, or a store the trust policy names and no option filled. It
	// matches ErrInvalidOption too.
	ErrInvalidTrustStore = fmt.Errorf("%w: trust store", ErrInvalidOption)
	// ErrNoApplicablePolicy reports an artifact whose repository no trust
	// policy statement's registryScopes names (and no "*" statement
	// exists): the policy trusts no signature for it.
	ErrNoApplicablePolicy = errors.New("no trust policy statement applies to the repository")
	// ErrTooManySignatures reports more signatures than the limit
	// ([WithMaxSignatures]); none of them was downloaded.
	ErrTooManySignatures = errors.New("too many signatures")
	// ErrEnvelopeTooLarge reports a signature envelope larger than the
	// limit ([WithMaxEnvelopeSize]); it was not downloaded.
	ErrEnvelopeTooLarge = errors.New("signature envelope too large")
	// ErrWrongArtifact reports a signature over another artifact: its
	// signed payload names another digest.
	ErrWrongArtifact = errors.New("signature is for another artifact")
	// ErrInvalidSignature reports a signature that does not verify: a
	// malformed referrer or envelope, bad cryptography, a certificate that
	// does not chain to the trust store or names no trusted identity, an
	// expired certificate or signature, an invalid timestamp, a plugin
	// requirement. The failure also wraps notation-go's error.
	ErrInvalidSignature = errors.New("invalid signature")
)

// Verifier verifies notation signatures of digest-pinned artifacts by a
// trust policy and trust store. It implements [verify.Verifier],
// [verify.Named], [verify.ClientBinder] and [verify.Fingerprinter], and is
// safe for concurrent use. It does not change after New.
type Verifier struct {
	opts      options
	client    *oci.Client
	ownClient bool
	doc       *trustpolicy.Document
	store     *memStore
	nv        notationgo.Verifier
	fp        string
}

var (
	_ verify.Verifier      = (*Verifier)(nil)
	_ verify.Named         = (*Verifier)(nil)
	_ verify.ClientBinder  = (*Verifier)(nil)
	_ verify.Fingerprinter = (*Verifier)(nil)
)

// New returns a Verifier configured by opts: a trust policy
// ([WithTrustPolicy] or its variants) is required, with the certificates of
// the trust stores it names. Options that are missing, malformed or
// contradict each other, a trust policy notation-go refuses and trust store
// certificates that cannot be used give an error wrapping
// [ErrInvalidOption] ([ErrInvalidTrustPolicy], [ErrInvalidTrustStore]).
func New(opts ...Option) (*Verifier, error) {
	v := &Verifier{opts: options{maxSignatures: DefaultMaxSignatures, maxEnvelope: DefaultMaxEnvelopeSize, name: ""}}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidOption)
		}
		if err := opt(&v.opts); err != nil {
			return nil, err
		}
	}
	o := &v.opts
	if o.policyJSON == nil {
		return nil, fmt.Errorf("%w: no trust policy: give WithTrustPolicy, WithTrustPolicyFile or WithTrustPolicyDocument", ErrInvalidOption)
	}
	doc, err := parsePolicy(o.policyJSON, o.policySource)
	if err != nil {
		return nil, err
	}
	if err := checkLevels(doc, o.lenient); err != nil {
		return nil, err
	}
	v.doc = doc
	if v.store, err = buildStore(doc, o); err != nil {
		return nil, err
	}
	vopts, err := revocationOptions(o.revocation)
	if err != nil {
		return nil, err
	}
	// No plugin manager: a signature that needs a plugin is rejected.
	if v.nv, err = verifier.NewWithOptions(doc, v.store, nil, vopts); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidTrustPolicy, o.policySource, err)
	}
	if o.name == "" {
		o.name = "notation"
	}
	v.client = o.client
	_, v.ownClient = o.setBy[settingClient]
	if v.client == nil {
		c, err := oci.NewClient(o.clientOpts...)
		if err != nil {
			return nil, fmt.Errorf("%w: registry client: %w", ErrInvalidOption, err)
		}
		v.client = c
	}
	v.fp = v.fingerprint()
	return v, nil
}

// parsePolicy decodes and validates a trust policy document: unknown
// fields and trailing data are refused, so that a misspelled key is an
// error rather than a setting silently left at its default.
func parsePolicy(b []byte, source string) (*trustpolicy.Document, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var doc trustpolicy.Document
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %s: malformed trust policy document: %w", ErrInvalidTrustPolicy, source, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %s: trailing data after the trust policy document", ErrInvalidTrustPolicy, source)
	}
	if err := doc.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidTrustPolicy, source, err)
	}
	return &doc, nil
}

// strictChecks are the checks a statement must enforce unless
// WithLenientLevelsUnsafe; revocation is apart (see WithRevocationCheck).
var strictChecks = []trustpolicy.ValidationType{trustpolicy.TypeIntegrity, trustpolicy.TypeAuthenticity, trustpolicy.TypeAuthenticTimestamp, trustpolicy.TypeExpiry}

// checkLevels refuses, unless lenient, statements that do not enforce
// every check of strictChecks.
func checkLevels(doc *trustpolicy.Document, lenient bool) error {
	if lenient {
		return nil
	}
	var errs []error
	for _, st := range doc.TrustPolicies {
		lvl, err := st.SignatureVerification.GetVerificationLevel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: statement %q: %w", ErrInvalidTrustPolicy, st.Name, err))
			continue
		}
		for _, c := range strictChecks {
			if a := lvl.Enforcement[c]; a != trustpolicy.ActionEnforce {
				errs = append(errs, fmt.Errorf("%w: statement %q: level %q does not enforce the %s check (%s): use level strict, or knowingly WithLenientLevelsUnsafe", ErrInvalidTrustPolicy, st.Name, st.SignatureVerification.VerificationLevel, c, a))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// buildStore parses the trust store certificates and checks that every
// store a verifying statement names has some.
func buildStore(doc *trustpolicy.Document, o *options) (*memStore, error) {
	s := &memStore{certs: map[storeKey][]*x509.Certificate{}}
	seen := map[storeKey]map[string]bool{}
	add := func(t StoreType, name string, in certInput) error {
		certs, err := parseCertificates(in)
		if err != nil {
			return err
		}
		if err := checkStoreCerts(t, in.source, certs); err != nil {
			return err
		}
		k := keyOf(t, name)
		if seen[k] == nil {
			seen[k] = map[string]bool{}
		}
		for _, c := range certs {
			if !seen[k][string(c.Raw)] {
				seen[k][string(c.Raw)] = true
				s.certs[k] = append(s.certs[k], c)
			}
		}
		return nil
	}
	for _, in := range o.stores {
		for _, c := range in.certs {
			if err := add(in.typ, in.name, c); err != nil {
				return nil, err
			}
		}
	}
	for _, st := range doc.TrustPolicies {
		for _, ts := range st.TrustStores {
			t, name, _ := strings.Cut(ts, ":")
			if StoreType(t) == StoreTSA {
				continue
			}
			for _, c := range o.flatCerts {
				if err := add(StoreType(t), name, c); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, st := range doc.TrustPolicies {
		for _, ts := range st.TrustStores {
			t, name, _ := strings.Cut(ts, ":")
			if len(s.certs[storeKey(ts)]) == 0 {
				hint := fmt.Sprintf("WithTrustStore(%q, %q, ...)", t, name)
				if StoreType(t) != StoreTSA {
					hint += " or WithCertificates"
				}
				return nil, fmt.Errorf("%w: trust policy statement %q names trust store %q, which has no certificates: give %s", ErrInvalidTrustStore, st.Name, ts, hint)
			}
		}
	}
	return s, nil
}

// Name implements [verify.Named].
func (v *Verifier) Name() string { return v.opts.name }

// Fingerprint implements [verify.Fingerprinter]: it summarises the trust
// policy, the trust store certificates, the revocation and level settings
// and the limits.
func (v *Verifier) Fingerprint() string { return v.fp }

// BindClient implements [verify.ClientBinder]: it returns a copy of v that
// reads signatures with c, unless v was built with [WithClient] or
// [WithRegistryOptions], in which case it returns v. v is not modified.
func (v *Verifier) BindClient(c *oci.Client) verify.Verifier {
	if c == nil || v.ownClient {
		return v
	}
	bound := *v
	bound.client = c
	return &bound
}

// attempt collects what one verification found.
type attempt struct {
	ref         oci.Reference
	sigs        []verify.Signature
	failures    []verify.Failure
	unavailable []error
	found       int
}

func (a *attempt) fail(candidate string, err error) {
	if verify.IsUnavailable(err) {
		a.unavailable = append(a.unavailable, fmt.Errorf("%s: %w", candidate, err))
		return
	}
	a.failures = append(a.failures, verify.Failure{Candidate: candidate, Err: err})
}

// Verify verifies the notation signatures of the artifact ref names; ref
// must carry a digest. It returns every signature that verified; an error
// wrapping [verify.ErrNoSignatures] when no notation signature is attached;
// a [*verify.VerificationError] when signatures are attached and none
// verified, or when no trust policy statement applies to ref's repository
// ([ErrNoApplicablePolicy], decided before any request); an error wrapping
// [verify.ErrUnavailable] when signatures could not be read and none of the
// others verified; or ctx's error when it ended.
func (v *Verifier) Verify(ctx context.Context, ref oci.Reference) (*verify.Result, error) {
	if err := verify.RequirePinned(ref); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	artifact := artifactReference(ref)
	st, err := v.doc.GetApplicableTrustPolicy(artifact)
	if err != nil {
		return nil, &verify.VerificationError{Ref: ref, Failures: []verify.Failure{{Verifier: v.opts.name,
			Err: fmt.Errorf("%w: %s (scope %q): add it to a statement's registryScopes, or add a \"*\" statement", ErrNoApplicablePolicy, ref.Repo(), strings.SplitN(artifact, "@", 2)[0])}}}
	}
	level := st.SignatureVerification.VerificationLevel
	if level == trustpolicy.LevelSkip.Name {
		// Only with WithLenientLevelsUnsafe: New refuses skip otherwise.
		return &verify.Result{Ref: ref, Signatures: []verify.Signature{{Verifier: v.opts.name, Format: verify.FormatNotation,
			Candidate: fmt.Sprintf("trust policy statement %q skips verification", st.Name), Policy: st.Name, Level: level}}}, nil
	}
	desc, err := v.client.Resolve(ctx, ref)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		if verify.IsUnavailable(err) {
			return nil, verify.Unavailable(ref, err)
		}
		return nil, fmt.Errorf("verify %s: resolving the artifact: %w", ref, err)
	}
	if desc.Digest != ref.Digest {
		return nil, fmt.Errorf("verify %s: %w: the registry resolved it to %s", ref, oci.ErrDigestMismatch, desc.Digest)
	}
	a := &attempt{ref: ref}
	v.signatures(ctx, a, artifact, desc, st)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i := range a.failures {
		a.failures[i].Verifier = v.opts.name
	}
	switch {
	case len(a.sigs) > 0:
		return &verify.Result{Ref: ref, Signatures: a.sigs}, nil
	case len(a.unavailable) > 0:
		return nil, verify.Unavailable(ref, errors.Join(a.unavailable...))
	case a.found == 0:
		return nil, verify.NoSignatures(ref, "notation signature referrers ("+ArtifactTypeSignature+")")
	default:
		return nil, &verify.VerificationError{Ref: ref, Failures: a.failures}
	}
}

// signatures lists the notation referrers of desc and verifies each.
func (v *Verifier) signatures(ctx context.Context, a *attempt, artifact string, desc oci.Descriptor, st *trustpolicy.TrustPolicy) {
	where := "notation referrers of " + string(a.ref.Digest)
	// All referrers are listed and filtered here, as verify/cosign does:
	// one request either way, and registries differ in how they filter.
	descs, err := v.client.Referrers(ctx, a.ref, "")
	if errors.Is(err, oci.ErrNotFound) {
		return
	}
	if err != nil {
		if !verify.IsUnavailable(err) {
			a.found++
		}
		a.fail(where, err)
		return
	}
	var cands []oci.Descriptor
	for _, d := range descs {
		if d.ArtifactType == ArtifactTypeSignature {
			cands = append(cands, d)
		}
	}
	a.found = len(cands)
	if len(cands) == 0 {
		return
	}
	if len(cands) > v.opts.maxSignatures {
		a.fail(where, fmt.Errorf("%w: %d notation signatures, the limit is %d; none was read", ErrTooManySignatures, len(cands), v.opts.maxSignatures))
		return
	}
	target := ocispec.Descriptor{MediaType: desc.MediaType, Digest: godigest.Digest(desc.Digest), Size: desc.Size}
	for _, d := range cands {
		if ctx.Err() != nil {
			return
		}
		candidate := "notation " + string(d.Digest)
		sig, err := v.candidate(ctx, a.ref, artifact, target, d)
		if err != nil {
			a.fail(candidate, err)
			continue
		}
		sig.Verifier, sig.Candidate, sig.Policy = v.opts.name, candidate, st.Name
		if sig.Level == "" {
			sig.Level = st.SignatureVerification.VerificationLevel
		}
		a.sigs = append(a.sigs, sig)
	}
}

// candidate reads one signature referrer and has notation-go verify it.
func (v *Verifier) candidate(ctx context.Context, ref oci.Reference, artifact string, target ocispec.Descriptor, d oci.Descriptor) (verify.Signature, error) {
	m, err := v.client.Manifest(ctx, ref.WithTag("").WithDigest(d.Digest))
	if err != nil {
		return verify.Signature{}, err
	}
	if m.Subject == nil || m.Subject.Digest != ref.Digest {
		return verify.Signature{}, fmt.Errorf("%w: referrer manifest does not name %s as its subject", ErrInvalidSignature, ref.Digest)
	}
	if len(m.Layers) != 1 {
		return verify.Signature{}, fmt.Errorf("%w: a notation signature manifest holds exactly one envelope layer, this one %d", ErrInvalidSignature, len(m.Layers))
	}
	env := m.Layers[0]
	if env.MediaType != MediaTypeJWS && env.MediaType != MediaTypeCOSE {
		return verify.Signature{}, fmt.Errorf("%w: envelope media type %q, want %q or %q", ErrInvalidSignature, env.MediaType, MediaTypeJWS, MediaTypeCOSE)
	}
	raw, err := v.fetch(ctx, ref, env)
	if err != nil {
		return verify.Signature{}, err
	}
	outcome, err := v.nv.Verify(ctx, target, raw, notationgo.VerifierVerifyOptions{ArtifactReference: artifact, SignatureMediaType: env.MediaType})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return verify.Signature{}, cerr
		}
		if other := signedDigest(outcome); other != "" && other != string(ref.Digest) {
			return verify.Signature{}, fmt.Errorf("%w: it signs %s: %w", ErrWrongArtifact, other, err)
		}
		return verify.Signature{}, fmt.Errorf("%w: %w", ErrInvalidSignature, err)
	}
	sig := verify.Signature{Format: verify.FormatNotation}
	if outcome.EnvelopeContent != nil && len(outcome.EnvelopeContent.SignerInfo.CertificateChain) > 0 {
		leaf := outcome.EnvelopeContent.SignerInfo.CertificateChain[0]
		sig.Subject, sig.Issuer = leaf.Subject.String(), leaf.Issuer.String()
	}
	return sig, nil
}

// signedDigest returns the digest the verified payload of outcome names,
// or "".
func signedDigest(outcome *notationgo.VerificationOutcome) string {
	if outcome == nil || outcome.EnvelopeContent == nil {
		return ""
	}
	var p struct {
		TargetArtifact struct {
			Digest string `json:"digest"`
		} `json:"targetArtifact"`
	}
	if json.Unmarshal(outcome.EnvelopeContent.Payload.Content, &p) != nil {
		return ""
	}
	return p.TargetArtifact.Digest
}

// fetch downloads an envelope after checking its declared size, and reads
// it to the end so that the client verifies size and digest.
func (v *Verifier) fetch(ctx context.Context, ref oci.Reference, desc oci.Descriptor) ([]byte, error) {
	if desc.Size < 0 {
		return nil, fmt.Errorf("%w: descriptor of %s declares a negative size", ErrInvalidSignature, desc.Digest)
	}
	if desc.Size > v.opts.maxEnvelope {
		return nil, fmt.Errorf("%w: %s declares %d bytes, the limit is %d", ErrEnvelopeTooLarge, desc.Digest, desc.Size, v.opts.maxEnvelope)
	}
	rc, err := v.client.Blob(ctx, ref.WithTag(""), desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil && !errors.Is(err, oci.ErrSizeMismatch) && !errors.Is(err, oci.ErrDigestMismatch) {
		return nil, fmt.Errorf("%w: reading %s: %w", verify.ErrUnavailable, desc.Digest, err)
	}
	return b, err
}

// artifactReference is the "registry/repository@digest" notation-go
// selects trust policy statements by. An OCI image layout is scoped as
// "local/<name>", name being the layout's base name (lower case, without a
// .tar extension), as notation scopes layouts.
func artifactReference(ref oci.Reference) string {
	if ref.IsLayout() {
		return "local/" + layoutName(ref.Layout) + "@" + string(ref.Digest)
	}
	return ref.Registry + "/" + ref.Repository + "@" + string(ref.Digest)
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

func layoutName(p string) string {
	n := strings.TrimSuffix(strings.ToLower(filepath.Base(p)), ".tar")
	n = strings.Trim(nonName.ReplaceAllString(n, "-"), "-")
	if n == "" {
		return "layout"
	}
	return n
}
