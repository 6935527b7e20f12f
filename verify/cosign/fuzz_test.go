package cosign_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// fuzzDigest is the digest every fuzz input is checked against.
var fuzzDigest = oci.DigestOf([]byte("fuzz"))

// FuzzVerifyLegacySignature feeds arbitrary payloads and annotations to the
// legacy verifier, keyed and keyless: it must never panic, and must never
// accept a payload that does not name the digest. It calls the verifier
// without the recovery that shields callers, so that a panic fails it.
func FuzzVerifyLegacySignature(f *testing.F) {
	key, err := verifytest.NewKeyPair()
	if err != nil {
		f.Fatal(err)
	}
	ss, err := verifytest.NewSigstore()
	if err != nil {
		f.Fatal(err)
	}
	rootJSON, err := ss.TrustedRootJSON()
	if err != nil {
		f.Fatal(err)
	}
	keyed, err := cosign.New(cosign.WithKeys(key.PublicKeyPEM()))
	if err != nil {
		f.Fatal(err)
	}
	keyless, err := cosign.New(cosign.WithTrustedRootJSON(rootJSON), cosign.WithIdentities(cosign.Identity{Issuer: issuer, Subject: subject}))
	if err != nil {
		f.Fatal(err)
	}
	payload, err := verifytest.SimpleSigningPayload(oci.Reference{Registry: "r.example", Repository: "app"}, fuzzDigest)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(payload, `{"dev.cosignproject.cosign/signature":"MEUCIQ=="}`)
	f.Add(payload, `{"dev.cosignproject.cosign/signature":"AAAA","dev.sigstore.cosign/certificate":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n","dev.sigstore.cosign/bundle":"{\"SignedEntryTimestamp\":\"AA==\",\"Payload\":{\"body\":\"e30=\",\"integratedTime\":1,\"logIndex\":1,\"logID\":\"00\"}}","dev.sigstore.cosign/rfc3161timestamp":"{\"SignedRFC3161Timestamp\":\"MAA=\"}"}`)
	f.Add([]byte(`{"critical":{"image":{"docker-manifest-digest":"`+string(fuzzDigest)+`"}}}`), `{}`)
	f.Add([]byte(`null`), `{"dev.cosignproject.cosign/signature":""}`)
	f.Fuzz(func(t *testing.T, payload []byte, annotationsJSON string) {
		var ann map[string]string
		if json.Unmarshal([]byte(annotationsJSON), &ann) != nil {
			return
		}
		for _, v := range []*cosign.Verifier{keyed, keyless} {
			if _, err := cosign.VerifyLegacyUnrecovered(v, context.Background(), fuzzDigest, payload, ann); err == nil {
				t.Fatalf("fuzzed signature verified: payload %q annotations %q", payload, annotationsJSON)
			}
		}
	})
}

// FuzzVerifyBundle feeds arbitrary bundles to the bundle verifier, keyed and
// keyless: it must never panic and never accept one. Like
// FuzzVerifyLegacySignature, it calls the verifier without its recovery.
func FuzzVerifyBundle(f *testing.F) {
	key, err := verifytest.NewKeyPair()
	if err != nil {
		f.Fatal(err)
	}
	ss, err := verifytest.NewSigstore()
	if err != nil {
		f.Fatal(err)
	}
	rootJSON, err := ss.TrustedRootJSON()
	if err != nil {
		f.Fatal(err)
	}
	other, err := verifytest.NewKeyPair()
	if err != nil {
		f.Fatal(err)
	}
	keyed, err := cosign.New(cosign.WithKeys(other.PublicKeyPEM()), cosign.WithTrustedRootJSON(rootJSON))
	if err != nil {
		f.Fatal(err)
	}
	keyless, err := cosign.New(cosign.WithTrustedRootJSON(rootJSON), cosign.WithIdentities(cosign.Identity{Issuer: issuer, Subject: "nobody@example.com"}))
	if err != nil {
		f.Fatal(err)
	}
	// Real bundles by signers neither verifier trusts, as mutation seeds.
	for _, s := range []verifytest.Signer{key, ss.Keyless(issuer, subject)} {
		b, err := verifytest.BundleJSON(context.Background(), fuzzDigest, s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]}}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"AA=="},"signature":"AA=="}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range []*cosign.Verifier{keyed, keyless} {
			if _, err := cosign.VerifyBundleUnrecovered(v, context.Background(), fuzzDigest, b); err == nil {
				t.Fatalf("fuzzed bundle verified: %q", b)
			}
		}
	})
}
