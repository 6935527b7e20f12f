package cosign

// The verifiers without their recovery, for the fuzz targets: recoverInto
// turns a panic into a rejection so that hostile input never crashes a
// caller, which would also hide the panic from the fuzzer. A panic is a bug
// to find, in this package or in the Sigstore libraries, even though callers
// are shielded from it.
var (
	VerifyLegacyUnrecovered = (*Verifier).verifyLegacy
	VerifyBundleUnrecovered = (*Verifier).verifyBundle
)
