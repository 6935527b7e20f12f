package verifytest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
)

// KeyType is the algorithm of a generated key pair.
type KeyType uint8

// Key types cosign supports for keyed signatures.
const (
	// KeyECDSAP256 is ECDSA on NIST P-256, cosign's default.
	KeyECDSAP256 KeyType = iota
	// KeyECDSAP384 is ECDSA on NIST P-384.
	KeyECDSAP384
	// KeyEd25519 is Ed25519.
	KeyEd25519
	// KeyRSA2048 is RSA with a 2048-bit modulus (PKCS #1 v1.5 signatures).
	KeyRSA2048
)

// String returns the algorithm's name, e.g. "ecdsa-p256".
func (t KeyType) String() string {
	switch t {
	case KeyECDSAP256:
		return "ecdsa-p256"
	case KeyECDSAP384:
		return "ecdsa-p384"
	case KeyEd25519:
		return "ed25519"
	case KeyRSA2048:
		return "rsa-2048"
	default:
		return fmt.Sprintf("KeyType(%d)", uint8(t))
	}
}

// KeyPair is a signing key and its public half, as `cosign generate-key-pair`
// would make. It is a [Signer]: signatures made with it are keyed.
type KeyPair struct {
	typ    KeyType
	priv   crypto.Signer
	pubPEM []byte
	keyID  string
}

// NewKeyPair generates an ECDSA P-256 key pair, cosign's default kind.
func NewKeyPair() (*KeyPair, error) { return GenerateKeyPair(KeyECDSAP256) }

// GenerateKeyPair generates a key pair of type t.
func GenerateKeyPair(t KeyType) (*KeyPair, error) {
	var (
		priv crypto.Signer
		err  error
	)
	switch t {
	case KeyECDSAP256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyECDSAP384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case KeyEd25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case KeyRSA2048:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("verifytest: unknown key type %v", t)
	}
	if err != nil {
		return nil, fmt.Errorf("verifytest: generating %v key: %w", t, err)
	}
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("verifytest: encoding %v public key: %w", t, err)
	}
	sum := sha256.Sum256(der)
	return &KeyPair{
		typ:    t,
		priv:   priv,
		pubPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		keyID:  hex.EncodeToString(sum[:]),
	}, nil
}

// Type returns the key's algorithm.
func (k *KeyPair) Type() KeyType { return k.typ }

// PublicKey returns the public key.
func (k *KeyPair) PublicKey() crypto.PublicKey { return k.priv.Public() }

// PublicKeyPEM returns the public key as a PEM "PUBLIC KEY" block, the
// format of cosign.pub.
func (k *KeyPair) PublicKeyPEM() []byte { return append([]byte(nil), k.pubPEM...) }

// KeyID returns the lowercase hex sha256 of the DER public key, which is
// what verify.Signature.KeyID reports for signatures made with this key.
func (k *KeyPair) KeyID() string { return k.keyID }

// PrivateKey returns the private key.
func (k *KeyPair) PrivateKey() crypto.Signer { return k.priv }

// CosignPrivateKeyPEM returns the private key encrypted with password in the
// format of cosign.key ("ENCRYPTED SIGSTORE PRIVATE KEY"), so that
// `cosign sign --key` can use it with COSIGN_PASSWORD set to password.
func (k *KeyPair) CosignPrivateKeyPEM(password []byte) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return nil, fmt.Errorf("verifytest: encoding private key: %w", err)
	}
	enc, err := encrypted.Encrypt(der, password)
	if err != nil {
		return nil, fmt.Errorf("verifytest: encrypting private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED SIGSTORE PRIVATE KEY", Bytes: enc}), nil
}

// signMessage signs msg the way cosign verifies keyed signatures by default:
// a SHA-256 digest for ECDSA and RSA (PKCS #1 v1.5), the message itself for
// Ed25519.
func signMessage(priv crypto.Signer, msg []byte) ([]byte, error) {
	if _, ok := priv.(ed25519.PrivateKey); ok {
		return priv.Sign(rand.Reader, msg, crypto.Hash(0))
	}
	sum := sha256.Sum256(msg)
	return priv.Sign(rand.Reader, sum[:], crypto.SHA256)
}

func (k *KeyPair) material() (*signingMaterial, error) {
	return &signingMaterial{priv: k.priv, keyPEM: k.pubPEM}, nil
}
