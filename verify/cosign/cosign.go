// Package cosign verifies cosign signatures of OCI artifacts, keyed or
// keyless, in both of cosign's storage formats, on top of cosign v2's
// pkg/cosign and sigstore-go.
//
// A [Verifier] is built with [New] in one of two modes:
//
//   - keyed: [WithKeys] or [WithKeyFiles] trust one or more public keys, and a
//     signature is accepted when any of them verifies it. With a trusted root
//     that lists Rekor logs, each signature must also be in the log.
//   - keyless: a trusted root ([WithTrustedRootJSON], [WithTrustedRootFile],
//     or, only when asked, [WithPublicGoodTUF]) and the identities allowed to
//     sign ([WithIdentities]; exact or anchored-regex issuer and subject).
//
// Signatures are found in the registry by the verifier itself, through an
// [oci.Client] (so credentials, TLS, limits and request accounting are the
// caller's): legacy signatures in the image tagged "sha256-<hex>.sig", and
// Sigstore bundles attached as OCI referrers (with the referrers tag-schema
// fallback). [WithFormat] can demand one format. Every accepted signature
// names the pinned digest: the signed simple-signing payload or in-toto
// statement is checked here, independently of cosign's own claim check.
// The number of signatures and the size of each attachment are bounded and
// checked on descriptors before anything is downloaded.
//
// A verifier never uses the network besides the registry, except to fetch
// the public-good trusted root through TUF when built with WithPublicGoodTUF.
package cosign

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/verify"
)

// Sentinel errors of this package. Rejections of individual signatures are
// reported inside a [*verify.VerificationError], whose failures wrap these.
var (
	// ErrInvalidOption reports options that are malformed or contradict each other.
	ErrInvalidOption = errors.New("invalid verifier option")
	// ErrInvalidKey reports a public key that cannot be used.
	ErrInvalidKey = errors.New("invalid public key")
	// ErrTooManySignatures reports more signatures than the limit
	// ([WithMaxSignatures]); none of them was downloaded.
	ErrTooManySignatures = errors.New("too many signatures")
	// ErrAttachmentTooLarge reports a signature attachment larger than the
	// limit ([WithMaxAttachmentSize]); it was not downloaded.
	ErrAttachmentTooLarge = errors.New("signature attachment too large")
	// ErrWrongArtifact reports a signature over another artifact: its signed
	// payload does not name the pinned digest.
	ErrWrongArtifact = errors.New("signature is for another artifact")
	// ErrInvalidSignature reports a signature that does not verify: bad
	// cryptography, untrusted key or certificate, identity not allowed,
	// missing or invalid transparency-log entry or timestamp, malformed
	// material.
	ErrInvalidSignature = errors.New("invalid signature")
)

// Verifier verifies cosign signatures of digest-pinned artifacts. It
// implements [verify.Verifier] and is safe for concurrent use.
type Verifier struct {
	opts   options
	client *oci.Client
	keys   []*publicKey

	mu     sync.Mutex
	policy *policy // nil until the trusted root is known (TUF: first use)
}

var (
	_ verify.Verifier = (*Verifier)(nil)
	_ verify.Named    = (*Verifier)(nil)
)

// policy is what a verification demands, derived from the options and the
// contents of the trusted root.
type policy struct {
	tm       root.TrustedMaterial // nil when keyed without a trusted root
	tlog     bool                 // demand a verified Rekor entry
	sct      bool                 // demand an SCT (keyless)
	signedTS bool                 // demand an RFC 3161 timestamp (keyless)
	useTSA   bool                 // verify RFC 3161 timestamps when present
}

// New returns a Verifier configured by opts; see the package documentation
// for the two modes. Options that are missing, malformed or contradict each
// other give an error wrapping [ErrInvalidOption] (or [ErrInvalidKey]).
func New(opts ...Option) (*Verifier, error) {
	v := &Verifier{opts: options{
		maxSignatures: DefaultMaxSignatures,
		maxAttachment: DefaultMaxAttachmentSize,
		format:        verify.FormatAny,
	}}
	for _, opt := range opts {
		if err := opt(&v.opts); err != nil {
			return nil, err
		}
	}
	if err := v.opts.validate(); err != nil {
		return nil, err
	}
	if len(v.opts.keys) > 0 {
		keys, err := parseKeys(v.opts.keys, v.opts.keyNames)
		if err != nil {
			return nil, err
		}
		v.keys = keys
	}
	if v.opts.name == "" {
		v.opts.name = "cosign keyless"
		if len(v.keys) > 0 {
			v.opts.name = "cosign keyed"
		}
	}
	v.client = v.opts.client
	if v.client == nil {
		c, err := oci.NewClient(v.opts.clientOpts...)
		if err != nil {
			return nil, fmt.Errorf("%w: registry client: %w", ErrInvalidOption, err)
		}
		v.client = c
	}
	switch {
	case v.opts.rootJSON != nil:
		tr, err := root.NewTrustedRootFromJSON(v.opts.rootJSON)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidOption, v.opts.rootSource, err)
		}
		if v.policy, err = v.derivePolicy(tr); err != nil {
			return nil, err
		}
	case !v.opts.tuf:
		// Keyed without trusted root: no transparency log.
		v.policy = &policy{}
	}
	return v, nil
}

// Name implements [verify.Named].
func (v *Verifier) Name() string { return v.opts.name }

// derivePolicy decides what to demand from what tm lists and what the
// caller asked for.
func (v *Verifier) derivePolicy(tm root.TrustedMaterial) (*policy, error) {
	rekor, ct, tsa := len(tm.RekorLogs()) > 0, len(tm.CTLogs()) > 0, len(tm.TimestampingAuthorities()) > 0
	keyless := len(v.keys) == 0
	p := &policy{tm: tm, tlog: rekor || v.opts.requireTlog, useTSA: tsa}
	if keyless {
		p.sct = ct || v.opts.requireSCT
		p.signedTS = v.opts.requireTS || (tsa && !rekor)
		if len(tm.FulcioCertificateAuthorities()) == 0 {
			return nil, fmt.Errorf("%w: the trusted root lists no certificate authority, so no keyless signature can verify", ErrInvalidOption)
		}
	}
	var errs []error
	if v.opts.requireTlog && !rekor {
		errs = append(errs, fmt.Errorf("%w: WithRequireTlog: the trusted root lists no Rekor log", ErrInvalidOption))
	}
	if v.opts.requireSCT && !ct {
		errs = append(errs, fmt.Errorf("%w: WithRequireSCT: the trusted root lists no CT log", ErrInvalidOption))
	}
	if v.opts.requireTS && !tsa {
		errs = append(errs, fmt.Errorf("%w: WithRequireSignedTimestamp: the trusted root lists no timestamp authority", ErrInvalidOption))
	}
	return p, errors.Join(errs...)
}

// currentPolicy returns the policy, fetching the public-good trusted root
// through TUF on first use when so configured.
func (v *Verifier) currentPolicy() (*policy, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.policy != nil {
		return v.policy, nil
	}
	opts := tuf.DefaultOptions()
	if v.opts.tufCacheDir != "" {
		opts.CachePath = v.opts.tufCacheDir
	}
	tr, err := root.FetchTrustedRootWithOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("cosign: fetching the public-good trusted root through TUF: %w", err)
	}
	p, err := v.derivePolicy(tr)
	if err != nil {
		return nil, err
	}
	v.policy = p
	return p, nil
}

// attempt collects what one verification found.
type attempt struct {
	ref        oci.Reference
	sigs       []verify.Signature
	failures   []verify.Failure
	found      int     // candidate signatures seen
	lookupErrs []error // signatures that could not be listed
	looked     []string
}

func (a *attempt) fail(candidate string, err error) {
	a.failures = append(a.failures, verify.Failure{Candidate: candidate, Err: err})
}

func (a *attempt) lookupFailed(where string, err error) {
	a.lookupErrs = append(a.lookupErrs, fmt.Errorf("listing %s: %w", where, err))
	a.failures = append(a.failures, verify.Failure{Candidate: where, Err: err})
}

// Verify verifies the signatures of the artifact ref names; ref must carry a
// digest. It returns every signature that verified; an error wrapping
// [verify.ErrNoSignatures] when no signature (in the accepted formats) is
// attached; a [*verify.VerificationError] when signatures are attached and
// none verified, with one failure per signature; or another error when the
// signatures could not be listed (registry failure) or ctx ended.
func (v *Verifier) Verify(ctx context.Context, ref oci.Reference) (*verify.Result, error) {
	if err := verify.RequirePinned(ref); err != nil {
		return nil, err
	}
	p, err := v.currentPolicy()
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", ref, err)
	}
	a := &attempt{ref: ref}
	if v.opts.format != verify.FormatBundle {
		v.legacy(ctx, p, a)
	}
	if len(a.sigs) == 0 && v.opts.format != verify.FormatLegacy && ctx.Err() == nil {
		v.bundles(ctx, p, a)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i := range a.sigs {
		a.sigs[i].Verifier = v.opts.name
	}
	for i := range a.failures {
		a.failures[i].Verifier = v.opts.name
	}
	switch {
	case len(a.sigs) > 0:
		return &verify.Result{Ref: ref, Signatures: a.sigs}, nil
	case a.found == 0 && len(a.lookupErrs) == 0:
		return nil, verify.NoSignatures(ref, joinWhere(a.looked))
	case a.found == 0:
		// Never report "no signatures" when we could not look.
		return nil, fmt.Errorf("verify %s: %w", ref, errors.Join(a.lookupErrs...))
	default:
		return nil, &verify.VerificationError{Ref: ref, Failures: a.failures}
	}
}

func joinWhere(w []string) string {
	switch len(w) {
	case 0:
		return ""
	case 1:
		return w[0]
	default:
		return w[0] + " and " + w[1]
	}
}

// fetch downloads a signature attachment after checking its declared size,
// and reads it to the end so that the client verifies size and digest.
func (v *Verifier) fetch(ctx context.Context, ref oci.Reference, desc oci.Descriptor) ([]byte, error) {
	if desc.Size < 0 {
		return nil, fmt.Errorf("%w: descriptor of %s declares a negative size", ErrInvalidSignature, desc.Digest)
	}
	if desc.Size > v.opts.maxAttachment {
		return nil, fmt.Errorf("%w: %s declares %d bytes, the limit is %d", ErrAttachmentTooLarge, desc.Digest, desc.Size, v.opts.maxAttachment)
	}
	rc, err := v.client.Blob(ctx, ref.WithTag(""), desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	// oci.Client.Blob fails the read that would pass desc.Size, and the
	// one that ends short or with other bytes: ReadAll returns exactly the
	// descriptor's content or an error.
	return io.ReadAll(rc)
}
