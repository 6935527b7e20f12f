package cosign

import (
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
)

// The verifiers without their recovery, for the fuzz targets: recoverInto
// turns a panic into a rejection so that hostile input never crashes a
// caller, which would also hide the panic from the fuzzer. A panic is a bug
// to find, in this package or in the Sigstore libraries, even though callers
// are shielded from it.
var (
	VerifyLegacyUnrecovered = (*Verifier).verifyLegacy
	VerifyBundleUnrecovered = (*Verifier).verifyBundle
)

// SetTUF replaces the TUF fetch and clock for a test; the returned function
// restores them.
func SetTUF(fetch func() (root.TrustedMaterial, error), now func() time.Time) (restore func()) {
	oldFetch, oldNow := fetchTrustedRoot, tufNow
	fetchTrustedRoot = func(*tuf.Options) (root.TrustedMaterial, error) { return fetch() }
	tufNow = now
	return func() { fetchTrustedRoot, tufNow = oldFetch, oldNow }
}
