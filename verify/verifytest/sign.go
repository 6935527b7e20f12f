package verifytest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ocisource/ocisource/oci"
)

// Media types, annotation keys and constants of cosign's two signature
// formats, as cosign v2.6 writes them.
const (
	// MediaTypeSimpleSigning is the layer media type of legacy signatures.
	MediaTypeSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	// MediaTypeBundle is the media type (and referrer artifact type) of
	// Sigstore bundles v0.3.
	MediaTypeBundle = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// MediaTypeInToto is the DSSE payload type of in-toto statements.
	MediaTypeInToto = "application/vnd.in-toto+json"
	// PredicateTypeCosignSign is the predicate type of the in-toto statement
	// `cosign sign --new-bundle-format` signs.
	PredicateTypeCosignSign = "https://sigstore.dev/cosign/sign/v1"

	// AnnotationSignature holds a legacy signature, base64.
	AnnotationSignature = "dev.cosignproject.cosign/signature"
	// AnnotationCertificate holds a keyless signature's leaf certificate, PEM.
	AnnotationCertificate = "dev.sigstore.cosign/certificate"
	// AnnotationChain holds the certificate's chain up to the root, PEM.
	AnnotationChain = "dev.sigstore.cosign/chain"
	// AnnotationBundle holds the Rekor entry and its signed entry timestamp, JSON.
	AnnotationBundle = "dev.sigstore.cosign/bundle"
	// AnnotationTimestamp holds an RFC 3161 timestamp over the signature, JSON.
	AnnotationTimestamp = "dev.sigstore.cosign/rfc3161timestamp"

	mediaTypeOCIConfig = "application/vnd.oci.image.config.v1+json"
)

// LegacySignatureTag returns the tag cosign stores the legacy signatures of
// the manifest with digest d under: "sha256-<hex>.sig".
func LegacySignatureTag(d oci.Digest) string {
	return oci.CosignTag(d, oci.CosignSignature)
}

type signOptions struct {
	tlog    *Sigstore
	noTlog  bool
	noTS    bool
	claimed oci.Digest
	chain   chainMode
	sigRepo *oci.Reference
	declare string // WithDeclaredPredicateType
}

// chainMode is how a bundle carries a keyless certificate.
type chainMode uint8

const (
	chainLeaf     chainMode = iota // v0.3: the leaf certificate alone
	chainNoRoot                    // v0.2: x509CertificateChain, leaf and intermediates
	chainWithRoot                  // v0.2: x509CertificateChain up to the root (malformed)
)

// SignOption configures [SignLegacy] and [SignBundle].
type SignOption func(*signOptions) error

// WithTransparencyLog records a keyed signature in s's Rekor log, as
// `cosign sign --key` does with --tlog-upload=true. The default records
// keyed signatures nowhere (--tlog-upload=false) and keyless ones in the log
// of the Sigstore that issued their certificate, if it has one.
func WithTransparencyLog(s *Sigstore) SignOption {
	return func(o *signOptions) error {
		if s == nil {
			return errors.New("verifytest: WithTransparencyLog(nil)")
		}
		o.tlog = s
		return nil
	}
}

// WithoutTransparencyLog records the signature in no log, even a keyless
// one whose Sigstore has a log, to test verifiers that must demand an entry.
// The default is described at [WithTransparencyLog].
func WithoutTransparencyLog() SignOption {
	return func(o *signOptions) error { o.noTlog = true; return nil }
}

// WithoutTimestamp leaves the RFC 3161 timestamp out of a keyless
// signature, to test verifiers that must demand one. The default adds one
// when the issuing Sigstore has a timestamp authority.
func WithoutTimestamp() SignOption {
	return func(o *signOptions) error { o.noTS = true; return nil }
}

// WithCertificateChain makes [BundleJSON] and [SignBundle] write a Sigstore
// bundle v0.2 whose verification material is an x509CertificateChain (the
// leaf certificate, then the intermediates), as cosign and sigstore clients
// wrote keyless bundles before v0.3. It applies to keyless signers only. The
// default is a v0.3 bundle with the leaf certificate alone.
func WithCertificateChain() SignOption {
	return func(o *signOptions) error {
		if o.chain == chainWithRoot {
			return errors.New("verifytest: WithCertificateChain and WithRootInChain contradict each other")
		}
		o.chain = chainNoRoot
		return nil
	}
}

// WithRootInChain is [WithCertificateChain] with the root certificate
// appended to the chain: a bundle the spec calls malformed (the chain must
// not hold the root, which the verifier's trusted root supplies), to test
// verifiers that must reject it. The default is described at
// WithCertificateChain.
func WithRootInChain() SignOption {
	return func(o *signOptions) error {
		if o.chain == chainNoRoot {
			return errors.New("verifytest: WithCertificateChain and WithRootInChain contradict each other")
		}
		o.chain = chainWithRoot
		return nil
	}
}

// MediaTypeBundleV02 is the media type of Sigstore bundles v0.2, which
// [WithCertificateChain] writes.
const MediaTypeBundleV02 = "application/vnd.dev.sigstore.bundle+json;version=0.2"

// WithSignatureRepository stores the signature in repo (its registry and
// repository; a tag or digest in it is ignored) instead of beside the
// artifact, as cosign does with COSIGN_REPOSITORY: the legacy
// "sha256-<hex>.sig" image, or the bundle referrer naming the artifact's
// digest as its subject. The signed payload still names the artifact. The
// default is the artifact's own repository.
func WithSignatureRepository(repo oci.Reference) SignOption {
	return func(o *signOptions) error {
		r := oci.Reference{Registry: repo.Registry, Repository: repo.Repository}
		if err := r.Validate(); err != nil {
			return fmt.Errorf("verifytest: WithSignatureRepository: %w", err)
		}
		o.sigRepo = &r
		return nil
	}
}

// target is where the signatures of ref are stored.
func (o *signOptions) target(ref oci.Reference) oci.Reference {
	if o.sigRepo == nil {
		return ref
	}
	return o.sigRepo.WithDigest(ref.Digest)
}

// WithClaimedDigest makes the signed payload name d instead of the digest of
// the reference being signed, while the signature is still attached to that
// reference: a signature replayed from another artifact. The default is the
// reference's digest.
func WithClaimedDigest(d oci.Digest) SignOption {
	return func(o *signOptions) error {
		if err := d.Validate(); err != nil {
			return fmt.Errorf("verifytest: WithClaimedDigest: %w", err)
		}
		o.claimed = d
		return nil
	}
}

func prepare(ref oci.Reference, s Signer, opts []SignOption) (*signOptions, oci.Digest, error) {
	var o signOptions
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, "", err
		}
	}
	if o.noTlog && o.tlog != nil {
		return nil, "", errors.New("verifytest: WithTransparencyLog and WithoutTransparencyLog contradict each other")
	}
	if ref.Digest == "" {
		return nil, "", fmt.Errorf("verifytest: sign %s: the reference must carry a digest", ref)
	}
	if err := ref.Digest.Validate(); err != nil {
		return nil, "", fmt.Errorf("verifytest: sign %s: %w", ref, err)
	}
	if s == nil {
		return nil, "", errors.New("verifytest: nil Signer")
	}
	claimed := ref.Digest
	if o.claimed != "" {
		claimed = o.claimed
	}
	return &o, claimed, nil
}

// logFor returns the Sigstore whose log records this signature, or nil.
func (o *signOptions) logFor(m *signingMaterial) *Sigstore {
	switch {
	case o.noTlog:
		return nil
	case o.tlog != nil:
		return o.tlog
	case m.sigstore != nil && !m.sigstore.opts.noRekor:
		return m.sigstore
	default:
		return nil
	}
}

// SimpleSigningPayload returns the payload cosign signs in the legacy
// format for the manifest with digest d in ref's repository.
func SimpleSigningPayload(ref oci.Reference, d oci.Digest) ([]byte, error) {
	var p struct {
		Critical struct {
			Identity struct {
				DockerReference string `json:"docker-reference"`
			} `json:"identity"`
			Image struct {
				DockerManifestDigest string `json:"docker-manifest-digest"`
			} `json:"image"`
			Type string `json:"type"`
		} `json:"critical"`
		Optional map[string]any `json:"optional"`
	}
	p.Critical.Identity.DockerReference = ref.Repo()
	p.Critical.Image.DockerManifestDigest = string(d)
	p.Critical.Type = "cosign container image signature"
	return json.Marshal(p)
}

// SignLegacy signs the manifest ref names (ref must carry a digest) in
// cosign's legacy format and attaches the signature as cosign does: a layer
// holding the simple-signing payload, with the signature, certificate chain,
// Rekor bundle and RFC 3161 timestamp in annotations, appended to the image
// tagged "sha256-<hex>.sig" in the same repository (or the one
// [WithSignatureRepository] names). It returns the
// descriptor of that signature image's manifest.
func SignLegacy(ctx context.Context, c *oci.Client, ref oci.Reference, s Signer, opts ...SignOption) (oci.Descriptor, error) {
	o, claimed, err := prepare(ref, s, opts)
	if err != nil {
		return oci.Descriptor{}, err
	}
	m, err := s.material()
	if err != nil {
		return oci.Descriptor{}, err
	}
	payload, err := SimpleSigningPayload(ref, claimed)
	if err != nil {
		return oci.Descriptor{}, err
	}
	sig, err := signMessage(m.priv, payload)
	if err != nil {
		return oci.Descriptor{}, fmt.Errorf("verifytest: signing: %w", err)
	}
	ann := map[string]string{AnnotationSignature: base64.StdEncoding.EncodeToString(sig)}
	if err := o.legacyAnnotations(ctx, m, ann, "hashedrekord", payload, sig, sig); err != nil {
		return oci.Descriptor{}, err
	}
	layer := oci.Descriptor{MediaType: MediaTypeSimpleSigning, Digest: oci.DigestOf(payload), Size: int64(len(payload)), Annotations: ann}
	return AppendLegacySignature(ctx, c, o.target(ref), layer, payload)
}

// legacyAnnotations adds to ann what cosign's legacy format carries beside
// a signature sig over content: the certificate and chain of a keyless
// signer, the transparency-log bundle (an entry of kind for content) when
// the options log, and an RFC 3161 timestamp over stamped when the signer's
// Sigstore has a timestamp authority.
func (o *signOptions) legacyAnnotations(ctx context.Context, m *signingMaterial, ann map[string]string, kind string, content, sig, stamped []byte) error {
	if m.certPEM != nil {
		ann[AnnotationCertificate] = string(m.certPEM)
		ann[AnnotationChain] = string(m.chainPEM)
	}
	if lg := o.logFor(m); lg != nil {
		e, err := lg.logEntry(ctx, kind, content, m.verifierPEM(), sig, false)
		if err != nil {
			return err
		}
		b, err := json.Marshal(e.cosignBundle())
		if err != nil {
			return err
		}
		ann[AnnotationBundle] = string(b)
	}
	if m.sigstore != nil && !o.noTS {
		ts, err := m.sigstore.timestamp(stamped)
		if err != nil {
			return err
		}
		if ts != nil {
			b, err := json.Marshal(struct{ SignedRFC3161Timestamp []byte }{ts})
			if err != nil {
				return err
			}
			ann[AnnotationTimestamp] = string(b)
		}
	}
	return nil
}

// AppendLegacySignature uploads payload and appends layer (its descriptor,
// annotations included) to the legacy signature image of the manifest ref
// names, creating the image when there is none. Use it to attach crafted
// signatures in tests; [SignLegacy] uses it for real ones.
func AppendLegacySignature(ctx context.Context, c *oci.Client, ref oci.Reference, layer oci.Descriptor, payload []byte) (oci.Descriptor, error) {
	return appendLegacy(ctx, c, ref, LegacySignatureTag(ref.Digest), layer, payload)
}

// appendLegacy appends layer to the image tagged tag in ref's repository.
func appendLegacy(ctx context.Context, c *oci.Client, ref oci.Reference, tag string, layer oci.Descriptor, payload []byte) (oci.Descriptor, error) {
	if ref.Digest == "" {
		return oci.Descriptor{}, fmt.Errorf("verifytest: attach to %s: the reference must carry a digest", ref)
	}
	repo := ref.WithTag("")
	if err := c.PushBlob(ctx, repo, oci.Descriptor{MediaType: layer.MediaType, Digest: layer.Digest, Size: layer.Size}, bytes.NewReader(payload)); err != nil {
		return oci.Descriptor{}, fmt.Errorf("verifytest: uploading signature payload: %w", err)
	}
	sigRef := ref.WithTag(tag)
	var layers []oci.Descriptor
	existing, err := c.Manifest(ctx, sigRef)
	switch {
	case err == nil:
		layers = existing.Layers
	case errors.Is(err, oci.ErrNotFound):
	default:
		return oci.Descriptor{}, fmt.Errorf("verifytest: reading existing signatures: %w", err)
	}
	layers = append(layers, layer)
	return pushLegacyManifest(ctx, c, sigRef, layers)
}

func pushLegacyManifest(ctx context.Context, c *oci.Client, sigRef oci.Reference, layers []oci.Descriptor) (oci.Descriptor, error) {
	diffIDs := make([]string, len(layers))
	for i, l := range layers {
		diffIDs[i] = string(l.Digest)
	}
	config, err := json.Marshal(map[string]any{
		"architecture": "", "os": "", "config": map[string]any{},
		"created": "0001-01-01T00:00:00Z",
		"rootfs":  map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	if err != nil {
		return oci.Descriptor{}, err
	}
	configDesc := oci.Descriptor{MediaType: mediaTypeOCIConfig, Digest: oci.DigestOf(config), Size: int64(len(config))}
	if err := c.PushBlob(ctx, sigRef.WithTag(""), configDesc, bytes.NewReader(config)); err != nil {
		return oci.Descriptor{}, fmt.Errorf("verifytest: uploading signature config: %w", err)
	}
	raw, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     oci.MediaTypeOCIManifest,
		"config":        configDesc,
		"layers":        layers,
	})
	if err != nil {
		return oci.Descriptor{}, err
	}
	d, err := c.PushManifest(ctx, sigRef, oci.MediaTypeOCIManifest, raw)
	if err != nil {
		return oci.Descriptor{}, fmt.Errorf("verifytest: pushing signature manifest: %w", err)
	}
	return d, nil
}

// InTotoStatement returns the in-toto statement `cosign sign
// --new-bundle-format` signs for the manifest with digest d.
func InTotoStatement(d oci.Digest) ([]byte, error) {
	return json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"digest": map[string]string{d.Algorithm(): d.Hex()}}},
		"predicateType": PredicateTypeCosignSign,
	})
}

// dssePAE is the DSSE pre-authentication encoding of payload.
func dssePAE(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(payload)))
	b.WriteByte(' ')
	b.Write(payload)
	return b.Bytes()
}

// BundleJSON signs the cosign in-toto statement for digest d with s and
// returns the Sigstore bundle (v0.3) `cosign sign --new-bundle-format`
// would attach, without attaching it.
func BundleJSON(ctx context.Context, d oci.Digest, s Signer, opts ...SignOption) ([]byte, error) {
	probe := oci.Reference{Registry: "x", Repository: "x", Digest: d}
	o, claimed, err := prepare(probe, s, opts)
	if err != nil {
		return nil, err
	}
	m, err := s.material()
	if err != nil {
		return nil, err
	}
	statement, err := InTotoStatement(claimed)
	if err != nil {
		return nil, err
	}
	return statementBundle(ctx, o, m, statement)
}

// statementBundle signs statement in a DSSE envelope and returns the
// Sigstore bundle that carries it.
func statementBundle(ctx context.Context, o *signOptions, m *signingMaterial, statement []byte) ([]byte, error) {
	sig, err := signMessage(m.priv, dssePAE(MediaTypeInToto, statement))
	if err != nil {
		return nil, fmt.Errorf("verifytest: signing: %w", err)
	}
	b := &protobundle.Bundle{
		MediaType: MediaTypeBundle,
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload:     statement,
			PayloadType: MediaTypeInToto,
			Signatures:  []*protodsse.Signature{{Sig: sig}},
		}},
		VerificationMaterial: &protobundle.VerificationMaterial{},
	}
	switch {
	case m.cert == nil && o.chain != chainLeaf:
		return nil, errors.New("verifytest: WithCertificateChain and WithRootInChain need a keyless signer")
	case m.cert != nil && o.chain != chainLeaf:
		b.MediaType = MediaTypeBundleV02
		certs := []*protocommon.X509Certificate{{RawBytes: m.cert.Raw}}
		for _, ic := range m.sigstore.fulcio.Intermediates {
			certs = append(certs, &protocommon.X509Certificate{RawBytes: ic.Raw})
		}
		if o.chain == chainWithRoot {
			certs = append(certs, &protocommon.X509Certificate{RawBytes: m.sigstore.fulcio.Root.Raw})
		}
		b.VerificationMaterial.Content = &protobundle.VerificationMaterial_X509CertificateChain{
			X509CertificateChain: &protocommon.X509CertificateChain{Certificates: certs},
		}
	case m.cert != nil:
		b.VerificationMaterial.Content = &protobundle.VerificationMaterial_Certificate{
			Certificate: &protocommon.X509Certificate{RawBytes: m.cert.Raw},
		}
	default:
		der, err := x509.MarshalPKIXPublicKey(m.priv.Public())
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(der)
		b.VerificationMaterial.Content = &protobundle.VerificationMaterial_PublicKey{
			PublicKey: &protocommon.PublicKeyIdentifier{Hint: base64.StdEncoding.EncodeToString(sum[:])},
		}
	}
	if lg := o.logFor(m); lg != nil {
		envelope, err := json.Marshal(map[string]any{
			"payloadType": MediaTypeInToto,
			"payload":     base64.StdEncoding.EncodeToString(statement),
			"signatures":  []any{map[string]string{"keyid": "", "sig": base64.StdEncoding.EncodeToString(sig)}},
		})
		if err != nil {
			return nil, err
		}
		e, err := lg.logEntry(ctx, "dsse", envelope, m.verifierPEM(), sig, true)
		if err != nil {
			return nil, err
		}
		tle, err := e.proto()
		if err != nil {
			return nil, err
		}
		b.VerificationMaterial.TlogEntries = []*protorekor.TransparencyLogEntry{tle}
	}
	if m.sigstore != nil && !o.noTS {
		ts, err := m.sigstore.timestamp(sig)
		if err != nil {
			return nil, err
		}
		if ts != nil {
			b.VerificationMaterial.TimestampVerificationData = &protobundle.TimestampVerificationData{
				Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: ts}},
			}
		}
	}
	return protojson.Marshal(b)
}

// SignBundle signs the manifest ref names (ref must carry a digest) as
// `cosign sign --new-bundle-format` does: a DSSE envelope over an in-toto
// statement whose subject is the digest, in a Sigstore bundle v0.3 attached
// to the manifest as an OCI referrer of artifact type [MediaTypeBundle]. It
// returns the descriptor of the referrer manifest.
func SignBundle(ctx context.Context, c *oci.Client, ref oci.Reference, s Signer, opts ...SignOption) (oci.Descriptor, error) {
	o, _, err := prepare(ref, s, opts)
	if err != nil {
		return oci.Descriptor{}, err
	}
	bundle, err := BundleJSON(ctx, ref.Digest, s, opts...)
	if err != nil {
		return oci.Descriptor{}, err
	}
	return attachBundle(ctx, c, ref, o.target(ref).WithTag(""), bundle, PredicateTypeCosignSign)
}

// AttachBundle attaches bundle (a Sigstore bundle's JSON) to the manifest
// ref names as an OCI referrer the way cosign does, and returns the
// referrer manifest's descriptor. Use it to attach crafted bundles in tests;
// [SignBundle] uses it for real ones.
func AttachBundle(ctx context.Context, c *oci.Client, ref oci.Reference, bundle []byte) (oci.Descriptor, error) {
	return attachBundle(ctx, c, ref, ref.WithTag(""), bundle, PredicateTypeCosignSign)
}

// attachBundle attaches bundle to the manifest ref names as a referrer
// stored in repo, declaring predicateType in its annotations.
func attachBundle(ctx context.Context, c *oci.Client, ref, repo oci.Reference, bundle []byte, predicateType string) (oci.Descriptor, error) {
	if ref.Digest == "" {
		return oci.Descriptor{}, fmt.Errorf("verifytest: attach to %s: the reference must carry a digest", ref)
	}
	subject, err := c.Resolve(ctx, ref)
	if err != nil {
		return oci.Descriptor{}, fmt.Errorf("verifytest: resolving subject: %w", err)
	}
	layer := oci.Descriptor{MediaType: MediaTypeBundle, Digest: oci.DigestOf(bundle), Size: int64(len(bundle))}
	if err := c.PushBlob(ctx, repo, layer, bytes.NewReader(bundle)); err != nil {
		return oci.Descriptor{}, fmt.Errorf("verifytest: uploading bundle: %w", err)
	}
	empty := []byte("{}")
	config := oci.Descriptor{MediaType: oci.MediaTypeOCIEmptyJSON, Digest: oci.DigestOf(empty), Size: int64(len(empty))}
	if err := c.PushBlob(ctx, repo, config, bytes.NewReader(empty)); err != nil {
		return oci.Descriptor{}, fmt.Errorf("verifytest: uploading empty config: %w", err)
	}
	raw, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     oci.MediaTypeOCIManifest,
		"artifactType":  MediaTypeBundle,
		"config":        config,
		"layers":        []oci.Descriptor{layer},
		"subject":       oci.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		"annotations": map[string]string{
			"dev.sigstore.bundle.content":       "dsse-envelope",
			"dev.sigstore.bundle.predicateType": predicateType,
			"org.opencontainers.image.created":  time.Now().UTC().Format(time.RFC3339),
		},
	})
	if err != nil {
		return oci.Descriptor{}, err
	}
	d, err := c.PushManifest(ctx, repo.WithDigest(oci.DigestOf(raw)), oci.MediaTypeOCIManifest, raw)
	if err != nil {
		return oci.Descriptor{}, fmt.Errorf("verifytest: pushing bundle referrer: %w", err)
	}
	return d, nil
}
