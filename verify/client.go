package verify

import "github.com/ocisource/ocisource/oci"

// ClientBinder is an optional extension of [Verifier], implemented by
// verifiers that read signatures from a registry. BindClient returns a
// verifier that reads with c and otherwise behaves exactly as the receiver:
// the same policy and the same fingerprint. It must not modify the receiver,
// which other goroutines may be using; a verifier configured with a client
// of its own returns itself. Callers use [BindClient] rather than calling
// the method directly.
type ClientBinder interface {
	BindClient(c *oci.Client) Verifier
}

// BindClient returns v bound to c: a verifier that reads signatures with c,
// the client the caller fetches the artifact with, so that signatures travel
// with the same credentials, TLS settings, limits and request accounting.
// Verifiers implementing [ClientBinder] are bound, through every [Policy]
// ([AnyOf], [AllOf], [Threshold]) at any depth; verifiers configured with a
// client of their own (e.g. cosign.WithClient) keep it, and others are
// returned as they are. v itself is never modified, and its fingerprint
// ([FingerprintOf]) is unchanged. BindClient(v, nil) returns v.
func BindClient(v Verifier, c *oci.Client) Verifier {
	if c == nil || isNil(v) {
		return v
	}
	if b, ok := v.(ClientBinder); ok {
		if bound := b.BindClient(c); !isNil(bound) {
			return bound
		}
	}
	return v
}

// BindClient implements [ClientBinder]: it returns a copy of p whose
// verifiers are bound to c (see the function [BindClient]).
func (p *Policy) BindClient(c *oci.Client) Verifier {
	if c == nil {
		return p
	}
	bound := &Policy{kind: p.kind, n: p.n, vs: make([]Verifier, len(p.vs))}
	for i, v := range p.vs {
		bound.vs[i] = BindClient(v, c)
	}
	return bound
}
