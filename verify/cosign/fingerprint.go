package cosign

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/ocisource/ocisource/verify"
)

var _ verify.Fingerprinter = (*Verifier)(nil)

// Fingerprint summarises everything that decides which signatures v
// accepts: its keys, its trusted root (or the public-good TUF root), its
// identities (with their extensions), signature repository, format,
// requirements and limits, and for an attestation verifier its predicate
// type and the names of its predicate policies ([WithPredicatePolicy]). It implements [verify.Fingerprinter].
func (v *Verifier) Fingerprint() string {
	h := sha256.New()
	o := v.opts
	ids := make([]string, 0, len(v.keys))
	for _, k := range v.keys {
		ids = append(ids, k.id)
	}
	sort.Strings(ids)
	fmt.Fprintf(h, "keys=%q\n", ids)
	root := sha256.Sum256(o.rootJSON)
	fmt.Fprintf(h, "root=%x tuf=%v tufcache=%q\n", root, o.tuf, o.tufCacheDir)
	idents := make([]string, 0, len(o.identities))
	for _, id := range o.identities {
		s := fmt.Sprintf("%q|%q|%q|%q", id.Issuer, id.IssuerRegExp, id.Subject, id.SubjectRegExp)
		if ext := id.Extensions.fields(); len(ext) > 0 {
			// Only when set, so that fingerprints of policies without
			// extensions are those earlier versions recorded.
			s += fmt.Sprintf("|%q", ext)
		}
		idents = append(idents, s)
	}
	sort.Strings(idents)
	fmt.Fprintf(h, "identities=%q unsafe=%v\n", idents, o.noIdentity)
	fmt.Fprintf(h, "tlog=%v sct=%v ts=%v format=%d maxsig=%d maxatt=%d\n",
		o.requireTlog, o.requireSCT, o.requireTS, o.format, o.maxSignatures, o.maxAttachment)
	if o.sigRepo != nil {
		// Only when set, so that fingerprints of earlier policies stay.
		fmt.Fprintf(h, "sigrepo=%q\n", o.sigRepo.Repo())
	}
	if o.predicateType != "" {
		// Only when set, so that fingerprints of signature verifiers stay.
		names := make([]string, len(o.predicatePolicies))
		for i, pp := range o.predicatePolicies {
			names[i] = pp.name
		}
		sort.Strings(names)
		fmt.Fprintf(h, "attestation=%q policies=%q\n", o.predicateType, names)
	}
	return "cosign:" + hex.EncodeToString(h.Sum(nil))
}
