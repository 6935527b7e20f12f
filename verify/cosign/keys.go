package cosign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"

	"github.com/sigstore/sigstore/pkg/signature"
)

// publicKey is one trusted key with the verifiers to try: cosign signs and
// verifies with SHA-256 by default, but `cosign sign` with a P-384 or P-521
// key hashes with the curve's own hash, so both are accepted for those keys.
type publicKey struct {
	name      string
	id        string // hex sha256 of the DER SubjectPublicKeyInfo
	key       crypto.PublicKey
	verifiers []signature.Verifier
}

// parseKeys reads every "PUBLIC KEY" block of each PEM input, and the keys
// and verifiers given as values, and refuses a key given twice: trusting
// "two keys" that are one is a mistake to report.
func parseKeys(sources []keySource) ([]*publicKey, error) {
	var out []*publicKey
	seen := map[string]string{} // key id -> name
	add := func(k *publicKey) error {
		if prev, dup := seen[k.id]; dup {
			return fmt.Errorf("%w: %s is the same key as %s; give each key once", ErrInvalidOption, k.name, prev)
		}
		seen[k.id] = k.name
		out = append(out, k)
		return nil
	}
	for _, src := range sources {
		switch {
		case src.verifier != nil:
			k, err := newVerifierKey(src.verifier)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrInvalidKey, src.name, err)
			}
			k.name = src.name
			if err := add(k); err != nil {
				return nil, err
			}
			continue
		case src.pub != nil:
			der, err := x509.MarshalPKIXPublicKey(src.pub)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrInvalidKey, src.name, err)
			}
			k, err := newPublicKey(der)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrInvalidKey, src.name, err)
			}
			k.name = src.name
			if err := add(k); err != nil {
				return nil, err
			}
			continue
		}
		rest := src.pem
		n := 0
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			n++
			if block.Type != "PUBLIC KEY" {
				return nil, fmt.Errorf("%w: %s: PEM block %d is %q, want \"PUBLIC KEY\"", ErrInvalidKey, src.name, n, block.Type)
			}
			k, err := newPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: PEM block %d: %w", ErrInvalidKey, src.name, n, err)
			}
			k.name = src.name
			if n > 1 {
				k.name = fmt.Sprintf("%s#%d", src.name, n)
			}
			if err := add(k); err != nil {
				return nil, err
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("%w: %s: no PEM public key found", ErrInvalidKey, src.name)
		}
	}
	return out, nil
}

// newVerifierKey wraps a caller's verifier (a KMS key, say), used as it
// is; its public key identifies it.
func newVerifierKey(sv signature.Verifier) (*publicKey, error) {
	pub, err := sv.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("reading the verifier's public key: %w", err)
	}
	if pub == nil {
		return nil, fmt.Errorf("the verifier has no public key")
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("the verifier's public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return &publicKey{id: hex.EncodeToString(sum[:]), key: pub, verifiers: []signature.Verifier{sv}}, nil
}

func newPublicKey(der []byte) (*publicKey, error) {
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, err
	}
	hashes := []crypto.Hash{crypto.SHA256}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
		case elliptic.P384():
			hashes = append(hashes, crypto.SHA384)
		case elliptic.P521():
			hashes = append(hashes, crypto.SHA512)
		default:
			return nil, fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits is too weak (want at least 2048)", k.N.BitLen())
		}
	default:
		return nil, fmt.Errorf("unsupported key type %T", pub)
	}
	sum := sha256.Sum256(der)
	pk := &publicKey{id: hex.EncodeToString(sum[:]), key: pub}
	for _, h := range hashes {
		v, err := signature.LoadVerifier(pub, h)
		if err != nil {
			return nil, err
		}
		pk.verifiers = append(pk.verifiers, v)
	}
	return pk, nil
}
