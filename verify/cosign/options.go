package cosign

import (
	"crypto"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/ocisource/ocisource/internal/optset"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/verify"
)

// Defaults of the limits on what a Verifier reads from the registry.
const (
	// DefaultMaxSignatures caps how many signatures (legacy layers, and
	// bundle referrers, each) are considered for one artifact.
	DefaultMaxSignatures = 100
	// DefaultMaxAttachmentSize caps the size of one signature attachment (a
	// simple-signing payload or a bundle), checked on its descriptor before
	// it is downloaded.
	DefaultMaxAttachmentSize = 1 << 20
)

// Identity is a keyless signer the verifier trusts: the OIDC issuer of the
// signing certificate and its subject (the certificate's subject alternative
// name: an email, a URI such as a CI workflow, ...). Each of the two is given
// either exactly or as a regular expression. Regular expressions must match
// the whole value: they are anchored with ^(?:...)$, so "example.com" never
// matches "evil-example.com.attacker.io".
type Identity struct {
	// Issuer is the exact OIDC issuer, e.g. "https://token.actions.githubusercontent.com".
	Issuer string
	// IssuerRegExp matches the whole issuer.
	IssuerRegExp string
	// Subject is the exact subject, e.g. "release@example.com".
	Subject string
	// SubjectRegExp matches the whole subject.
	SubjectRegExp string
	// Extensions are Fulcio certificate claims the certificate must also
	// carry, each exactly (as cosign's --certificate-github-workflow-* flags
	// and Kyverno's extensions demand them). A claim left empty is not
	// checked. The default is none.
	Extensions Extensions
}

// Extensions are claims of Fulcio's certificate extensions (OIDs
// 1.3.6.1.4.1.57264.1.*, see Fulcio's docs/oid-info.md), compared exactly
// with the values in the signing certificate. For a GitHub Actions
// workflow, for instance: SourceRepositoryURI
// "https://github.com/org/app", SourceRepositoryRef "refs/heads/main",
// BuildTrigger "push", BuildSignerURI
// "https://github.com/org/app/.github/workflows/release.yml@refs/heads/main",
// RunnerEnvironment "github-hosted". A field left empty is not checked.
// Matching is sigstore-go's (certificate.CompareExtensions).
type Extensions struct {
	// BuildSignerURI is the build instructions that signed (OID …1.9).
	BuildSignerURI string
	// BuildSignerDigest is the digest of those instructions (OID …1.10).
	BuildSignerDigest string
	// RunnerEnvironment is "github-hosted" or "self-hosted" (OID …1.11).
	RunnerEnvironment string
	// SourceRepositoryURI is the source repository built (OID …1.12).
	SourceRepositoryURI string
	// SourceRepositoryDigest is the source commit built (OID …1.13).
	SourceRepositoryDigest string
	// SourceRepositoryRef is the git ref built, e.g. "refs/tags/v1" (OID …1.14).
	SourceRepositoryRef string
	// SourceRepositoryIdentifier is the repository's immutable id (OID …1.15).
	SourceRepositoryIdentifier string
	// SourceRepositoryOwnerURI is the repository owner (OID …1.16).
	SourceRepositoryOwnerURI string
	// SourceRepositoryOwnerIdentifier is the owner's immutable id (OID …1.17).
	SourceRepositoryOwnerIdentifier string
	// BuildConfigURI is the top-level build instructions (OID …1.18).
	BuildConfigURI string
	// BuildConfigDigest is the digest of those instructions (OID …1.19).
	BuildConfigDigest string
	// BuildTrigger is the event that started the build, e.g. "push" (OID …1.20).
	BuildTrigger string
	// RunInvocationURI identifies the build run (OID …1.21).
	RunInvocationURI string
	// SourceRepositoryVisibilityAtSigning is "public" or "private" (OID …1.22).
	SourceRepositoryVisibilityAtSigning string
}

// fields lists the claims that are set, as name=value pairs in a fixed order.
func (e Extensions) fields() []string {
	all := []struct{ name, value string }{
		{"BuildSignerURI", e.BuildSignerURI},
		{"BuildSignerDigest", e.BuildSignerDigest},
		{"RunnerEnvironment", e.RunnerEnvironment},
		{"SourceRepositoryURI", e.SourceRepositoryURI},
		{"SourceRepositoryDigest", e.SourceRepositoryDigest},
		{"SourceRepositoryRef", e.SourceRepositoryRef},
		{"SourceRepositoryIdentifier", e.SourceRepositoryIdentifier},
		{"SourceRepositoryOwnerURI", e.SourceRepositoryOwnerURI},
		{"SourceRepositoryOwnerIdentifier", e.SourceRepositoryOwnerIdentifier},
		{"BuildConfigURI", e.BuildConfigURI},
		{"BuildConfigDigest", e.BuildConfigDigest},
		{"BuildTrigger", e.BuildTrigger},
		{"RunInvocationURI", e.RunInvocationURI},
		{"SourceRepositoryVisibilityAtSigning", e.SourceRepositoryVisibilityAtSigning},
	}
	var out []string
	for _, f := range all {
		if f.value != "" {
			out = append(out, fmt.Sprintf("%s %q", f.name, f.value))
		}
	}
	return out
}

// sigstore converts e to sigstore-go's extensions, which its certificate
// identities match.
func (e Extensions) sigstore() certificate.Extensions {
	return certificate.Extensions{
		BuildSignerURI:                      e.BuildSignerURI,
		BuildSignerDigest:                   e.BuildSignerDigest,
		RunnerEnvironment:                   e.RunnerEnvironment,
		SourceRepositoryURI:                 e.SourceRepositoryURI,
		SourceRepositoryDigest:              e.SourceRepositoryDigest,
		SourceRepositoryRef:                 e.SourceRepositoryRef,
		SourceRepositoryIdentifier:          e.SourceRepositoryIdentifier,
		SourceRepositoryOwnerURI:            e.SourceRepositoryOwnerURI,
		SourceRepositoryOwnerIdentifier:     e.SourceRepositoryOwnerIdentifier,
		BuildConfigURI:                      e.BuildConfigURI,
		BuildConfigDigest:                   e.BuildConfigDigest,
		BuildTrigger:                        e.BuildTrigger,
		RunInvocationURI:                    e.RunInvocationURI,
		SourceRepositoryVisibilityAtSigning: e.SourceRepositoryVisibilityAtSigning,
	}
}

// String formats the identity for messages, e.g.
// {issuer "https://issuer.example", subject ~"release@.*"}: a regular
// expression is marked with ~, and a part that is not set reads "no issuer"
// or "no subject". Extensions that are set follow, e.g.
// {issuer ..., subject ..., SourceRepositoryRef "refs/heads/main"}.
func (id Identity) String() string {
	parts := append([]string{identityPart("issuer", id.Issuer, id.IssuerRegExp), identityPart("subject", id.Subject, id.SubjectRegExp)}, id.Extensions.fields()...)
	return "{" + strings.Join(parts, ", ") + "}"
}

func identityPart(what, exact, re string) string {
	switch {
	case exact != "" && re != "":
		return fmt.Sprintf("%s %q and ~%q", what, exact, re)
	case exact != "":
		return fmt.Sprintf("%s %q", what, exact)
	case re != "":
		return fmt.Sprintf("%s ~%q", what, re)
	default:
		return "no " + what
	}
}

// anchor makes re match whole strings only.
func anchor(re string) string {
	if re == "" {
		return ""
	}
	// Wrapping is harmless when re already carries ^ and $.
	return "^(?:" + re + ")$"
}

// normalize validates id and anchors its regular expressions.
func (id Identity) normalize() (Identity, error) {
	switch {
	case id.Issuer != "" && id.IssuerRegExp != "":
		return id, fmt.Errorf("%w: identity %v: set Issuer or IssuerRegExp, not both", ErrInvalidOption, id)
	case id.Issuer == "" && id.IssuerRegExp == "":
		return id, fmt.Errorf("%w: identity %v: an issuer is required (set Issuer or IssuerRegExp)", ErrInvalidOption, id)
	case id.Subject != "" && id.SubjectRegExp != "":
		return id, fmt.Errorf("%w: identity %v: set Subject or SubjectRegExp, not both", ErrInvalidOption, id)
	case id.Subject == "" && id.SubjectRegExp == "":
		return id, fmt.Errorf("%w: identity %v: a subject is required (set Subject or SubjectRegExp)", ErrInvalidOption, id)
	}
	id.IssuerRegExp, id.SubjectRegExp = anchor(id.IssuerRegExp), anchor(id.SubjectRegExp)
	for _, re := range []string{id.IssuerRegExp, id.SubjectRegExp} {
		if re == "" {
			continue
		}
		if _, err := regexp.Compile(re); err != nil {
			return id, fmt.Errorf("%w: identity %v: %w", ErrInvalidOption, id, err)
		}
	}
	return id, nil
}

type options struct {
	client        *oci.Client
	clientOpts    []oci.Option
	keys          []keySource
	identities    []Identity
	noIdentity    bool
	rootJSON      []byte
	rootSource    string
	tuf           bool
	tufCacheDir   string
	tufRefresh    time.Duration
	requireTlog   bool
	requireSCT    bool
	requireTS     bool
	maxSignatures int
	maxAttachment int64
	format        verify.Format
	name          string
	sigRepo       *oci.Reference // registry and repository only

	predicateType     string // WithAttestation: verify attestations of this type
	predicatePolicies []predicatePolicy
	slsa              bool // WithSLSAPolicy given

	// setBy records which option set each single-valued setting, so that
	// a second one is an error rather than silently overriding the first.
	setBy optset.Set
	// keyFiles are the key files given, to refuse one given twice.
	keyFiles map[string]bool
}

// Settings that one option at most may set.
const (
	settingClient      = "registry client"
	settingRoot        = "trusted root"
	settingFormat      = "signature format"
	settingMaxSigs     = "signature count limit"
	settingMaxAttach   = "attachment size limit"
	settingName        = "verifier name"
	settingSigRepo     = "signature repository"
	settingAttestation = "attestation predicate type"
	settingTUFRefresh  = "TUF refresh interval"
	optRegistryOption  = "WithRegistryOptions"
)

// claim records that opt sets setting, and refuses an option that sets a
// setting another one (or an earlier call of the same) already set.
func (o *options) claim(setting, opt string) error {
	return o.setBy.Claim(ErrInvalidOption, setting, opt)
}

// Option configures a [Verifier]. Options that set one value (the client,
// the trusted root, the format, a limit, the name) may be given once:
// a second one is an error wrapping [ErrInvalidOption], never a silent
// override. Options that add (keys, identities, registry options) add up.
type Option func(*options) error

// WithClient fetches signatures with c, whatever client the caller that
// verifies would lend (see [Verifier.BindClient]). The default is the client
// the caller binds with [verify.BindClient] (the root Fetcher binds its
// own, so signatures travel with the same credentials, TLS settings, limits
// and request accounting as the artifact), and, for a verifier used on its
// own, a client built with [oci.NewClient] and no options (HTTPS,
// credentials from the docker config). Give it only to read signatures
// with other settings than the artifact on purpose. It conflicts with
// WithRegistryOptions.
func WithClient(c *oci.Client) Option {
	return func(o *options) error {
		if c == nil {
			return fmt.Errorf("%w: WithClient(nil)", ErrInvalidOption)
		}
		if err := o.claim(settingClient, "WithClient"); err != nil {
			return err
		}
		o.client = c
		return nil
	}
}

// WithRegistryOptions builds the verifier's own registry client from opts
// (auth, TLS, insecure ...), which it then keeps, like one given to
// [WithClient], whatever client a caller would lend. Several calls add up.
// The default is the client the caller binds, or [oci.NewClient] with no
// options for a verifier used on its own; see WithClient. It conflicts with
// WithClient.
func WithRegistryOptions(opts ...oci.Option) Option {
	return func(o *options) error {
		if prev := o.setBy[settingClient]; prev != optRegistryOption {
			if err := o.claim(settingClient, optRegistryOption); err != nil {
				return err
			}
		}
		o.clientOpts = append(o.clientOpts, opts...)
		return nil
	}
}

// WithKeys trusts the PEM-encoded public keys (ECDSA P-256/P-384/P-521,
// Ed25519 or RSA; "PUBLIC KEY" blocks as in cosign.pub): a signature is
// accepted when any one of them verifies it. Several keys may sit in one
// PEM input. Keys given by several WithKeys and [WithKeyFiles] add up; in
// messages they are named "key 1", "key 2" ... in the order given (a file's
// keys by its path), and "key 2#3" is the third PEM block of key 2. The same
// key given twice is an error. The default is no keys (keyless
// verification).
func WithKeys(pems ...[]byte) Option {
	return func(o *options) error {
		if len(pems) == 0 {
			return fmt.Errorf("%w: WithKeys(): no keys given", ErrInvalidOption)
		}
		for _, p := range pems {
			o.keys = append(o.keys, keySource{pem: p, name: o.nextKeyName(), opt: "WithKeys"})
		}
		return nil
	}
}

// WithKeyFiles trusts the PEM public keys in the files at paths, as
// [WithKeys] does; in messages they are named by their path. A file given
// twice is an error. The default is no keys.
func WithKeyFiles(paths ...string) Option {
	return func(o *options) error {
		if len(paths) == 0 {
			return fmt.Errorf("%w: WithKeyFiles(): no files given", ErrInvalidOption)
		}
		for _, p := range paths {
			if o.keyFiles[p] {
				return fmt.Errorf("%w: WithKeyFiles: key file %s given twice", ErrInvalidOption, p)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return fmt.Errorf("%w: reading key file: %w", ErrInvalidOption, err)
			}
			if o.keyFiles == nil {
				o.keyFiles = map[string]bool{}
			}
			o.keyFiles[p] = true
			o.keys = append(o.keys, keySource{pem: b, name: p, opt: "WithKeyFiles"})
		}
		return nil
	}
}

// keySource is one trusted key as an option gave it: PEM, a public key, or
// a signature verifier.
type keySource struct {
	name     string
	opt      string // the option that gave it
	pem      []byte
	pub      crypto.PublicKey
	verifier signature.Verifier
}

// nextKeyName names the next key "key N", N counting the keys of every key
// option given so far.
func (o *options) nextKeyName() string { return fmt.Sprintf("key %d", len(o.keys)+1) }

// keyOptions names the key options given, for messages: "WithKeys
// conflicts", "WithKeys and WithSignatureVerifiers conflict".
func (o *options) keyOptions() string {
	var names []string
	seen := map[string]bool{}
	for _, k := range o.keys {
		if !seen[k.opt] {
			seen[k.opt] = true
			names = append(names, k.opt)
		}
	}
	if len(names) == 1 {
		return names[0] + " conflicts"
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1] + " conflict"
}

// WithPublicKeys trusts public keys given as values (*ecdsa.PublicKey on
// P-256/P-384/P-521, ed25519.PublicKey, *rsa.PublicKey of at least 2048
// bits), as [WithKeys] trusts PEM ones: for instance keys read from an HSM
// through crypto11 or PKCS #11, or from any crypto.Signer's Public(). Keys
// add up with those of WithKeys, [WithKeyFiles] and
// [WithSignatureVerifiers]; they are named "key N" by their position among
// all of them. The same key given twice is an error. The default is no keys
// (keyless verification).
func WithPublicKeys(keys ...crypto.PublicKey) Option {
	return func(o *options) error {
		if len(keys) == 0 {
			return fmt.Errorf("%w: WithPublicKeys(): no keys given", ErrInvalidOption)
		}
		for i, k := range keys {
			if k == nil {
				return fmt.Errorf("%w: WithPublicKeys: key %d is nil", ErrInvalidKey, i+1)
			}
			o.keys = append(o.keys, keySource{pub: k, name: o.nextKeyName(), opt: "WithPublicKeys"})
		}
		return nil
	}
}

// WithSignatureVerifiers trusts signatures that any of vs verifies: sigstore
// signature.Verifier values, such as those a KMS hands over. The verifiers
// of sigstore's pkg/signature/kms (AWS, GCP, Azure, HashiCorp Vault) plug in
// without this module importing any cloud SDK: the caller imports the
// provider it uses and passes what it returns,
//
//	import (
//		"github.com/sigstore/sigstore/pkg/signature/kms"
//		_ "github.com/sigstore/sigstore/pkg/signature/kms/aws"
//	)
//	sv, err := kms.Get(ctx, "awskms:///arn:aws:kms:...", crypto.SHA256)
//	...
//	v, err := cosign.New(cosign.WithSignatureVerifiers(sv))
//
// Each verifier is used as it is (with its own hash function); its
// PublicKey is read once, in [New], to identify the key (Signature.KeyID,
// the verifier's fingerprint, the refusal of a key given twice), so New
// may reach the KMS then. Verifiers add up with the keys of [WithKeys],
// [WithKeyFiles] and [WithPublicKeys]; they are named "key N" by their
// position among all of them. The default is no keys (keyless
// verification).
func WithSignatureVerifiers(vs ...signature.Verifier) Option {
	return func(o *options) error {
		if len(vs) == 0 {
			return fmt.Errorf("%w: WithSignatureVerifiers(): no verifiers given", ErrInvalidOption)
		}
		for i, sv := range vs {
			if sv == nil {
				return fmt.Errorf("%w: WithSignatureVerifiers: verifier %d is nil", ErrInvalidKey, i+1)
			}
			o.keys = append(o.keys, keySource{verifier: sv, name: o.nextKeyName(), opt: "WithSignatureVerifiers"})
		}
		return nil
	}
}

// WithIdentities trusts keyless signatures whose certificate names one of
// ids. Keyless verification needs at least one identity (or
// [WithoutIdentityUnsafe]); each needs an issuer and a subject. The default
// is none.
func WithIdentities(ids ...Identity) Option {
	return func(o *options) error {
		if len(ids) == 0 {
			return fmt.Errorf("%w: WithIdentities(): no identities given", ErrInvalidOption)
		}
		for _, id := range ids {
			n, err := id.normalize()
			if err != nil {
				return err
			}
			o.identities = append(o.identities, n)
		}
		return nil
	}
}

// WithoutIdentityUnsafe accepts keyless signatures from any identity the
// trusted certificate authority vouches for. Anyone who can obtain a
// certificate (for the public-good Sigstore: anyone with an email address)
// can then sign. The default requires [WithIdentities].
func WithoutIdentityUnsafe() Option {
	return func(o *options) error { o.noIdentity = true; return nil }
}

// WithTrustedRootJSON trusts the Sigstore deployment described by a
// trusted_root.json document (certificate authorities, Rekor logs, CT logs,
// timestamp authorities): a private or air-gapped deployment, or a pinned
// copy of the public-good one. Nothing is fetched from the network. What the
// root lists decides what is required: a transparency-log entry when it lists
// Rekor logs, an SCT in keyless certificates when it lists CT logs, a signed
// timestamp when it lists timestamp authorities but no Rekor log. The default
// is no trusted root: keyed verification without transparency log, and no
// keyless verification. One trusted root may be given: it conflicts with
// WithTrustedRootFile, WithPublicGoodTUF and a second WithTrustedRootJSON.
func WithTrustedRootJSON(b []byte) Option {
	return func(o *options) error {
		if len(b) == 0 {
			return fmt.Errorf("%w: WithTrustedRootJSON: empty trusted root", ErrInvalidOption)
		}
		if err := o.claim(settingRoot, "WithTrustedRootJSON"); err != nil {
			return err
		}
		o.rootJSON = append([]byte(nil), b...)
		o.rootSource = "trusted root JSON"
		return nil
	}
}

// WithTrustedRootFile reads the trusted_root.json at path; see
// [WithTrustedRootJSON]. The default is no trusted root. It conflicts with
// the other trusted-root options and with a second WithTrustedRootFile.
func WithTrustedRootFile(path string) Option {
	return func(o *options) error {
		if err := o.claim(settingRoot, "WithTrustedRootFile"); err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%w: reading trusted root: %w", ErrInvalidOption, err)
		}
		if len(b) == 0 {
			return fmt.Errorf("%w: trusted root %s is empty", ErrInvalidOption, path)
		}
		o.rootJSON = b
		o.rootSource = path
		return nil
	}
}

// WithPublicGoodTUF trusts the public-good Sigstore deployment, whose
// trusted root is fetched over the network through TUF on the first
// verification, again every [DefaultTUFRefresh] ([WithTUFRefresh]), and
// cached in cacheDir ("" means sigstore-go's
// default, $HOME/.sigstore/root). This is the only option that makes the
// verifier use a network other than the registry's. The default is no
// trusted root; it conflicts with WithTrustedRootJSON, WithTrustedRootFile
// and a second WithPublicGoodTUF.
func WithPublicGoodTUF(cacheDir string) Option {
	return func(o *options) error {
		if err := o.claim(settingRoot, "WithPublicGoodTUF"); err != nil {
			return err
		}
		o.tuf = true
		o.tufCacheDir = cacheDir
		return nil
	}
}

// DefaultTUFRefresh is how long a trusted root fetched through TUF
// ([WithPublicGoodTUF]) is used before it is fetched again.
const DefaultTUFRefresh = 24 * time.Hour

// WithTUFRefresh sets how long a trusted root fetched through TUF is used
// before the next verification fetches it again ([DefaultTUFRefresh]), so a
// long-running verifier follows key rotations of the public-good deployment.
// The refresh runs in the background: verifications go on with the root
// they have, and a failed refresh keeps it and is tried again a few minutes
// later. It needs [WithPublicGoodTUF]; d must be at least a minute.
func WithTUFRefresh(d time.Duration) Option {
	return func(o *options) error {
		if err := o.claim(settingTUFRefresh, "WithTUFRefresh"); err != nil {
			return err
		}
		if d < time.Minute {
			return fmt.Errorf("%w: WithTUFRefresh(%v): want at least a minute", ErrInvalidOption, d)
		}
		o.tufRefresh = d
		return nil
	}
}

// WithRequireTlog demands a verified transparency-log entry for every
// signature, whatever the trusted root lists. It needs a trusted root with at
// least one Rekor log. The default demands one exactly when the trusted root
// lists a Rekor log.
func WithRequireTlog() Option {
	return func(o *options) error { o.requireTlog = true; return nil }
}

// WithRequireSCT demands a verified signed certificate timestamp in keyless
// certificates, whatever the trusted root lists. It needs a trusted root with
// at least one CT log. The default demands one exactly when the trusted root
// lists a CT log.
func WithRequireSCT() Option {
	return func(o *options) error { o.requireSCT = true; return nil }
}

// WithRequireSignedTimestamp demands a verified RFC 3161 timestamp for every
// keyless signature, whatever the trusted root lists. It needs a trusted root
// with at least one timestamp authority. The default demands one exactly when
// the trusted root lists timestamp authorities and no Rekor log.
func WithRequireSignedTimestamp() Option {
	return func(o *options) error { o.requireTS = true; return nil }
}

// WithMaxSignatures caps how many signatures are considered: a legacy
// signature image with more layers, or more bundle referrers, is refused
// before any of them is downloaded. The default is [DefaultMaxSignatures].
func WithMaxSignatures(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: WithMaxSignatures(%d): must be at least 1", ErrInvalidOption, n)
		}
		if err := o.claim(settingMaxSigs, "WithMaxSignatures"); err != nil {
			return err
		}
		o.maxSignatures = n
		return nil
	}
}

// WithMaxAttachmentSize caps the size of one signature attachment (a
// simple-signing payload or a bundle). A larger one is refused on its
// descriptor, before it is downloaded. The default is
// [DefaultMaxAttachmentSize].
func WithMaxAttachmentSize(n int64) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: WithMaxAttachmentSize(%d): must be at least 1", ErrInvalidOption, n)
		}
		if err := o.claim(settingMaxAttach, "WithMaxAttachmentSize"); err != nil {
			return err
		}
		o.maxAttachment = n
		return nil
	}
}

// WithFormat restricts which signature format is accepted:
// [verify.FormatLegacy] (tag "sha256-<hex>.sig"), [verify.FormatBundle]
// (Sigstore bundles attached as referrers) or [verify.FormatAny]. With
// FormatAny, legacy signatures are checked first and bundles only when no
// legacy signature verified, which saves registry requests. The default is
// FormatAny.
func WithFormat(f verify.Format) Option {
	return func(o *options) error {
		switch f {
		case verify.FormatAny, verify.FormatLegacy, verify.FormatBundle:
		default:
			return fmt.Errorf("%w: WithFormat: unknown format %v", ErrInvalidOption, f)
		}
		if err := o.claim(settingFormat, "WithFormat"); err != nil {
			return err
		}
		o.format = f
		return nil
	}
}

// WithSignatureRepository looks for signatures in repo instead of beside
// the artifact, as cosign does with COSIGN_REPOSITORY: the legacy
// "sha256-<hex>.sig" tags and the bundle referrers of the artifact's digest
// are read from repo, through the same client. repo is "host/path" or
// "oci://host/path", without tag or digest. The default is the artifact's
// own repository. It is part of the fingerprint, and may be given once.
func WithSignatureRepository(repo string) Option {
	return func(o *options) error {
		var (
			r   oci.Reference
			err error
		)
		if strings.HasPrefix(repo, oci.URLScheme) {
			r, err = oci.ParseURL(repo)
		} else {
			r, err = oci.ParseReference(repo)
		}
		if err != nil {
			return fmt.Errorf("%w: WithSignatureRepository: %w", ErrInvalidOption, err)
		}
		if r.Tag != "" || r.Digest != "" {
			return fmt.Errorf("%w: WithSignatureRepository(%q): give a repository, without tag or digest", ErrInvalidOption, repo)
		}
		if err := o.claim(settingSigRepo, "WithSignatureRepository"); err != nil {
			return err
		}
		o.sigRepo = &oci.Reference{Registry: r.Registry, Repository: r.Repository}
		return nil
	}
}

// WithName names the verifier in results and errors (see [verify.Named]).
// The name is a label: it is not part of the policy's fingerprint. The
// default is "cosign keyed" or "cosign keyless".
func WithName(name string) Option {
	return func(o *options) error {
		if name == "" {
			return fmt.Errorf("%w: WithName(\"\"): empty name", ErrInvalidOption)
		}
		if err := o.claim(settingName, "WithName"); err != nil {
			return err
		}
		o.name = name
		return nil
	}
}

func (o *options) validate() error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...))
	}
	keyed := len(o.keys) > 0
	hasRoot := o.tuf || o.rootJSON != nil
	switch {
	case keyed && len(o.identities) > 0:
		fail("%s with WithIdentities: use one verifier per mode and combine them with verify.AnyOf", o.keyOptions())
	case keyed && o.noIdentity:
		fail("%s with WithoutIdentityUnsafe, which applies to keyless verification", o.keyOptions())
	case keyed && o.requireSCT:
		fail("%s with WithRequireSCT, which applies to keyless verification", o.keyOptions())
	case keyed && o.requireTS:
		fail("%s with WithRequireSignedTimestamp, which applies to keyless verification", o.keyOptions())
	case !keyed && !hasRoot:
		fail("no keys and no trusted root: give WithKeys/WithKeyFiles/WithPublicKeys/WithSignatureVerifiers, or a trusted root for keyless verification")
	case !keyed && len(o.identities) > 0 && o.noIdentity:
		fail("WithIdentities conflicts with WithoutIdentityUnsafe: give the identities, or knowingly accept any")
	case !keyed && len(o.identities) == 0 && !o.noIdentity:
		fail("keyless verification needs WithIdentities (or, knowingly, WithoutIdentityUnsafe)")
	}
	if o.predicateType == "" && len(o.predicatePolicies) > 0 {
		fail("WithPredicatePolicy and WithSLSAPolicy apply to attestation verifiers: add WithAttestation(predicateType)")
	} else if o.slsa && o.predicateType != PredicateTypeSLSAProvenanceV02 && o.predicateType != PredicateTypeSLSAProvenanceV1 {
		fail("%v, not %q", errSLSAType, o.predicateType)
	}
	if o.tufRefresh > 0 && !o.tuf {
		fail("WithTUFRefresh applies to a trusted root fetched through TUF: add WithPublicGoodTUF")
	}
	if !hasRoot && (o.requireTlog || o.requireSCT || o.requireTS) {
		fail("WithRequireTlog, WithRequireSCT and WithRequireSignedTimestamp need a trusted root")
	}
	return joinErrors(errs)
}
