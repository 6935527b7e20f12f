package verifytest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"sync/atomic"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/rekor/pkg/generated/models"
	rekortypes "github.com/sigstore/rekor/pkg/types"
	_ "github.com/sigstore/rekor/pkg/types/dsse/v0.0.1"         // registers the dsse entry kind
	_ "github.com/sigstore/rekor/pkg/types/hashedrekord/v0.0.1" // registers the hashedrekord entry kind
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
)

// Sigstore is a virtual, in-process Sigstore deployment (sigstore-go's
// pkg/testing/ca): a Fulcio-like certificate authority, a Rekor-like
// transparency log and a timestamp authority, all with fresh keys. It issues
// short-lived certificates for any identity, so keyless signing needs no
// OIDC provider and no network. Its trusted root, from [Sigstore.TrustedRootJSON],
// is what a verifier of a private Sigstore deployment is configured with.
//
// The certificate authority and the logs are valid for about an hour after
// NewSigstore; make a new one per test.
type Sigstore struct {
	vs *ca.VirtualSigstore
	// The certificate authority is our own rather than vs's, whose leaf
	// certificates always name the subject as an email address: a CI
	// workflow identity is a URI.
	fulcio    *root.FulcioCertificateAuthority
	fulcioKey crypto.Signer // the intermediate's key, which signs leaves
	opts      sigstoreOptions
	nextIndex atomic.Int64
}

type sigstoreOptions struct {
	noRekor bool
	noTSA   bool
	ctLog   bool
}

// SigstoreOption configures a [Sigstore].
type SigstoreOption func(*sigstoreOptions) error

// WithoutRekor leaves the transparency log out: the trusted root lists no
// Rekor log and keyless signatures carry no log entry (a common private
// deployment). Signatures then rely on the timestamp authority for their
// time. The default is a Rekor log, listed in the root and used by every
// keyless signature.
func WithoutRekor() SigstoreOption {
	return func(o *sigstoreOptions) error { o.noRekor = true; return nil }
}

// WithoutTimestampAuthority leaves the timestamp authority out of the
// trusted root and out of signatures. The default lists it and adds an
// RFC 3161 timestamp to every keyless signature.
func WithoutTimestampAuthority() SigstoreOption {
	return func(o *sigstoreOptions) error { o.noTSA = true; return nil }
}

// WithCTLog lists a certificate-transparency log in the trusted root. The
// virtual certificate authority embeds no SCT in the certificates it issues,
// so a verifier that (rightly) demands an SCT whenever the root lists CT logs
// rejects its keyless signatures: use it to test that rule. The default lists
// no CT log.
func WithCTLog() SigstoreOption {
	return func(o *sigstoreOptions) error { o.ctLog = true; return nil }
}

// NewSigstore starts a virtual Sigstore with fresh keys.
func NewSigstore(opts ...SigstoreOption) (*Sigstore, error) {
	s := &Sigstore{}
	for _, opt := range opts {
		if err := opt(&s.opts); err != nil {
			return nil, err
		}
	}
	if s.opts.noRekor && s.opts.noTSA {
		return nil, errors.New("verifytest: a Sigstore without Rekor and without a timestamp authority cannot date signatures")
	}
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		return nil, fmt.Errorf("verifytest: starting virtual Sigstore: %w", err)
	}
	s.vs = vs
	rootCert, rootKey, err := ca.GenerateRootCa()
	if err != nil {
		return nil, fmt.Errorf("verifytest: certificate authority root: %w", err)
	}
	interCert, interKey, err := ca.GenerateFulcioIntermediate(rootCert, rootKey)
	if err != nil {
		return nil, fmt.Errorf("verifytest: certificate authority intermediate: %w", err)
	}
	s.fulcio = &root.FulcioCertificateAuthority{Root: rootCert, Intermediates: []*x509.Certificate{interCert}, URI: "https://virtual.fulcio.sigstore.dev"}
	s.fulcioKey = interKey
	s.nextIndex.Store(1000)
	return s, nil
}

// TrustedRootJSON returns the deployment's trusted_root.json: its
// certificate authority and, unless left out by options, its Rekor log and
// timestamp authority (and its CT log with [WithCTLog]).
func (s *Sigstore) TrustedRootJSON() ([]byte, error) {
	// The virtual Sigstore keys its logs by the hex key id and keeps that hex
	// string's bytes as the ID, while a real trusted root carries the raw key
	// id. Re-key so that verifiers reading the JSON find the log keys.
	rekey := func(logs map[string]*root.TransparencyLog) (map[string]*root.TransparencyLog, error) {
		out := make(map[string]*root.TransparencyLog, len(logs))
		for id, l := range logs {
			raw, err := hex.DecodeString(id)
			if err != nil {
				return nil, fmt.Errorf("verifytest: log id %q: %w", id, err)
			}
			c := *l
			c.ID = raw
			out[id] = &c
		}
		return out, nil
	}
	var rekor, ct map[string]*root.TransparencyLog
	var tsas []root.TimestampingAuthority
	var err error
	if !s.opts.noRekor {
		if rekor, err = rekey(s.vs.RekorLogs()); err != nil {
			return nil, err
		}
	}
	if s.opts.ctLog {
		if ct, err = rekey(s.vs.CTLogs()); err != nil {
			return nil, err
		}
	}
	if !s.opts.noTSA {
		tsas = s.vs.TimestampingAuthorities()
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, []root.CertificateAuthority{s.fulcio}, ct, tsas, rekor)
	if err != nil {
		return nil, fmt.Errorf("verifytest: building trusted root: %w", err)
	}
	b, err := tr.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("verifytest: encoding trusted root: %w", err)
	}
	return b, nil
}

// Keyless returns a Signer that signs as the given OIDC identity: each
// signature gets a fresh key and a short-lived certificate from this
// Sigstore's certificate authority naming issuer (in the Fulcio issuer
// extensions) and subject (as the subject alternative name), as `cosign
// sign` does after an OIDC login. A subject that parses as a URL with a
// scheme, such as a GitHub Actions workflow identity
// "https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1",
// is a URI SAN, as Fulcio issues it for CI workflows; any other subject,
// such as "release@example.com", is an email SAN.
//
// Options add claims to the certificates, such as the CI extensions
// Fulcio issues for GitHub Actions ([WithCertificateExtensions]).
func (s *Sigstore) Keyless(issuer, subject string, opts ...KeylessOption) *KeylessSigner {
	k := &KeylessSigner{sigstore: s, issuer: issuer, subject: subject}
	for _, opt := range opts {
		opt(k)
	}
	return k
}

// KeylessSigner signs with certificates from a [Sigstore]; see [Sigstore.Keyless].
type KeylessSigner struct {
	sigstore        *Sigstore
	issuer, subject string
	ext             certificate.Extensions
}

// KeylessOption configures a [KeylessSigner].
type KeylessOption func(*KeylessSigner)

// WithCertificateExtensions makes the certificates carry ext as Fulcio's
// extensions (OIDs 1.3.6.1.4.1.57264.1.*), as Fulcio issues them for a CI
// workflow: SourceRepositoryURI, SourceRepositoryRef, BuildTrigger,
// BuildSignerURI, RunnerEnvironment and the others (OIDs …1.9 to …1.22),
// each as a DER UTF8String. The issuer comes from [Sigstore.Keyless], and
// the deprecated GithubWorkflow* fields are not issued: ext.Issuer and
// those are ignored. The default
// is the issuer extensions alone.
func WithCertificateExtensions(ext certificate.Extensions) KeylessOption {
	return func(k *KeylessSigner) { k.ext = ext; k.ext.Issuer = "" }
}

// Extensions returns the extensions the certificates carry besides the
// issuer; see [WithCertificateExtensions].
func (k *KeylessSigner) Extensions() certificate.Extensions { return k.ext }

// extensionValues lists e's set claims with their OIDs; der is true for
// every one issued (DER UTF8String), as Fulcio does for OIDs …1.9 on.
func extensionValues(e certificate.Extensions) []struct {
	oid   asn1.ObjectIdentifier
	value string
	der   bool
} {
	type ev = struct {
		oid   asn1.ObjectIdentifier
		value string
		der   bool
	}
	all := []ev{
		{certificate.OIDBuildSignerURI, e.BuildSignerURI, true},
		{certificate.OIDBuildSignerDigest, e.BuildSignerDigest, true},
		{certificate.OIDRunnerEnvironment, e.RunnerEnvironment, true},
		{certificate.OIDSourceRepositoryURI, e.SourceRepositoryURI, true},
		{certificate.OIDSourceRepositoryDigest, e.SourceRepositoryDigest, true},
		{certificate.OIDSourceRepositoryRef, e.SourceRepositoryRef, true},
		{certificate.OIDSourceRepositoryIdentifier, e.SourceRepositoryIdentifier, true},
		{certificate.OIDSourceRepositoryOwnerURI, e.SourceRepositoryOwnerURI, true},
		{certificate.OIDSourceRepositoryOwnerIdentifier, e.SourceRepositoryOwnerIdentifier, true},
		{certificate.OIDBuildConfigURI, e.BuildConfigURI, true},
		{certificate.OIDBuildConfigDigest, e.BuildConfigDigest, true},
		{certificate.OIDBuildTrigger, e.BuildTrigger, true},
		{certificate.OIDRunInvocationURI, e.RunInvocationURI, true},
		{certificate.OIDSourceRepositoryVisibilityAtSigning, e.SourceRepositoryVisibilityAtSigning, true},
	}
	var out []ev
	for _, x := range all {
		if x.value != "" {
			out = append(out, x)
		}
	}
	return out
}

// Issuer returns the OIDC issuer the certificates name.
func (k *KeylessSigner) Issuer() string { return k.issuer }

// Subject returns the identity the certificates name.
func (k *KeylessSigner) Subject() string { return k.subject }

// subjectURI returns the subject as a URI when it parses as a URL with a
// scheme, or nil: then it is an email address.
func subjectURI(subject string) *url.URL {
	u, err := url.Parse(subject)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") {
		return nil
	}
	return u
}

// Object identifiers of Fulcio's certificate extensions.
var (
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1} // raw bytes (deprecated, still issued)
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8} // DER UTF8String
)

// issue returns a leaf certificate for subject and issuer, valid for ten
// minutes, and its private key.
func (s *Sigstore) issue(issuer, subject string, ext certificate.Extensions) (*x509.Certificate, crypto.Signer, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	issuerV2, err := asn1.MarshalWithParams(issuer, "utf8")
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		NotBefore:    now,
		NotAfter:     now.Add(10 * time.Minute),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: []pkix.Extension{
			{Id: oidIssuerV1, Value: []byte(issuer)},
			{Id: oidIssuerV2, Value: issuerV2},
		},
	}
	for _, x := range extensionValues(ext) {
		value := []byte(x.value)
		if x.der {
			if value, err = asn1.MarshalWithParams(x.value, "utf8"); err != nil {
				return nil, nil, err
			}
		}
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: x.oid, Value: value})
	}
	if u := subjectURI(subject); u != nil {
		tmpl.URIs = []*url.URL{u}
	} else {
		tmpl.EmailAddresses = []string{subject}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.fulcio.Intermediates[0], priv.Public(), s.fulcioKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, priv, nil
}

func (k *KeylessSigner) material() (*signingMaterial, error) {
	cert, signer, err := k.sigstore.issue(k.issuer, k.subject, k.ext)
	if err != nil {
		return nil, fmt.Errorf("verifytest: issuing certificate for %s: %w", k.subject, err)
	}
	var chainPEM []byte
	for _, ic := range k.sigstore.fulcio.Intermediates {
		chainPEM = append(chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ic.Raw})...)
	}
	chainPEM = append(chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.sigstore.fulcio.Root.Raw})...)
	return &signingMaterial{
		priv:     signer,
		cert:     cert,
		certPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		chainPEM: chainPEM,
		sigstore: k.sigstore,
	}, nil
}

// Signer makes signatures: a [*KeyPair] (keyed) or a [*KeylessSigner].
type Signer interface {
	material() (*signingMaterial, error)
}

// signingMaterial is what one signature is made with.
type signingMaterial struct {
	priv     crypto.Signer
	keyPEM   []byte            // keyed: the public key
	cert     *x509.Certificate // keyless: the leaf
	certPEM  []byte
	chainPEM []byte
	sigstore *Sigstore // keyless: the issuing deployment
}

// verifierPEM is what the transparency log records as the verifier.
func (m *signingMaterial) verifierPEM() []byte {
	if m.certPEM != nil {
		return m.certPEM
	}
	return m.keyPEM
}

// logEntry is a transparency-log entry with its inclusion promise (SET) and,
// for bundles, an inclusion proof.
type logEntry struct {
	body           []byte
	integratedTime int64
	logIndex       int64
	logIDHex       string
	set            []byte
	proof          *models.InclusionProof
	kind           string
}

// logEntry records a signature in the virtual Rekor. kind is "hashedrekord"
// (artifact is the signed payload) or "dsse" (artifact is the envelope JSON).
func (s *Sigstore) logEntry(ctx context.Context, kind string, artifact, verifierPEM, sig []byte, withProof bool) (*logEntry, error) {
	props := rekortypes.ArtifactProperties{PublicKeyBytes: [][]byte{verifierPEM}, PKIFormat: "x509"}
	switch kind {
	case "hashedrekord":
		sum := sha256.Sum256(artifact)
		props.ArtifactHash = hex.EncodeToString(sum[:])
		props.SignatureBytes = sig
	case "dsse":
		props.ArtifactBytes = artifact
	default:
		return nil, fmt.Errorf("verifytest: unknown Rekor entry kind %q", kind)
	}
	pe, err := rekortypes.NewProposedEntry(ctx, kind, "0.0.1", props)
	if err != nil {
		return nil, fmt.Errorf("verifytest: proposing %s entry: %w", kind, err)
	}
	impl, err := rekortypes.CreateVersionedEntry(pe)
	if err != nil {
		return nil, fmt.Errorf("verifytest: creating %s entry: %w", kind, err)
	}
	body, err := rekortypes.CanonicalizeEntry(ctx, impl)
	if err != nil {
		return nil, fmt.Errorf("verifytest: canonicalizing %s entry: %w", kind, err)
	}
	logID, err := s.vs.RekorLogID()
	if err != nil {
		return nil, fmt.Errorf("verifytest: Rekor log id: %w", err)
	}
	e := &logEntry{body: body, integratedTime: time.Now().Unix(), logIDHex: logID, kind: kind}
	if withProof {
		// The virtual log proves inclusion in a one-entry tree.
		e.logIndex = 0
		if e.proof, err = s.vs.GetInclusionProof(body); err != nil {
			return nil, fmt.Errorf("verifytest: inclusion proof: %w", err)
		}
	} else {
		e.logIndex = s.nextIndex.Add(1)
	}
	e.set, err = s.vs.RekorSignPayload(tlog.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(body),
		IntegratedTime: e.integratedTime,
		LogIndex:       e.logIndex,
		LogID:          logID,
	})
	if err != nil {
		return nil, fmt.Errorf("verifytest: signing entry timestamp: %w", err)
	}
	return e, nil
}

// rekorBundleJSON is cosign's "dev.sigstore.cosign/bundle" annotation.
type rekorBundleJSON struct {
	SignedEntryTimestamp []byte
	Payload              struct {
		Body           string `json:"body"`
		IntegratedTime int64  `json:"integratedTime"`
		LogIndex       int64  `json:"logIndex"`
		LogID          string `json:"logID"`
	}
}

func (e *logEntry) cosignBundle() rekorBundleJSON {
	var b rekorBundleJSON
	b.SignedEntryTimestamp = e.set
	b.Payload.Body = base64.StdEncoding.EncodeToString(e.body)
	b.Payload.IntegratedTime = e.integratedTime
	b.Payload.LogIndex = e.logIndex
	b.Payload.LogID = e.logIDHex
	return b
}

func (e *logEntry) proto() (*protorekor.TransparencyLogEntry, error) {
	rawID, err := hex.DecodeString(e.logIDHex)
	if err != nil {
		return nil, err
	}
	tle := &protorekor.TransparencyLogEntry{
		LogIndex:          e.logIndex,
		LogId:             &protocommon.LogId{KeyId: rawID},
		KindVersion:       &protorekor.KindVersion{Kind: e.kind, Version: "0.0.1"},
		IntegratedTime:    e.integratedTime,
		InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: e.set},
		CanonicalizedBody: e.body,
	}
	if p := e.proof; p != nil {
		if p.RootHash == nil || p.TreeSize == nil || p.Checkpoint == nil {
			return nil, errors.New("verifytest: incomplete inclusion proof")
		}
		rootHash, err := hex.DecodeString(*p.RootHash)
		if err != nil {
			return nil, err
		}
		hashes := make([][]byte, len(p.Hashes))
		for i, h := range p.Hashes {
			if hashes[i], err = hex.DecodeString(h); err != nil {
				return nil, err
			}
		}
		tle.InclusionProof = &protorekor.InclusionProof{
			LogIndex:   e.logIndex,
			RootHash:   rootHash,
			TreeSize:   *p.TreeSize,
			Hashes:     hashes,
			Checkpoint: &protorekor.Checkpoint{Envelope: *p.Checkpoint},
		}
	}
	return tle, nil
}

// timestamp returns an RFC 3161 timestamp over sig from the virtual TSA, or
// nil when this deployment has none.
func (s *Sigstore) timestamp(sig []byte) ([]byte, error) {
	if s == nil || s.opts.noTSA {
		return nil, nil
	}
	ts, err := s.vs.TimestampResponse(sig)
	if err != nil {
		return nil, fmt.Errorf("verifytest: timestamping: %w", err)
	}
	return ts, nil
}
