package cosign_test

// Each case of the "Signatures" section of SECURITY.md is a test here.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// rewriteLegacy replaces the legacy signature image of ref with one whose
// layers are edit(current layers).
func (e *env) rewriteLegacy(t *testing.T, ref oci.Reference, edit func([]oci.Descriptor) []oci.Descriptor) {
	t.Helper()
	ctx := context.Background()
	sigRef := ref.WithTag(verifytest.LegacySignatureTag(ref.Digest))
	m, err := e.client.Manifest(ctx, sigRef)
	if err != nil {
		t.Fatal(err)
	}
	e.pushLegacy(t, ref, m.Config, edit(m.Layers))
}

func (e *env) pushLegacy(t *testing.T, ref oci.Reference, config oci.Descriptor, layers []oci.Descriptor) {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeOCIManifest, "config": config, "layers": layers})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.PushManifest(context.Background(), ref.WithTag(verifytest.LegacySignatureTag(ref.Digest)), oci.MediaTypeOCIManifest, raw); err != nil {
		t.Fatal(err)
	}
}

func (e *env) legacyLayers(t *testing.T, ref oci.Reference) []oci.Descriptor {
	t.Helper()
	m, err := e.client.Manifest(context.Background(), ref.WithTag(verifytest.LegacySignatureTag(ref.Digest)))
	if err != nil {
		t.Fatal(err)
	}
	return m.Layers
}

func wantFailure(t *testing.T, err error, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("error does not wrap %v: %v", target, err)
	}
}

func TestNoSignaturesIsNotNoneValid(t *testing.T) {
	key := mustKey(t, verifytest.KeyECDSAP256)
	other := mustKey(t, verifytest.KeyECDSAP256)
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			e := newEnv(t)
			v := mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(key.PublicKeyPEM()))
			_, err := expect(t, v, e.ref, noSigs)
			if !strings.Contains(err.Error(), e.ref.Repository) {
				t.Errorf("error %q does not name the artifact", err)
			}
			e.sign(t, f.sign, e.ref, other)
			_, err = expect(t, v, e.ref, rejected)
			wantFailure(t, err, verify.ErrVerificationFailed)
			wantFailure(t, err, cosign.ErrInvalidSignature)
		})
	}
	t.Run("required format absent", func(t *testing.T) {
		e := newEnv(t)
		e.sign(t, verifytest.SignLegacy, e.ref, key)
		expect(t, mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(key.PublicKeyPEM()), cosign.WithFormat(verify.FormatBundle)), e.ref, noSigs)
		e2 := newEnv(t)
		e2.sign(t, verifytest.SignBundle, e2.ref, key)
		expect(t, mustVerifier(t, cosign.WithClient(e2.client), cosign.WithKeys(key.PublicKeyPEM()), cosign.WithFormat(verify.FormatLegacy)), e2.ref, noSigs)
		expect(t, mustVerifier(t, cosign.WithClient(e2.client), cosign.WithKeys(key.PublicKeyPEM())), e2.ref, passed)
	})
	t.Run("registry failure is not 'no signatures'", func(t *testing.T) {
		e := newEnv(t)
		e.reg.Inject(ocitest.Fault{PathContains: "/manifests/sha256-", Status: http.StatusInternalServerError})
		e.reg.Inject(ocitest.Fault{PathContains: "/referrers/", Status: http.StatusInternalServerError})
		v := mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(key.PublicKeyPEM()))
		_, err := expect(t, v, e.ref, unavailable)
		wantFailure(t, err, oci.ErrRegistry)
	})
}

func TestReplayedSignature(t *testing.T) {
	key := mustKey(t, verifytest.KeyECDSAP256)
	ss, rootJSON := mustSigstore(t)
	signers := []struct {
		name   string
		signer verifytest.Signer
		opts   func(c *oci.Client) []cosign.Option
	}{
		{"keyed", key, func(c *oci.Client) []cosign.Option {
			return []cosign.Option{cosign.WithClient(c), cosign.WithKeys(key.PublicKeyPEM())}
		}},
		{"keyless", ss.Keyless(issuer, subject), func(c *oci.Client) []cosign.Option {
			return []cosign.Option{cosign.WithClient(c), cosign.WithTrustedRootJSON(rootJSON), cosign.WithIdentities(cosign.Identity{Issuer: issuer, Subject: subject})}
		}},
	}
	for _, s := range signers {
		for _, f := range formats {
			t.Run(s.name+"/"+f.name, func(t *testing.T) {
				e := newEnv(t)
				other := push(t, e.reg, "app:v2", "v2")
				v := mustVerifier(t, s.opts(e.client)...)

				// A signature made for another artifact, attached to this one.
				e.sign(t, f.sign, e.ref, s.signer, verifytest.WithClaimedDigest(other.Digest))
				_, err := expect(t, v, e.ref, rejected)
				wantFailure(t, err, cosign.ErrWrongArtifact)
			})
		}
		t.Run(s.name+"/legacy image copied", func(t *testing.T) {
			e := newEnv(t)
			other := push(t, e.reg, "app:v2", "v2")
			e.sign(t, verifytest.SignLegacy, other, s.signer)
			v := mustVerifier(t, s.opts(e.client)...)
			expect(t, v, other, passed)
			// Copy the other artifact's whole signature image under this
			// artifact's signature tag.
			m, err := e.client.Manifest(context.Background(), other.WithTag(verifytest.LegacySignatureTag(other.Digest)))
			if err != nil {
				t.Fatal(err)
			}
			e.pushLegacy(t, e.ref, m.Config, m.Layers)
			_, err = expect(t, v, e.ref, rejected)
			wantFailure(t, err, cosign.ErrWrongArtifact)
		})
		t.Run(s.name+"/bundle copied", func(t *testing.T) {
			e := newEnv(t)
			other := push(t, e.reg, "app:v2", "v2")
			b, err := verifytest.BundleJSON(context.Background(), other.Digest, s.signer)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := verifytest.AttachBundle(context.Background(), e.client, e.ref, b); err != nil {
				t.Fatal(err)
			}
			v := mustVerifier(t, s.opts(e.client)...)
			_, err = expect(t, v, e.ref, rejected)
			wantFailure(t, err, cosign.ErrWrongArtifact)
		})
	}
}

// messageSignatureBundle is a Sigstore bundle holding a message signature
// (cosign sign-blob's kind, not a DSSE envelope) by key over the digest d.
func messageSignatureBundle(t *testing.T, key *verifytest.KeyPair, d oci.Digest) []byte {
	t.Helper()
	sum, err := hex.DecodeString(d.Hex())
	if err != nil {
		t.Fatal(err)
	}
	sig, err := key.PrivateKey().Sign(rand.Reader, sum, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{
		"mediaType":            verifytest.MediaTypeBundle,
		"verificationMaterial": map[string]any{"publicKey": map[string]string{"hint": key.KeyID()}},
		"messageSignature": map[string]any{
			"messageDigest": map[string]string{"algorithm": "SHA2_256", "digest": base64.StdEncoding.EncodeToString(sum)},
			"signature":     base64.StdEncoding.EncodeToString(sig),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMessageSignatureForAnotherDigest attaches to the pinned artifact (as a
// referrer whose subject is the pinned digest, so the referrer check passes)
// a bundle with a valid message signature over another artifact's digest.
// Only the bundle's own content names the other digest, so only the
// message-digest check can report it as a signature for another artifact.
func TestMessageSignatureForAnotherDigest(t *testing.T) {
	key := mustKey(t, verifytest.KeyECDSAP256)
	ctx := context.Background()
	e := newEnv(t)
	other := push(t, e.reg, "app:v2", "v2")
	v := mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(key.PublicKeyPEM()))

	// The same construction over the pinned digest verifies: the bundle is
	// well formed and only the digest differs below.
	if _, err := v.VerifyBundle(ctx, e.ref.Digest, messageSignatureBundle(t, key, e.ref.Digest)); err != nil {
		t.Fatalf("message signature over the pinned digest: %v", err)
	}
	theirs := messageSignatureBundle(t, key, other.Digest)
	if _, err := v.VerifyBundle(ctx, other.Digest, theirs); err != nil {
		t.Fatalf("message signature over the other digest, verified for it: %v", err)
	}

	referrer, err := verifytest.AttachBundle(ctx, e.client, e.ref, theirs)
	if err != nil {
		t.Fatal(err)
	}
	_, err = expect(t, v, e.ref, rejected)
	var ve *verify.VerificationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a *verify.VerificationError", err)
	}
	if len(ve.Failures) != 1 {
		t.Fatalf("failures = %v, want one, for the attached bundle", ve.Failures)
	}
	f := ve.Failures[0]
	if f.Candidate != "bundle "+string(referrer.Digest) || !errors.Is(f.Err, cosign.ErrWrongArtifact) || !strings.Contains(f.Err.Error(), string(e.ref.Digest)) {
		t.Errorf("failure = %q (candidate %q), want bundle %s rejected with ErrWrongArtifact naming %s", f, f.Candidate, referrer.Digest, e.ref.Digest)
	}
}

func TestCopiedRekorBundle(t *testing.T) {
	ss, rootJSON := mustSigstore(t)
	key := mustKey(t, verifytest.KeyECDSAP256)
	cases := []struct {
		name   string
		signer verifytest.Signer
		sopts  []verifytest.SignOption
		vopts  []cosign.Option
	}{
		{"keyless", ss.Keyless(issuer, subject), nil,
			[]cosign.Option{cosign.WithTrustedRootJSON(rootJSON), cosign.WithIdentities(cosign.Identity{Issuer: issuer, Subject: subject})}},
		{"keyed with tlog", key, []verifytest.SignOption{verifytest.WithTransparencyLog(ss)},
			[]cosign.Option{cosign.WithTrustedRootJSON(rootJSON), cosign.WithKeys(key.PublicKeyPEM())}},
	}
	for _, c := range cases {
		t.Run(c.name+"/legacy", func(t *testing.T) {
			e := newEnv(t)
			other := push(t, e.reg, "app:v2", "v2")
			e.sign(t, verifytest.SignLegacy, e.ref, c.signer, c.sopts...)
			e.sign(t, verifytest.SignLegacy, other, c.signer, c.sopts...)
			v := mustVerifier(t, append([]cosign.Option{cosign.WithClient(e.client)}, c.vopts...)...)
			res, _ := expect(t, v, e.ref, passed)
			if res.Signatures[0].Tlog == nil {
				t.Fatal("no tlog entry reported although the root lists Rekor")
			}
			stolen := e.legacyLayers(t, other)[0].Annotations[verifytest.AnnotationBundle]
			e.rewriteLegacy(t, e.ref, func(ls []oci.Descriptor) []oci.Descriptor {
				ls[0].Annotations[verifytest.AnnotationBundle] = stolen
				return ls
			})
			expect(t, v, e.ref, rejected)
			// And a signature stripped of its entry fails too.
			e.rewriteLegacy(t, e.ref, func(ls []oci.Descriptor) []oci.Descriptor {
				delete(ls[0].Annotations, verifytest.AnnotationBundle)
				return ls
			})
			expect(t, v, e.ref, rejected)
		})
		t.Run(c.name+"/bundle", func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			mine, err := verifytest.BundleJSON(ctx, e.ref.Digest, c.signer, c.sopts...)
			if err != nil {
				t.Fatal(err)
			}
			theirs, err := verifytest.BundleJSON(ctx, e.ref.Digest, c.signer, c.sopts...)
			if err != nil {
				t.Fatal(err)
			}
			v := mustVerifier(t, append([]cosign.Option{cosign.WithClient(e.client)}, c.vopts...)...)
			if _, err := v.VerifyBundle(ctx, e.ref.Digest, mine); err != nil {
				t.Fatalf("untampered bundle: %v", err)
			}
			var mb, tb map[string]any
			if err := json.Unmarshal(mine, &mb); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(theirs, &tb); err != nil {
				t.Fatal(err)
			}
			mb["verificationMaterial"].(map[string]any)["tlogEntries"] = tb["verificationMaterial"].(map[string]any)["tlogEntries"]
			forged, err := json.Marshal(mb)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := verifytest.AttachBundle(ctx, e.client, e.ref, forged); err != nil {
				t.Fatal(err)
			}
			_, err = expect(t, v, e.ref, rejected)
			wantFailure(t, err, cosign.ErrInvalidSignature)
		})
	}
}

func TestTooManySignatures(t *testing.T) {
	key := mustKey(t, verifytest.KeyECDSAP256)
	ctx := context.Background()

	t.Run("10,000 legacy layers", func(t *testing.T) {
		e := newEnv(t)
		// One real signature, repeated: the layers all name the same blob.
		e.sign(t, verifytest.SignLegacy, e.ref, key)
		l := e.legacyLayers(t, e.ref)[0]
		layers := make([]oci.Descriptor, 10000)
		for i := range layers {
			layers[i] = oci.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size}
		}
		layers[0] = l
		m, _ := e.client.Manifest(ctx, e.ref.WithTag(verifytest.LegacySignatureTag(e.ref.Digest)))
		e.pushLegacy(t, e.ref, m.Config, layers)

		e.reg.ResetRequests()
		v := mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(key.PublicKeyPEM()), cosign.WithFormat(verify.FormatLegacy))
		_, err := expect(t, v, e.ref, rejected)
		wantFailure(t, err, cosign.ErrTooManySignatures)
		if n := e.reg.CountRequests(http.MethodGet, "/blobs/"); n != 0 {
			t.Errorf("%d blob downloads, want 0", n)
		}
	})
	t.Run("bundle referrers over the limit", func(t *testing.T) {
		e := newEnv(t)
		for range 4 {
			e.sign(t, verifytest.SignBundle, e.ref, key)
		}
		e.reg.ResetRequests()
		v := mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(key.PublicKeyPEM()), cosign.WithMaxSignatures(3))
		_, err := expect(t, v, e.ref, rejected)
		wantFailure(t, err, cosign.ErrTooManySignatures)
		if n := e.reg.CountRequests(http.MethodGet, "/blobs/") + e.reg.CountRequests(http.MethodGet, "/manifests/sha256:"); n != 0 {
			t.Errorf("%d referrer downloads, want 0", n)
		}
		expect(t, mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(key.PublicKeyPEM()), cosign.WithMaxSignatures(4)), e.ref, passed)
	})
}

func TestHugeAttachment(t *testing.T) {
	key := mustKey(t, verifytest.KeyECDSAP256)
	ctx := context.Background()
	const huge = 8 << 30 // declared, never stored

	t.Run("legacy", func(t *testing.T) {
		e := newEnv(t)
		e.sign(t, verifytest.SignLegacy, e.ref, key)
		e.rewriteLegacy(t, e.ref, func(ls []oci.Descriptor) []oci.Descriptor {
			ls[0].Size = huge
			return ls
		})
		e.reg.ResetRequests()
		_, err := expect(t, mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(key.PublicKeyPEM()), cosign.WithFormat(verify.FormatLegacy)), e.ref, rejected)
		wantFailure(t, err, cosign.ErrAttachmentTooLarge)
		if n := e.reg.CountRequests(http.MethodGet, "/blobs/"); n != 0 {
			t.Errorf("%d blob downloads, want 0", n)
		}
	})
	t.Run("bundle", func(t *testing.T) {
		e := newEnv(t)
		b, err := verifytest.BundleJSON(ctx, e.ref.Digest, key)
		if err != nil {
			t.Fatal(err)
		}
		// A real bundle padded past a small limit.
		padded := append(bytes.TrimSpace(b), bytes.Repeat([]byte(" "), 4096)...)
		if _, err := verifytest.AttachBundle(ctx, e.client, e.ref, padded); err != nil {
			t.Fatal(err)
		}
		e.reg.ResetRequests()
		_, err = expect(t, mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(key.PublicKeyPEM()), cosign.WithMaxAttachmentSize(4000)), e.ref, rejected)
		wantFailure(t, err, cosign.ErrAttachmentTooLarge)
		if n := e.reg.CountRequests(http.MethodGet, "/blobs/"); n != 0 {
			t.Errorf("%d blob downloads, want 0", n)
		}
		expect(t, mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(key.PublicKeyPEM())), e.ref, passed)
	})
	t.Run("lying registry", func(t *testing.T) {
		e := newEnv(t)
		e.sign(t, verifytest.SignLegacy, e.ref, key)
		l := e.legacyLayers(t, e.ref)[0]
		e.reg.Inject(ocitest.Fault{Method: http.MethodGet, PathContains: "/blobs/" + string(l.Digest), Body: bytes.Repeat([]byte("x"), int(l.Size))})
		_, err := expect(t, mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(key.PublicKeyPEM())), e.ref, rejected)
		wantFailure(t, err, oci.ErrDigestMismatch)
	})
}

// TestMalformedMaterial feeds garbage where cosign expects material: every
// case is an error, never a panic and never "verified".
func TestMalformedMaterial(t *testing.T) {
	key := mustKey(t, verifytest.KeyECDSAP256)
	ss, rootJSON := mustSigstore(t)
	keyless := []cosign.Option{cosign.WithTrustedRootJSON(rootJSON), cosign.WithIdentities(cosign.Identity{Issuer: issuer, Subject: subject})}
	keyed := []cosign.Option{cosign.WithKeys(key.PublicKeyPEM())}

	edits := []struct {
		name   string
		signer verifytest.Signer
		vopts  []cosign.Option
		edit   func(map[string]string)
	}{
		{"garbage base64 signature", key, keyed, func(a map[string]string) { a[verifytest.AnnotationSignature] = "!!!not base64***" }},
		{"empty signature", key, keyed, func(a map[string]string) { delete(a, verifytest.AnnotationSignature) }},
		{"signature of other bytes", key, keyed, func(a map[string]string) { a[verifytest.AnnotationSignature] = "MEUCIQDx" }},
		{"garbage certificate", ss.Keyless(issuer, subject), keyless, func(a map[string]string) {
			a[verifytest.AnnotationCertificate] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
		}},
		{"no certificate", ss.Keyless(issuer, subject), keyless, func(a map[string]string) { delete(a, verifytest.AnnotationCertificate) }},
		{"garbage Rekor bundle", ss.Keyless(issuer, subject), keyless, func(a map[string]string) { a[verifytest.AnnotationBundle] = `{"Payload":{"body":42}}` }},
		{"Rekor bundle not JSON", ss.Keyless(issuer, subject), keyless, func(a map[string]string) { a[verifytest.AnnotationBundle] = `{{{` }},
		{"Rekor body not base64", ss.Keyless(issuer, subject), keyless, func(a map[string]string) {
			a[verifytest.AnnotationBundle] = `{"SignedEntryTimestamp":"AAAA","Payload":{"body":"!!","integratedTime":1,"logIndex":1,"logID":"zz"}}`
		}},
		{"garbage timestamp", ss.Keyless(issuer, subject), keyless, func(a map[string]string) {
			a[verifytest.AnnotationTimestamp] = `{"SignedRFC3161Timestamp":"AAAA"}`
		}},
	}
	for _, c := range edits {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.sign(t, verifytest.SignLegacy, e.ref, c.signer)
			e.rewriteLegacy(t, e.ref, func(ls []oci.Descriptor) []oci.Descriptor {
				c.edit(ls[0].Annotations)
				return ls
			})
			expect(t, mustVerifier(t, append([]cosign.Option{cosign.WithClient(e.client)}, c.vopts...)...), e.ref, rejected)
		})
	}

	v := mustVerifier(t, keyed...)
	d := oci.DigestOf([]byte("x"))
	for i, garbage := range []string{"", "{}", "null", `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`, `{"content":{"dsseEnvelope":{}}}`, strings.Repeat("[", 10000)} {
		t.Run(fmt.Sprintf("garbage bundle %d", i), func(t *testing.T) {
			if _, err := v.VerifyBundle(context.Background(), d, []byte(garbage)); err == nil {
				t.Fatal("garbage bundle verified")
			}
		})
	}
	for i, garbage := range []string{"", "{}", "null", `{"critical":{"image":{"docker-manifest-digest":"` + string(d) + `"}}}`} {
		t.Run(fmt.Sprintf("garbage payload %d", i), func(t *testing.T) {
			if _, err := v.VerifyLegacySignature(context.Background(), d, []byte(garbage), map[string]string{verifytest.AnnotationSignature: "AAAA"}); err == nil {
				t.Fatal("garbage payload verified")
			}
		})
	}
}

func TestTagMovedAfterResolve(t *testing.T) {
	key := mustKey(t, verifytest.KeyECDSAP256)
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			e := newEnv(t) // app:v1 -> signed digest A
			e.sign(t, f.sign, e.ref, key)
			moved := push(t, e.reg, "app:v1", "v1 replaced") // the tag now names unsigned B
			if moved.Digest == e.ref.Digest {
				t.Fatal("tag did not move")
			}
			v := mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(key.PublicKeyPEM()))
			res, _ := expect(t, v, e.ref, passed) // the pinned digest wins, whatever the tag says now
			if res.Ref.Digest != e.ref.Digest {
				t.Errorf("verified %s, want %s", res.Ref.Digest, e.ref.Digest)
			}
			expect(t, v, moved, noSigs)
			if _, err := v.Verify(context.Background(), e.ref.WithTag("v1")); !errors.Is(err, verify.ErrNotPinned) {
				t.Errorf("tag-only reference: err = %v, want ErrNotPinned", err)
			}
		})
	}
}

// TestBundleChainWithRoot: a v0.2 bundle whose x509CertificateChain holds
// the root certificate is malformed (the spec forbids it) and rejected, by
// our own check: sigstore-go v1.3.0 reads the leaf alone and would accept
// it. The same bundle without the root verifies.
func TestBundleChainWithRoot(t *testing.T) {
	ss, rootJSON := mustSigstore(t)
	signer := ss.Keyless(issuer, subject)
	tests := []struct {
		name string
		opt  verifytest.SignOption
		want outcome
	}{
		{"leaf and intermediates", verifytest.WithCertificateChain(), passed},
		{"up to the root", verifytest.WithRootInChain(), rejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.sign(t, verifytest.SignBundle, e.ref, signer, tt.opt)
			v := mustVerifier(t, cosign.WithClient(e.client), cosign.WithTrustedRootJSON(rootJSON),
				cosign.WithIdentities(cosign.Identity{Issuer: issuer, Subject: subject}))
			_, err := expect(t, v, e.ref, tt.want)
			if tt.want != rejected {
				return
			}
			var ve *verify.VerificationError
			if !errors.As(err, &ve) || len(ve.Failures) != 1 {
				t.Fatalf("err = %v, want one failure", err)
			}
			if f := ve.Failures[0].Err; !errors.Is(f, cosign.ErrMalformedBundle) || !errors.Is(f, cosign.ErrInvalidSignature) {
				t.Errorf("failure = %v, want ErrMalformedBundle and ErrInvalidSignature", f)
			}

			b, err := verifytest.BundleJSON(context.Background(), e.ref.Digest, signer, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.VerifyBundle(context.Background(), e.ref.Digest, b); !errors.Is(err, cosign.ErrMalformedBundle) {
				t.Errorf("VerifyBundle = %v, want ErrMalformedBundle", err)
			}
		})
	}
}
