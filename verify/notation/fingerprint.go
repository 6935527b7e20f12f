package notation

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// fingerprint hashes what decides which signatures v accepts: the trust
// policy (re-encoded, so formatting does not matter), the trust stores'
// certificates, revocation, lenient levels and the limits.
func (v *Verifier) fingerprint() string {
	h := sha256.New()
	doc, _ := json.Marshal(v.doc) // a validated Document always encodes
	fmt.Fprintf(h, "policy=%x\n", sha256.Sum256(doc))
	for _, k := range v.store.keys() {
		fmt.Fprintf(h, "store=%q", k)
		for _, c := range v.store.certs[k] {
			fmt.Fprintf(h, " %x", sha256.Sum256(c.Raw))
		}
		fmt.Fprintln(h)
	}
	o := v.opts
	fmt.Fprintf(h, "revocation=%v lenient=%v maxsig=%d maxenv=%d\n", o.revocation, o.lenient, o.maxSignatures, o.maxEnvelope)
	return "notation:" + hex.EncodeToString(h.Sum(nil))
}
