package notation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"

	"github.com/ocisource/ocisource/internal/optset"
	"github.com/ocisource/ocisource/oci"
)

// Defaults of the limits on what a Verifier reads from the registry.
const (
	// DefaultMaxSignatures caps how many notation signatures are considered
	// for one artifact.
	DefaultMaxSignatures = 32
	// DefaultMaxEnvelopeSize caps the size of one signature envelope,
	// checked on its descriptor before it is downloaded. Envelopes are a
	// few KiB (a payload, a certificate chain, a timestamp).
	DefaultMaxEnvelopeSize = 1 << 20
	// MaxTrustPolicySize caps a trust policy document read by
	// [WithTrustPolicy] or [WithTrustPolicyFile].
	MaxTrustPolicySize = 1 << 20
	// MaxCertificateFileSize caps one certificate file or value of a trust
	// store.
	MaxCertificateFileSize = 1 << 20
)

// StoreType is the type of a trust store, as a trust policy's trustStores
// entries name it ("ca:acme" is store "acme" of type ca).
type StoreType = truststore.Type

// Trust store types.
const (
	// StoreCA holds the root (or intermediate) CA certificates signing
	// certificates chain to (signing scheme notary.x509).
	StoreCA = truststore.TypeCA
	// StoreSigningAuthority holds the roots of signing authorities (signing
	// scheme notary.x509.signingAuthority).
	StoreSigningAuthority = truststore.TypeSigningAuthority
	// StoreTSA holds the root CA certificates of RFC 3161 timestamp
	// authorities.
	StoreTSA = truststore.TypeTSA
)

type options struct {
	client     *oci.Client
	clientOpts []oci.Option

	policyJSON   []byte // as given
	policySource string
	policyDoc    *trustpolicy.Document // WithTrustPolicyDocument

	stores     []storeInput // WithTrustStore, in order
	storeDirs  []string     // WithTrustStoreDir
	flatCerts  []certInput  // WithCertificates
	revocation bool
	lenient    bool

	maxSignatures int
	maxEnvelope   int64
	name          string

	setBy optset.Set
}

// storeInput is one trust store's certificates as an option gave them.
type storeInput struct {
	typ   StoreType
	name  string
	certs []certInput
}

// certInput is one certificate value: PEM (one or more blocks) or DER.
type certInput struct {
	source string // for messages: "WithTrustStore(ca, acme) value 2", a file path
	data   []byte
}

// Settings that one option at most may set.
const (
	settingClient     = "registry client"
	settingPolicy     = "trust policy"
	settingMaxSigs    = "signature count limit"
	settingMaxEnv     = "envelope size limit"
	settingName       = "verifier name"
	settingRevocation = "revocation check"
	settingLenient    = "lenient levels"
	optRegistryOption = "WithRegistryOptions"
)

// claim records that opt sets setting, and refuses an option that sets a
// setting another one (or an earlier call of the same) already set.
func (o *options) claim(setting, opt string) error {
	return o.setBy.Claim(ErrInvalidOption, setting, opt)
}

// Option configures a [Verifier]. Options that set one value (the trust
// policy, the client, a limit, the name) may be given once: a second one is
// an error wrapping [ErrInvalidOption], never a silent override. Options
// that add (trust stores, certificates, registry options) add up.
type Option func(*options) error

// WithTrustPolicy verifies by the trust policy document b (the JSON of a
// trustpolicy.json, version "1.0"). It is required: give it, or
// [WithTrustPolicyFile] or [WithTrustPolicyDocument], exactly once. There
// is no default. A malformed or invalid document is an error wrapping
// [ErrInvalidTrustPolicy] from New.
func WithTrustPolicy(b []byte) Option {
	return func(o *options) error {
		if err := o.claim(settingPolicy, "WithTrustPolicy"); err != nil {
			return err
		}
		if len(b) == 0 {
			return fmt.Errorf("%w: WithTrustPolicy: empty trust policy document", ErrInvalidTrustPolicy)
		}
		if len(b) > MaxTrustPolicySize {
			return fmt.Errorf("%w: WithTrustPolicy: %d bytes, the limit is %d", ErrInvalidTrustPolicy, len(b), MaxTrustPolicySize)
		}
		o.policyJSON = bytes.Clone(b)
		o.policySource = "trust policy document"
		return nil
	}
}

// WithTrustPolicyFile reads the trust policy document at path; see
// [WithTrustPolicy]. There is no default; it conflicts with the other trust
// policy options.
func WithTrustPolicyFile(path string) Option {
	return func(o *options) error {
		if err := o.claim(settingPolicy, "WithTrustPolicyFile"); err != nil {
			return err
		}
		b, err := readBounded(path, MaxTrustPolicySize)
		if err != nil {
			return fmt.Errorf("%w: reading trust policy: %w", ErrInvalidTrustPolicy, err)
		}
		if len(b) == 0 {
			return fmt.Errorf("%w: trust policy %s is empty", ErrInvalidTrustPolicy, path)
		}
		o.policyJSON = b
		o.policySource = path
		return nil
	}
}

// WithTrustPolicyDocument verifies by doc, a parsed trust policy (a deep
// copy is taken: changing doc later changes nothing). There is no default;
// it conflicts with the other trust policy options.
func WithTrustPolicyDocument(doc *trustpolicy.Document) Option {
	return func(o *options) error {
		if err := o.claim(settingPolicy, "WithTrustPolicyDocument"); err != nil {
			return err
		}
		if doc == nil {
			return fmt.Errorf("%w: WithTrustPolicyDocument(nil)", ErrInvalidTrustPolicy)
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("%w: WithTrustPolicyDocument: %w", ErrInvalidTrustPolicy, err)
		}
		o.policyJSON = b
		o.policySource = "trust policy document"
		o.policyDoc = doc
		return nil
	}
}

// WithTrustStore adds certificates to the trust store of type typ named
// name, as the trust policy names it ("ca:acme" is WithTrustStore(StoreCA,
// "acme", ...)). Each value is PEM (one or more CERTIFICATE blocks) or one
// DER certificate. Certificates of ca and signingAuthority stores must be
// CA certificates or self-signed; those of tsa stores root CA certificates.
// Calls for the same store add up. The default is no stores.
func WithTrustStore(typ StoreType, name string, certs ...[]byte) Option {
	return func(o *options) error {
		if !validStoreType(typ) {
			return fmt.Errorf("%w: WithTrustStore: unknown trust store type %q (want %q, %q or %q)", ErrInvalidTrustStore, typ, StoreCA, StoreSigningAuthority, StoreTSA)
		}
		if !validStoreName(name) {
			return fmt.Errorf("%w: WithTrustStore(%s, %q): a store name is [a-zA-Z0-9_.-]+", ErrInvalidTrustStore, typ, name)
		}
		if len(certs) == 0 {
			return fmt.Errorf("%w: WithTrustStore(%s, %q): no certificates given", ErrInvalidTrustStore, typ, name)
		}
		in := storeInput{typ: typ, name: name}
		for i, c := range certs {
			in.certs = append(in.certs, certInput{source: fmt.Sprintf("WithTrustStore(%s, %q) value %d", typ, name, i+1), data: bytes.Clone(c)})
		}
		o.stores = append(o.stores, in)
		return nil
	}
}

// WithTrustStoreDir reads trust stores from dir, laid out as notation's
// trust store directory: dir/x509/<type>/<name>/<certificate files>, type
// being ca, signingAuthority or tsa (the notation CLI's
// $XDG_CONFIG_HOME/notation/truststore). Files are PEM or DER; symbolic
// links and nested directories are refused, as notation refuses them.
// Stores read add up with those of [WithTrustStore]. The default is no
// stores.
func WithTrustStoreDir(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return fmt.Errorf("%w: WithTrustStoreDir(\"\")", ErrInvalidTrustStore)
		}
		stores, err := readStoreDir(dir)
		if err != nil {
			return err
		}
		o.storeDirs = append(o.storeDirs, dir)
		o.stores = append(o.stores, stores...)
		return nil
	}
}

// WithCertificates trusts certs (PEM or DER values, as the .crt and .pem
// keys of a Flux notation Secret hold them) in every ca and
// signingAuthority trust store the trust policy names: what Flux's
// provider: notation does with the certificates of its Secret. Unlike Flux,
// they are not added to tsa stores: give timestamp roots with
// WithTrustStore(StoreTSA, ...). The default is none.
func WithCertificates(certs ...[]byte) Option {
	return func(o *options) error {
		if len(certs) == 0 {
			return fmt.Errorf("%w: WithCertificates(): no certificates given", ErrInvalidTrustStore)
		}
		for _, c := range certs {
			o.flatCerts = append(o.flatCerts, certInput{source: fmt.Sprintf("WithCertificates value %d", len(o.flatCerts)+1), data: bytes.Clone(c)})
		}
		return nil
	}
}

// WithRevocationCheck checks the revocation of signing and timestamping
// certificates (OCSP, then CRL) as the trust policy's level demands (strict:
// enforced; permissive and audit: logged; a "revocation" override as it
// says), over the network the certificates name, with requests bounded by
// ctx. The default does not check revocation at all, whatever the policy
// says, so that verification uses no network but the registry's.
func WithRevocationCheck() Option {
	return func(o *options) error {
		if err := o.claim(settingRevocation, "WithRevocationCheck"); err != nil {
			return err
		}
		o.revocation = true
		return nil
	}
}

// WithLenientLevelsUnsafe accepts trust policy statements whose level does
// not enforce every check: "permissive" (an expired or untimestamped
// signature is accepted), "audit" (a signature from any certificate is
// accepted), "skip" (nothing is verified; the result holds one signature
// of Level "skip") and overrides that log integrity-adjacent checks. The
// default refuses such statements in New.
func WithLenientLevelsUnsafe() Option {
	return func(o *options) error {
		if err := o.claim(settingLenient, "WithLenientLevelsUnsafe"); err != nil {
			return err
		}
		o.lenient = true
		return nil
	}
}

// WithClient fetches signatures with c, whatever client the caller would
// lend with [verify.BindClient]. The default is the client the caller
// binds (the root Fetcher binds its own), and for a verifier used on its
// own a client built with [oci.NewClient] and no options. It conflicts with
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

// WithRegistryOptions builds the verifier's own registry client from opts,
// which it then keeps like one given to [WithClient]. Several calls add up.
// The default is the client the caller binds; see WithClient. It conflicts
// with WithClient.
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

// WithMaxSignatures caps how many notation signatures are considered: more
// referrers of the notation artifact type are refused before any of them is
// downloaded. The default is [DefaultMaxSignatures].
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

// WithMaxEnvelopeSize caps the size of one signature envelope; a larger one
// is refused on its descriptor, before it is downloaded. The default is
// [DefaultMaxEnvelopeSize].
func WithMaxEnvelopeSize(n int64) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: WithMaxEnvelopeSize(%d): must be at least 1", ErrInvalidOption, n)
		}
		if err := o.claim(settingMaxEnv, "WithMaxEnvelopeSize"); err != nil {
			return err
		}
		o.maxEnvelope = n
		return nil
	}
}

// WithName names the verifier in results and errors (see [verify.Named]).
// It is a label, not part of the fingerprint. The default is "notation".
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

// readBounded reads the regular file at path, refusing one larger than
// limit.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s holds %d bytes, the limit is %d", path, fi.Size(), limit)
	}
	b := make([]byte, 0, fi.Size())
	buf := bytes.NewBuffer(b)
	if _, err := buf.ReadFrom(ioLimit(f, limit+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("%s holds more than %d bytes", path, limit)
	}
	return buf.Bytes(), nil
}
