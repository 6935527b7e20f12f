package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Fingerprinter is an optional interface of a [Verifier] whose policy can be
// summarised as a string: equal fingerprints mean the verifier accepts and
// rejects exactly the same signatures (same keys, trusted roots, identities,
// formats, requirements). Callers that cache a verification outcome (the
// root Fetcher records it beside the content) use it to tell whether a past
// verification still answers for the current policy. A verifier that does
// not implement it, or returns "", has to be asked again.
type Fingerprinter interface {
	Fingerprint() string
}

// FingerprintOf returns v's fingerprint, or "" when v has none.
func FingerprintOf(v Verifier) string {
	if f, ok := v.(Fingerprinter); ok {
		return f.Fingerprint()
	}
	return ""
}

// combine fingerprints a combinator: its kind and its children's
// fingerprints, or "" when any child has none.
func combine(kind string, vs []Verifier) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s/%d", kind, len(vs))
	for _, v := range vs {
		fp := FingerprintOf(v)
		if fp == "" {
			return ""
		}
		fmt.Fprintf(h, "\x00%s", strings.ReplaceAll(fp, "\x00", ""))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Fingerprint implements [Fingerprinter]: the policy's kind, its threshold
// and its verifiers' fingerprints in order, or "" when one of them has none.
func (p *Policy) Fingerprint() string {
	switch p.kind {
	case policyAny:
		return combine("any", p.vs)
	case policyAll:
		return combine("all", p.vs)
	case policyThreshold:
		return combine(fmt.Sprintf("threshold:%d", p.n), p.vs)
	default:
		return ""
	}
}
