// Package notation verifies Notary Project signatures of OCI artifacts
// (what the notation CLI signs) against a trust policy and a trust store,
// on top of notation-go v1.3's verifier. It is the counterpart of Flux's
// OCIRepository `spec.verify.provider: notation`.
//
// A [Verifier] is built with [New] from the two inputs Flux takes from the
// Secret named by `spec.verify.secretRef`:
//
//   - a trust policy document (trustpolicy.json, version "1.0"):
//     [WithTrustPolicy], [WithTrustPolicyFile] or [WithTrustPolicyDocument].
//     Its statements say which repositories (registryScopes) are verified at
//     which level, against which trust stores, and which signers
//     (trustedIdentities, X.509 distinguished names, or "*") are trusted.
//   - the trust store certificates the policy's "ca:NAME",
//     "signingAuthority:NAME" and "tsa:NAME" stores name:
//     [WithTrustStore] per store, [WithTrustStoreDir] for a directory in
//     notation's layout (x509/<type>/<name>/<certificate files>), or
//     [WithCertificates] for Flux's flat list of certificates (the .crt and
//     .pem keys of the Secret), which fills every ca and signingAuthority
//     store the policy names.
//
// Everything is checked in New: a malformed document, an unsupported
// version, a statement naming a store without certificates, a certificate
// that does not parse or a timestamp root that is not a root CA gives an
// error wrapping [ErrInvalidOption] (or [ErrInvalidTrustPolicy] /
// [ErrInvalidTrustStore]), never a verification failure later.
//
// # What is verified
//
// Signatures are found through the OCI referrers API (with the referrers
// tag-schema fallback, for registries such as Distribution that lack the
// API) as referrers of artifact type application/vnd.cncf.notary.signature,
// with JWS (application/jose+json) or COSE (application/cose) envelopes.
// They are listed and downloaded with this module's [oci.Client] (see
// "Which client reads the signatures" in verify/cosign: the same rules
// apply here), so the caller's credentials, TLS settings and limits apply;
// the number of signatures ([WithMaxSignatures]) and the size of each
// envelope ([WithMaxEnvelopeSize]) are bounded and checked on descriptors
// before anything is downloaded. notation-go checks each envelope: its
// integrity, that its certificate chain leads to the trust store and names
// a trusted identity, expiry, RFC 3161 timestamps against the policy's tsa
// stores (so a signature timestamped while its certificate was valid
// verifies after the certificate expired), and that the signed payload
// names the pinned digest, media type and size.
//
// Strict by default: a trust policy statement whose level does not enforce
// integrity, authenticity, timestamp and expiry checks ("permissive",
// "audit", "skip", or overrides that log one of them) is refused by New
// unless [WithLenientLevelsUnsafe] is given; an "audit" level, for instance,
// accepts signatures from anyone. Each accepted [verify.Signature] names the
// statement ([verify.Signature].Policy) and level (Level) that accepted it,
// and the signer's certificate subject and issuer (Subject, Issuer).
//
// # What is not done
//
// No plugins: a signature whose verification needs a notation plugin is
// rejected. No network besides the registry: revocation of signing and
// timestamping certificates (OCSP, CRL) is not checked unless
// [WithRevocationCheck] asks for it, whatever the policy's revocation
// setting says; then it is checked as the policy's level demands, over the
// network the certificates name. No trust policy or trust store is read
// from notation's configuration directory: only what is given to New.
//
// # Mapping from Flux
//
//	spec:
//	  verify:
//	    provider: notation
//	    secretRef: {name: notation-config}   # trustpolicy.json + *.crt/*.pem
//
// corresponds to
//
//	v, err := notation.New(
//		notation.WithTrustPolicy(secret["trustpolicy.json"]),
//		notation.WithCertificates(crtAndPemValues...))
//
// Flux also gives those certificates to the policy's tsa stores; this
// package does not (a code-signing CA is not thereby a timestamp
// authority): give timestamp roots with WithTrustStore(StoreTSA, name, ...).
// A "skip" statement makes Flux report the artifact as not verified; here it
// is refused, or with WithLenientLevelsUnsafe accepted with Level "skip".
//
// # Errors
//
// As in verify/cosign: [verify.ErrNoSignatures] when no notation signature
// is attached, a [*verify.VerificationError] when signatures are attached
// and none verified (one failure per signature, wrapping [ErrInvalidSignature],
// [ErrWrongArtifact], [ErrTooManySignatures] or [ErrEnvelopeTooLarge], and
// notation-go's own error), or when no trust policy statement applies to the
// repository ([ErrNoApplicablePolicy]); and an error wrapping
// [verify.ErrUnavailable] when signatures could not be read.
package notation
