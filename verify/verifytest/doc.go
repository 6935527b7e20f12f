// Package verifytest is a test kit for signature verification: it generates
// key pairs, runs a virtual Sigstore deployment in-process (a certificate
// authority, and sigstore-go's pkg/testing/ca Rekor log and timestamp authority) that
// exports its trusted_root.json, and signs artifacts in a registry (typically
// an oci/ocitest one) keyed or keyless, in cosign's legacy format or as a
// Sigstore bundle, shaped exactly as cosign v2.6 attaches them; and attests
// them with in-toto statements of any predicate ([AttestLegacy],
// [AttestBundle]); and makes notation signatures ([NotationCA],
// [SignNotation], JWS or COSE, optionally timestamped by an in-process RFC
// 3161 authority, [NotationTSA]) with the trust policy and trust store a
// verify/notation Verifier needs ([NotationCA.TrustPolicy],
// [NotationCA.CertificatePEM]). Keyless
// identities are email addresses ("release@example.com") or URIs, such as
// the GitHub Actions workflow identities Fulcio issues
// ("https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1"),
// each in the kind of subject alternative name Fulcio would use.
//
// Nothing here uses the network besides the registry, and nothing needs a
// *testing.T: functions return errors, so examples and tools can use them too.
// The material is for tests only: keys are kept in memory and the virtual
// Sigstore's certificate authority is valid for about an hour.
//
// Helpers that attach crafted material ([AppendLegacySignature],
// [AttachBundle], [WithClaimedDigest], [WithoutTransparencyLog],
// [WithoutTimestamp], [WithRootInChain]) let tests check that a verifier
// rejects what it must.
package verifytest
