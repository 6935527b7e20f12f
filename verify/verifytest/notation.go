package verifytest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/notaryproject/notation-core-go/signature"
	_ "github.com/notaryproject/notation-core-go/signature/cose" // registers the COSE envelope
	_ "github.com/notaryproject/notation-core-go/signature/jws"  // registers the JWS envelope
	notationgo "github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/signer"
	"github.com/notaryproject/tspclient-go"
	godigest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocisource/ocisource/oci"
)

// Media types of notation signatures, as notation v1 attaches them.
const (
	// ArtifactTypeNotation is the artifact type (and config media type) of
	// notation signature manifests.
	ArtifactTypeNotation = "application/vnd.cncf.notary.signature"
	// MediaTypeJWS is the media type of a JWS signature envelope.
	MediaTypeJWS = "application/jose+json"
	// MediaTypeCOSE is the media type of a COSE signature envelope.
	MediaTypeCOSE = "application/cose"
	// NotationStore is the trust store name [NotationCA.TrustPolicy] uses:
	// "ca:verifytest", and "tsa:verifytest" for timestamp roots.
	NotationStore = "verifytest"

	payloadMediaType = "application/vnd.cncf.notary.payload.v1+json"
)

// NotationCA is an in-memory X.509 certificate authority for notation
// signatures: a self-signed root (ECDSA P-256) that issues code-signing
// leaf certificates. Its certificate goes into a notation trust store of
// type ca.
type NotationCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// NewNotationCA returns a root CA with subject "CN=<name>,O=verifytest",
// valid from 30 days ago for ten years.
func NewNotationCA(name string) (*NotationCA, error) {
	cert, key, err := newRootCA(name)
	if err != nil {
		return nil, err
	}
	return &NotationCA{cert: cert, key: key}, nil
}

// newRootCA makes a self-signed ECDSA P-256 root "CN=<name>,O=verifytest",
// valid from 30 days ago for ten years.
func newRootCA(name string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"verifytest"}},
		NotBefore:             now.Add(-30 * 24 * time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	cert, err := createCert(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n.Add(n, big.NewInt(1))
}

func createCert(tmpl, parent *x509.Certificate, pub crypto.PublicKey, priv crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
	if err != nil {
		return nil, fmt.Errorf("verifytest: creating certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// Certificate returns the root certificate.
func (ca *NotationCA) Certificate() *x509.Certificate { return ca.cert }

// CertificatePEM returns the root certificate, PEM: what goes into the
// trust store (or a Flux notation Secret's .crt key).
func (ca *NotationCA) CertificatePEM() []byte { return certPEM(ca.cert) }

// TrustPolicy returns a trustpolicy.json (version 1.0) with one strict
// statement named "verifytest" for scopes (every repository, "*", when none
// is given) that trusts any identity the store "ca:"+[NotationStore] vouches
// for; with tsa true it also names the timestamp store "tsa:"+NotationStore,
// so signatures must carry a timestamp from a trusted authority (see
// [NotationTSA]).
func (ca *NotationCA) TrustPolicy(tsa bool, scopes ...string) []byte {
	return NotationTrustPolicy("strict", tsa, scopes...)
}

// NotationTrustPolicy returns a trustpolicy.json with one statement
// "verifytest" of the given level (strict, permissive, audit or skip) for
// scopes ("*" when none), trusting any identity of the store
// "ca:"+[NotationStore] (and "tsa:"+NotationStore with tsa). A skip
// statement names no stores.
func NotationTrustPolicy(level string, tsa bool, scopes ...string) []byte {
	if len(scopes) == 0 {
		scopes = []string{"*"}
	}
	st := map[string]any{
		"name":                  "verifytest",
		"registryScopes":        scopes,
		"signatureVerification": map[string]any{"level": level},
	}
	if level != "skip" {
		stores := []string{"ca:" + NotationStore}
		if tsa {
			stores = append(stores, "tsa:"+NotationStore)
		}
		st["trustStores"] = stores
		st["trustedIdentities"] = []string{"*"}
	}
	b, _ := json.MarshalIndent(map[string]any{"version": "1.0", "trustPolicies": []any{st}}, "", "  ")
	return b
}

// NotationSigner is a code-signing certificate issued by a [NotationCA] and
// its key.
type NotationSigner struct {
	key   crypto.Signer
	chain []*x509.Certificate // leaf, root
}

// NotationCertOption configures a certificate [NotationCA.Issue] issues.
type NotationCertOption func(*x509.Certificate)

// WithValidity sets the certificate's validity period. The default is
// from an hour ago for a day. A period that has ended gives an expired
// certificate; signatures made with it are dated within the period (see
// [SignNotation]).
func WithValidity(notBefore, notAfter time.Time) NotationCertOption {
	return func(c *x509.Certificate) { c.NotBefore, c.NotAfter = notBefore, notAfter }
}

// Issue returns a signer whose leaf certificate, subject
// "CN=<name>,O=verifytest,ST=WA,C=US" (a trust policy's trustedIdentities
// name it "x509.subject: C=US,ST=WA,O=verifytest,CN=<name>"), carries the digital-signature key usage and the
// code-signing extended key usage notation demands.
func (ca *NotationCA) Issue(name string, opts ...NotationCertOption) (*NotationSigner, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"verifytest"}, Province: []string{"WA"}, Country: []string{"US"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}
	for _, o := range opts {
		o(tmpl)
	}
	leaf, err := createCert(tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, err
	}
	return &NotationSigner{key: key, chain: []*x509.Certificate{leaf, ca.cert}}, nil
}

// Certificate returns the leaf certificate.
func (s *NotationSigner) Certificate() *x509.Certificate { return s.chain[0] }

// Subject returns the leaf certificate's subject as notation-go and
// verify.Signature.Subject spell it, e.g. "CN=release,O=verifytest,ST=WA,C=US".
func (s *NotationSigner) Subject() string { return s.chain[0].Subject.String() }

type notationOptions struct {
	mediaType string
	claimed   *ocispec.Descriptor
	tsa       *NotationTSA
	expiry    time.Duration
}

// NotationSignOption configures [SignNotation] and [NotationEnvelope].
type NotationSignOption func(*notationOptions) error

// WithEnvelope chooses the envelope format: [MediaTypeJWS] (the default,
// notation's) or [MediaTypeCOSE].
func WithEnvelope(mediaType string) NotationSignOption {
	return func(o *notationOptions) error {
		if mediaType != MediaTypeJWS && mediaType != MediaTypeCOSE {
			return fmt.Errorf("verifytest: WithEnvelope(%q): want %q or %q", mediaType, MediaTypeJWS, MediaTypeCOSE)
		}
		o.mediaType = mediaType
		return nil
	}
}

// WithSignedDescriptor signs d instead of the manifest the signature is
// attached to: a signature replayed from another artifact.
func WithSignedDescriptor(d oci.Descriptor) NotationSignOption {
	return func(o *notationOptions) error {
		o.claimed = &ocispec.Descriptor{MediaType: d.MediaType, Digest: godigest.Digest(d.Digest), Size: d.Size}
		return nil
	}
}

// WithTimestamp has tsa countersign the signature with an RFC 3161
// timestamp, as `notation sign --timestamp-url` does.
func WithTimestamp(tsa *NotationTSA) NotationSignOption {
	return func(o *notationOptions) error {
		if tsa == nil {
			return errors.New("verifytest: WithTimestamp(nil)")
		}
		o.tsa = tsa
		return nil
	}
}

// WithSignatureExpiry sets the signature's own expiry (notation sign
// --expiry). The default is none.
func WithSignatureExpiry(d time.Duration) NotationSignOption {
	return func(o *notationOptions) error { o.expiry = d; return nil }
}

// NotationEnvelope signs desc with s and returns the envelope. The signer
// is notation-go's generic signer; for a certificate that has expired (see
// [WithValidity]) the same envelope is built with notation-core-go directly,
// dated within the certificate's validity, since the generic signer dates
// signatures now.
func NotationEnvelope(ctx context.Context, desc oci.Descriptor, s *NotationSigner, opts ...NotationSignOption) ([]byte, string, error) {
	o := &notationOptions{mediaType: MediaTypeJWS}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, "", err
		}
	}
	target := ocispec.Descriptor{MediaType: desc.MediaType, Digest: godigest.Digest(desc.Digest), Size: desc.Size}
	if o.claimed != nil {
		target = *o.claimed
	}
	leaf := s.chain[0]
	now := time.Now()
	if now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		env, err := backdated(ctx, target, s, o)
		return env, o.mediaType, err
	}
	gs, err := signer.NewGenericSigner(s.key, s.chain)
	if err != nil {
		return nil, "", fmt.Errorf("verifytest: notation signer: %w", err)
	}
	so := notationgo.SignerSignOptions{SignatureMediaType: o.mediaType, ExpiryDuration: o.expiry}
	if o.tsa != nil {
		so.Timestamper, so.TSARootCAs = o.tsa, o.tsa.pool()
	}
	env, _, err := gs.Sign(ctx, target, so)
	if err != nil {
		return nil, "", fmt.Errorf("verifytest: notation signing: %w", err)
	}
	return env, o.mediaType, nil
}

// backdated signs with notation-core-go, dated an hour into the
// certificate's validity.
func backdated(ctx context.Context, target ocispec.Descriptor, s *NotationSigner, o *notationOptions) ([]byte, error) {
	payload, err := json.Marshal(map[string]any{"targetArtifact": target})
	if err != nil {
		return nil, err
	}
	ls, err := signature.NewLocalSigner(s.chain, s.key)
	if err != nil {
		return nil, fmt.Errorf("verifytest: notation signer: %w", err)
	}
	at := s.chain[0].NotBefore.Add(time.Minute)
	req := &signature.SignRequest{
		Payload:       signature.Payload{ContentType: payloadMediaType, Content: payload},
		Signer:        ls,
		SigningTime:   at,
		SigningScheme: signature.SigningSchemeX509,
		SigningAgent:  "verifytest",
	}
	if o.expiry != 0 {
		req.Expiry = at.Add(o.expiry)
	}
	if o.tsa != nil {
		req.Timestamper, req.TSARootCAs = o.tsa.at(at), o.tsa.pool()
	}
	env, err := signature.NewEnvelope(o.mediaType)
	if err != nil {
		return nil, err
	}
	b, err := env.Sign(req.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("verifytest: notation signing: %w", err)
	}
	return b, nil
}

// SignNotation signs the manifest ref names (ref must carry a digest) with
// s and attaches the signature the way notation v1 does: an OCI image
// manifest of artifact type [ArtifactTypeNotation] whose config is the
// empty JSON with that media type, whose one layer is the envelope and
// whose subject is the signed manifest, pushed by digest, so that the
// registry lists it as a referrer (or, without the referrers API, adds it
// to the "sha256-<hex>" index). It returns the signature manifest's
// descriptor.
func SignNotation(ctx context.Context, c *oci.Client, ref oci.Reference, s *NotationSigner, opts ...NotationSignOption) (oci.Descriptor, error) {
	if ref.Digest == "" {
		return oci.Descriptor{}, fmt.Errorf("verifytest: sign %s: the reference must carry a digest", ref)
	}
	subject, err := c.Resolve(ctx, ref)
	if err != nil {
		return oci.Descriptor{}, fmt.Errorf("verifytest: resolving subject: %w", err)
	}
	env, mt, err := NotationEnvelope(ctx, subject, s, opts...)
	if err != nil {
		return oci.Descriptor{}, err
	}
	return AttachNotation(ctx, c, ref, mt, env)
}

// AttachNotation attaches envelope (of media type mediaType) to the
// manifest ref names as a notation signature referrer, as [SignNotation]
// does; use it to attach crafted envelopes.
func AttachNotation(ctx context.Context, c *oci.Client, ref oci.Reference, mediaType string, envelope []byte) (oci.Descriptor, error) {
	subject, err := c.Resolve(ctx, ref)
	if err != nil {
		return oci.Descriptor{}, fmt.Errorf("verifytest: resolving subject: %w", err)
	}
	repo := ref.WithTag("").WithDigest("")
	layer := oci.Descriptor{MediaType: mediaType, Digest: oci.DigestOf(envelope), Size: int64(len(envelope))}
	if err := c.PushBlob(ctx, repo, layer, bytes.NewReader(envelope)); err != nil {
		return oci.Descriptor{}, fmt.Errorf("verifytest: uploading envelope: %w", err)
	}
	empty := []byte("{}")
	config := oci.Descriptor{MediaType: ArtifactTypeNotation, Digest: oci.DigestOf(empty), Size: int64(len(empty))}
	if err := c.PushBlob(ctx, repo, config, bytes.NewReader(empty)); err != nil {
		return oci.Descriptor{}, fmt.Errorf("verifytest: uploading config: %w", err)
	}
	raw, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     oci.MediaTypeOCIManifest,
		"artifactType":  ArtifactTypeNotation,
		"config":        config,
		"layers":        []oci.Descriptor{layer},
		"subject":       oci.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		"annotations": map[string]string{
			"io.cncf.notary.x509chain.thumbprint#S256": "[]",
			"org.opencontainers.image.created":         time.Now().UTC().Format(time.RFC3339),
		},
	})
	if err != nil {
		return oci.Descriptor{}, err
	}
	d, err := c.PushManifest(ctx, repo.WithDigest(oci.DigestOf(raw)), oci.MediaTypeOCIManifest, raw)
	if err != nil {
		return oci.Descriptor{}, fmt.Errorf("verifytest: pushing notation signature: %w", err)
	}
	return d, nil
}

// NotationTSA is an in-process RFC 3161 timestamp authority: it implements
// tspclient-go's Timestamper, so signing needs no network.
type NotationTSA struct {
	root *x509.Certificate
	leaf *x509.Certificate
	key  crypto.Signer
	now  func() time.Time
}

var _ tspclient.Timestamper = (*NotationTSA)(nil)

// RootPEM returns the TSA's root certificate, PEM: what goes into a trust
// store of type tsa.
func (t *NotationTSA) RootPEM() []byte { return certPEM(t.root) }

func (t *NotationTSA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(t.root)
	return p
}

// at returns a copy of t that stamps time at.
func (t *NotationTSA) at(at time.Time) *NotationTSA {
	c := *t
	c.now = func() time.Time { return at }
	return &c
}

// NewNotationTSA returns a timestamp authority: a root CA (for the tsa
// trust store) and a timestamping certificate it issued, both valid from 30
// days ago for ten years.
func NewNotationTSA() (*NotationTSA, error) {
	root, rootKey, err := newRootCA("verifytest TSA root")
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	// RFC 3161 demands the timestamping extended key usage, alone and
	// critical; Go's ExtKeyUsage field would make it non-critical.
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "verifytest TSA", Organization: []string{"verifytest"}},
		NotBefore:             root.NotBefore,
		NotAfter:              root.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtraExtensions:       []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}},
		BasicConstraintsValid: true,
	}
	leaf, err := createCert(leafTmpl, root, key.Public(), rootKey)
	if err != nil {
		return nil, err
	}
	return &NotationTSA{root: root, leaf: leaf, key: key, now: time.Now}, nil
}

// Timestamp implements tspclient.Timestamper: it answers req with a
// timestamp token over its message imprint, echoing its nonce, signed by
// the TSA's certificate (included when the request asks for it).
func (t *NotationTSA) Timestamp(_ context.Context, req *tspclient.Request) (*tspclient.Response, error) {
	der, err := req.MarshalBinary()
	if err != nil {
		return nil, err
	}
	parsed, err := timestamp.ParseRequest(der)
	if err != nil {
		return nil, fmt.Errorf("verifytest: TSA: %w", err)
	}
	ts := timestamp.Timestamp{
		HashAlgorithm:     parsed.HashAlgorithm,
		HashedMessage:     parsed.HashedMessage,
		Time:              t.now().UTC().Truncate(time.Second),
		Accuracy:          time.Second,
		Policy:            asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 99, 1},
		Nonce:             parsed.Nonce,
		AddTSACertificate: parsed.Certificates,
	}
	resp, err := ts.CreateResponseWithOpts(t.leaf, t.key, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("verifytest: TSA: %w", err)
	}
	var out tspclient.Response
	if err := out.UnmarshalBinary(resp); err != nil {
		return nil, fmt.Errorf("verifytest: TSA: %w", err)
	}
	return &out, nil
}
