// Package cosign verifies cosign signatures of OCI artifacts, keyed or
// keyless, in both of cosign's storage formats, on top of cosign v2's
// pkg/cosign and sigstore-go.
//
// A [Verifier] is built with [New] in one of two modes:
//
//   - keyed: [WithKeys] or [WithKeyFiles] (PEM), [WithPublicKeys] (any
//     crypto.PublicKey, from an HSM say) or [WithSignatureVerifiers] (sigstore
//     signature.Verifier values, as sigstore's kms.Get returns for AWS, GCP,
//     Azure or Vault keys) trust one or more public keys, and a signature is
//     accepted when any of them verifies it. With a trusted root
//     that lists Rekor logs, each signature must also be in the log.
//   - keyless: a trusted root ([WithTrustedRootJSON], [WithTrustedRootFile],
//     or, only when asked, [WithPublicGoodTUF]) and the identities allowed to
//     sign ([WithIdentities]; exact or anchored-regex issuer and subject).
//
// Signatures are found in the registry by the verifier itself, through an
// [oci.Client]: legacy signatures in the image tagged "sha256-<hex>.sig", and
// Sigstore bundles attached as OCI referrers (with the referrers tag-schema
// fallback); with [WithSignatureRepository] (cosign's COSIGN_REPOSITORY),
// both are looked up in another repository. [WithFormat] can demand one
// format. Every accepted signature
// names the pinned digest: the signed simple-signing payload or in-toto
// statement is checked here, independently of cosign's own claim check.
// The number of signatures and the size of each attachment are bounded and
// checked on descriptors before anything is downloaded.
//
// # Attestations
//
// With [WithAttestation], a Verifier checks in-toto attestations instead
// of signatures, with the same trust options: the legacy "sha256-<hex>.att"
// image and DSSE bundles attached as referrers. The predicate type is
// required; the statement's subject must name the pinned digest; predicate
// policies ([WithPredicatePolicy], or [WithSLSAPolicy] for SLSA provenance
// v0.2 and v1) decide on the predicate; and each accepted attestation
// carries its statement ([verify.Signature].Statement). To require a
// signature and an attestation, combine two Verifiers:
//
//	signed, _ := cosign.New(cosign.WithKeys(pub))
//	built, _ := cosign.New(cosign.WithKeys(pub),
//		cosign.WithAttestation(cosign.PredicateTypeSLSAProvenanceV1),
//		cosign.WithSLSAPolicy(cosign.SLSAPolicy{BuilderID: "https://github.com/actions/runner/github-hosted"}))
//	policy, _ := verify.AllOf(signed, built)
//
// SLSA fields and predicate policies are checked by hand over plain JSON
// (no in-toto library is needed to read a handful of fields); cosign's
// CheckOpts carry no predicate policy outside its CUE/Rego evaluation.
//
// # Which client reads the signatures
//
// Signatures must be read with the settings the artifact was read with: a
// private CA, an insecure (plain HTTP) registry, credentials, limits. A
// Verifier therefore implements [verify.ClientBinder]: the caller that
// fetches the artifact binds the verifier to its own client with
// [verify.BindClient] (the root package's Fetcher does so for every fetch,
// through any [verify.Policy]), and the signatures travel with the artifact's
// client. Nothing needs configuring for that, and a forgotten [WithClient]
// cannot send signature requests elsewhere. Binding returns a copy: the
// caller's Verifier is unchanged, and its [Verifier.Fingerprint] is the same.
//
// A Verifier built with [WithClient] or [WithRegistryOptions] keeps that
// client whatever it is bound to: give them only to read signatures with
// other settings on purpose. A Verifier that is neither built with one nor
// bound (used on its own, Verify called directly) reads with a client built
// by [oci.NewClient] with no options: HTTPS, credentials from the docker
// config.
//
// # Errors
//
// Verify keeps three outcomes apart: [verify.ErrNoSignatures] (nothing
// attached in the accepted formats), a [*verify.VerificationError]
// (signatures attached, none acceptable, one failure per candidate), and an
// error wrapping [verify.ErrUnavailable] and the client's [*oci.Error] when
// signatures could not be read (network error, 5xx, 401/403, timeout, a
// connection that dropped mid-download) and none of those that could be read
// verified: a signature that could not be read might have been the valid
// one, so that is not a verdict, and the caller retries. What the registry
// holds and our checks refuse (a signature blob whose digest or size is
// wrong, too many signatures, a manifest too large) is a rejection.
//
// A verifier never uses the network besides the registry, except to fetch
// the public-good trusted root through TUF when built with WithPublicGoodTUF
// (a failure to fetch it wraps verify.ErrUnavailable too).
package cosign

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

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
	// ErrMalformedBundle reports a Sigstore bundle that breaks the bundle
	// specification in a way sigstore-go does not check, such as a
	// certificate chain that holds a root certificate. It is reported
	// together with ErrInvalidSignature.
	ErrMalformedBundle = errors.New("malformed Sigstore bundle")
)

// Verifier verifies cosign signatures of digest-pinned artifacts. It
// implements [verify.Verifier] and [verify.ClientBinder], and is safe for
// concurrent use. It does not change after New: binding it to a client
// returns a copy.
type Verifier struct {
	opts      options
	client    *oci.Client
	ownClient bool // WithClient or WithRegistryOptions: never rebound
	keys      []*publicKey
	trust     *trustState // shared by the copies BindClient makes
}

var (
	_ verify.Verifier     = (*Verifier)(nil)
	_ verify.Named        = (*Verifier)(nil)
	_ verify.ClientBinder = (*Verifier)(nil)
)

// trustState holds the policy, known from New on, or (WithPublicGoodTUF)
// once the trusted root has been fetched. A fetch in flight is shared by
// the verifications that wait for it; each leaves when its context ends,
// and a failed fetch is dropped so that the next verification tries again.
// No lock is held while fetching.
//
// A root fetched through TUF is fetched again once refreshAt has passed: in
// the background, the current policy serving verifications meanwhile; a
// failed refresh keeps it and moves refreshAt a few minutes on.
type trustState struct {
	mu        sync.Mutex
	policy    *policy
	inflight  *rootFetch
	refreshAt time.Time // zero: never (a root given to New)
}

// tufRetry is how long after a failed refresh the next one is tried.
const tufRetry = 5 * time.Minute

// pinnedPolicy keys the policy a Verify call judges all its signatures by,
// in the context it passes down (per verifier: a policy combining several
// verifiers passes one context to each).
type pinnedPolicy struct{ v *Verifier }

// tufNow is the clock of TUF refreshes; tests replace it.
var tufNow = time.Now

// fetchTrustedRoot fetches the public-good trusted root; tests replace it.
var fetchTrustedRoot = func(opts *tuf.Options) (root.TrustedMaterial, error) {
	return root.FetchTrustedRootWithOptions(opts)
}

// rootFetch is one fetch of the public-good trusted root.
type rootFetch struct {
	done   chan struct{}
	policy *policy
	err    error
}

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
	}, trust: &trustState{}}
	for _, opt := range opts {
		if err := opt(&v.opts); err != nil {
			return nil, err
		}
	}
	if err := v.opts.validate(); err != nil {
		return nil, err
	}
	if len(v.opts.keys) > 0 {
		keys, err := parseKeys(v.opts.keys)
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
		if v.opts.predicateType != "" {
			v.opts.name += " attestation " + v.opts.predicateType
		}
	}
	v.client = v.opts.client
	_, v.ownClient = v.opts.setBy[settingClient] // WithClient or WithRegistryOptions
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
		if v.trust.policy, err = v.derivePolicy(tr); err != nil {
			return nil, err
		}
	case !v.opts.tuf:
		// Keyed without trusted root: no transparency log.
		v.trust.policy = &policy{}
	}
	return v, nil
}

// Name implements [verify.Named].
func (v *Verifier) Name() string { return v.opts.name }

// BindClient implements [verify.ClientBinder]: it returns a copy of v that
// reads signatures with c, unless v was built with [WithClient] or
// [WithRegistryOptions], in which case it returns v. The copy trusts and
// demands exactly what v does (same fingerprint, same name) and shares v's
// trusted root, so the public-good root is fetched once for both. v is not
// modified. Callers use [verify.BindClient], which also reaches verifiers
// inside a [verify.Policy].
func (v *Verifier) BindClient(c *oci.Client) verify.Verifier {
	if c == nil || v.ownClient {
		return v
	}
	bound := *v
	bound.client = c
	return &bound
}

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
	return p, joinErrors(errs)
}

// currentPolicy returns the policy, fetching the public-good trusted root
// through TUF on first use when so configured. A failure to fetch it wraps
// [verify.ErrUnavailable]: it says nothing about the artifact.
func (v *Verifier) currentPolicy(ctx context.Context) (*policy, error) {
	if p, ok := ctx.Value(pinnedPolicy{v}).(*policy); ok {
		return p, nil
	}
	s := v.trust
	s.mu.Lock()
	if p := s.policy; p != nil {
		if !s.refreshAt.IsZero() && !tufNow().Before(s.refreshAt) && s.inflight == nil {
			// Due for a refresh: in the background, this one goes on
			// with the root it has.
			s.inflight = &rootFetch{done: make(chan struct{})}
			go v.fetchRoot(s.inflight)
		}
		s.mu.Unlock()
		return p, nil
	}
	f := s.inflight
	if f == nil {
		f = &rootFetch{done: make(chan struct{})}
		s.inflight = f
		// sigstore-go's TUF client takes no context: the fetch runs on
		// its own, touching only this verifier's trust state, and every
		// verification waiting for it can leave with its context.
		go v.fetchRoot(f)
	}
	s.mu.Unlock()
	select {
	case <-f.done:
		return f.policy, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (v *Verifier) fetchRoot(f *rootFetch) {
	defer close(f.done)
	opts := tuf.DefaultOptions()
	if v.opts.tufCacheDir != "" {
		opts.CachePath = v.opts.tufCacheDir
	}
	tr, err := fetchTrustedRoot(opts)
	if err != nil {
		f.err = fmt.Errorf("%w: fetching the public-good trusted root through TUF: %w", verify.ErrUnavailable, err)
	} else {
		f.policy, f.err = v.derivePolicy(tr)
	}
	refresh := v.opts.tufRefresh
	if refresh == 0 {
		refresh = DefaultTUFRefresh
	}
	s := v.trust
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case f.err == nil:
		s.policy = f.policy
		s.refreshAt = tufNow().Add(refresh)
	case s.policy != nil:
		// A failed refresh: keep the root there is, try again later.
		s.refreshAt = tufNow().Add(min(tufRetry, refresh))
	}
	s.inflight = nil
}

// attempt collects what one verification found.
type attempt struct {
	ref         oci.Reference
	sigRef      oci.Reference // where its signatures are: ref, or ref's digest in the signature repository
	sigs        []verify.Signature
	failures    []verify.Failure
	found       int     // candidate signatures seen
	unavailable []error // what could not be read from the registry
	looked      []string
}

// fail records why candidate was not accepted: a rejection, or, when err
// says the registry could not be read, a signature that could not be
// checked.
func (a *attempt) fail(candidate string, err error) {
	if verify.IsUnavailable(err) {
		a.unavailable = append(a.unavailable, fmt.Errorf("%s: %w", candidate, err))
		return
	}
	a.failures = append(a.failures, verify.Failure{Candidate: candidate, Err: err})
}

// listFailed records that the signatures at where could not be listed:
// unread when the registry could not be read, else (a listing our limits
// refuse) one rejected candidate.
func (a *attempt) listFailed(where string, err error) {
	if !verify.IsUnavailable(err) {
		a.found++
	}
	a.fail(where, err)
}

// Verify verifies the signatures of the artifact ref names; ref must carry a
// digest. It returns every signature that verified; an error wrapping
// [verify.ErrNoSignatures] when no signature (in the accepted formats) is
// attached; a [*verify.VerificationError] when signatures are attached and
// none verified, with one failure per signature; an error wrapping
// [verify.ErrUnavailable] and the registry's error when some signatures
// could not be read and none of the others verified; or ctx's error when it
// ended.
func (v *Verifier) Verify(ctx context.Context, ref oci.Reference) (*verify.Result, error) {
	if err := verify.RequirePinned(ref); err != nil {
		return nil, err
	}
	p, err := v.currentPolicy(ctx)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, fmt.Errorf("verify %s: %w", ref, err)
	}
	// One policy for the whole verification, even if a TUF refresh lands
	// meanwhile: every signature of it is judged by the same root.
	ctx = context.WithValue(ctx, pinnedPolicy{v}, p)
	a := &attempt{ref: ref, sigRef: ref}
	if r := v.opts.sigRepo; r != nil {
		a.sigRef = r.WithDigest(ref.Digest)
	}
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
	case len(a.unavailable) > 0:
		// Never a verdict, nor "no signatures", when we could not look.
		return nil, verify.Unavailable(ref, unavailableError{a})
	case a.found == 0:
		return nil, verify.NoSignatures(ref, joinWhere(a.looked))
	default:
		return nil, &verify.VerificationError{Ref: ref, Failures: a.failures}
	}
}

// unavailableError lists what could not be read, and how many of the
// signatures that could be read were rejected.
type unavailableError struct{ a *attempt }

func (e unavailableError) Error() string {
	var b strings.Builder
	for i, err := range e.a.unavailable {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	if n := len(e.a.failures); n > 0 {
		fmt.Fprintf(&b, " (and %d signature(s) that could be read were rejected)", n)
	}
	return b.String()
}

func (e unavailableError) Unwrap() []error { return e.a.unavailable }

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

// in names the signature repository for messages, or is "" when signatures
// are beside the artifact.
func (a *attempt) in() string {
	if a.sigRef.Repo() == a.ref.Repo() {
		return ""
	}
	return " in " + a.sigRef.Repo()
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
	b, err := io.ReadAll(rc)
	if err != nil && !errors.Is(err, oci.ErrSizeMismatch) && !errors.Is(err, oci.ErrDigestMismatch) {
		// The connection failed mid-download: the signature is unread,
		// not wrong.
		return nil, fmt.Errorf("%w: reading %s: %w", verify.ErrUnavailable, desc.Digest, err)
	}
	return b, err
}

// joinErrors is errors.Join on one line: the errors separated by "; ", so
// that a message stays one log line. It returns nil when errs is empty.
func joinErrors(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return joined(errs)
}

type joined []error

func (j joined) Error() string {
	msgs := make([]string, len(j))
	for i, err := range j {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (j joined) Unwrap() []error { return j }
