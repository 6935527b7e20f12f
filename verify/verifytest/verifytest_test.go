package verifytest_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/verify/verifytest"
)

func TestKeyPair(t *testing.T) {
	for _, kt := range []verifytest.KeyType{verifytest.KeyECDSAP256, verifytest.KeyECDSAP384, verifytest.KeyEd25519, verifytest.KeyRSA2048} {
		t.Run(kt.String(), func(t *testing.T) {
			k, err := verifytest.GenerateKeyPair(kt)
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode(k.PublicKeyPEM())
			if block == nil || block.Type != "PUBLIC KEY" {
				t.Fatalf("public key PEM = %q", k.PublicKeyPEM())
			}
			sum := sha256.Sum256(block.Bytes)
			if got, want := k.KeyID(), hex.EncodeToString(sum[:]); got != want {
				t.Errorf("KeyID = %s, want %s", got, want)
			}
			if _, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil {
				t.Errorf("public key does not parse: %v", err)
			}
			// cosign itself can load the private key, as `cosign sign --key` would.
			priv, err := k.CosignPrivateKeyPEM([]byte("s3cret"))
			if err != nil {
				t.Fatal(err)
			}
			sv, err := cosign.LoadPrivateKey(priv, []byte("s3cret"), nil)
			if err != nil {
				t.Fatalf("cosign cannot load the private key: %v", err)
			}
			pub, err := sv.PublicKey()
			if err != nil {
				t.Fatal(err)
			}
			if err := cryptoutils.EqualKeys(pub, k.PublicKey()); err != nil {
				t.Errorf("cosign loads another key: %v", err)
			}
			if _, err := cosign.LoadPrivateKey(priv, []byte("wrong"), nil); err == nil {
				t.Error("private key decrypts with the wrong password")
			}
		})
	}
	if _, err := verifytest.GenerateKeyPair(verifytest.KeyType(42)); err == nil {
		t.Error("unknown key type accepted")
	}
}

func TestTrustedRootJSON(t *testing.T) {
	tests := []struct {
		name               string
		opts               []verifytest.SigstoreOption
		rekor, ct, tsa, ca int
	}{
		{"default", nil, 1, 0, 1, 1},
		{"without Rekor", []verifytest.SigstoreOption{verifytest.WithoutRekor()}, 0, 0, 1, 1},
		{"without TSA", []verifytest.SigstoreOption{verifytest.WithoutTimestampAuthority()}, 1, 0, 0, 1},
		{"with CT log", []verifytest.SigstoreOption{verifytest.WithCTLog()}, 1, 1, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ss, err := verifytest.NewSigstore(tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			b, err := ss.TrustedRootJSON()
			if err != nil {
				t.Fatal(err)
			}
			tr, err := root.NewTrustedRootFromJSON(b)
			if err != nil {
				t.Fatalf("trusted root does not parse: %v", err)
			}
			got := []int{len(tr.RekorLogs()), len(tr.CTLogs()), len(tr.TimestampingAuthorities()), len(tr.FulcioCertificateAuthorities())}
			if diff := cmp.Diff([]int{tt.rekor, tt.ct, tt.tsa, tt.ca}, got); diff != "" {
				t.Errorf("rekor, ct, tsa, ca counts (-want +got):\n%s", diff)
			}
			// Logs carry their raw key id, as a real trusted root does.
			for id, l := range tr.RekorLogs() {
				if hex.EncodeToString(l.ID) != id || len(l.ID) != sha256.Size {
					t.Errorf("Rekor log %s has ID %x", id, l.ID)
				}
			}
		})
	}
	if _, err := verifytest.NewSigstore(verifytest.WithoutRekor(), verifytest.WithoutTimestampAuthority()); err == nil {
		t.Error("a Sigstore that cannot date signatures was accepted")
	}
}

func TestSignAttachesLikeCosign(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.NewT(t)
	c := reg.Client()
	desc, err := reg.PushBytes(ctx, "app:v1", oci.MediaTypeFluxContent, []byte("content"))
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.Ref("app:v1").WithDigest(desc.Digest)
	key, err := verifytest.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("legacy appends layers", func(t *testing.T) {
		for range 2 {
			if _, err := verifytest.SignLegacy(ctx, c, ref, key); err != nil {
				t.Fatal(err)
			}
		}
		m, err := c.Manifest(ctx, ref.WithTag(verifytest.LegacySignatureTag(ref.Digest)))
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Layers) != 2 {
			t.Fatalf("%d layers, want 2", len(m.Layers))
		}
		for _, l := range m.Layers {
			if l.MediaType != verifytest.MediaTypeSimpleSigning || l.Annotations[verifytest.AnnotationSignature] == "" {
				t.Errorf("layer %+v is not a cosign signature", l)
			}
		}
	})
	t.Run("bundle is a referrer", func(t *testing.T) {
		d, err := verifytest.SignBundle(ctx, c, ref, key)
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.Manifest(ctx, ref.WithTag("").WithDigest(d.Digest))
		if err != nil {
			t.Fatal(err)
		}
		got := []string{m.ArtifactType, m.Layers[0].MediaType, string(m.Subject.Digest), m.Annotations["dev.sigstore.bundle.predicateType"]}
		want := []string{verifytest.MediaTypeBundle, verifytest.MediaTypeBundle, string(ref.Digest), verifytest.PredicateTypeCosignSign}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("referrer (-want +got):\n%s", diff)
		}
		refs, err := c.Referrers(ctx, ref, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(refs) != 1 || refs[0].Digest != d.Digest {
			t.Errorf("referrers = %+v, want the bundle %s", refs, d.Digest)
		}
	})
	t.Run("invalid requests", func(t *testing.T) {
		ss, err := verifytest.NewSigstore()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := verifytest.SignLegacy(ctx, c, ref.WithTag("v1"), key); err == nil {
			t.Error("signed a tag")
		}
		if _, err := verifytest.SignBundle(ctx, c, ref, key, verifytest.WithTransparencyLog(ss), verifytest.WithoutTransparencyLog()); err == nil {
			t.Error("contradicting options accepted")
		}
		if _, err := verifytest.SignLegacy(ctx, c, ref, nil); err == nil {
			t.Error("nil signer accepted")
		}
		if _, err := verifytest.SignLegacy(ctx, c, ref, key, verifytest.WithClaimedDigest("sha256:nope")); err == nil {
			t.Error("malformed claimed digest accepted")
		}
	})
}

// TestKeylessSubjectKinds checks that a keyless certificate names an email
// subject as an email SAN and a workflow identity as a URI SAN, as Fulcio
// does, in both formats, with the issuer in Fulcio's extensions.
func TestKeylessSubjectKinds(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.NewT(t)
	c := reg.Client()
	ss, err := verifytest.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	const (
		ghIssuer = "https://token.actions.githubusercontent.com"
		workflow = "https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1.2.3"
	)
	tests := []struct {
		name, issuer, subject string
		wantURIs, wantEmails  []string
	}{
		{"workflow URI", ghIssuer, workflow, []string{workflow}, nil},
		{"SPIFFE URI", "https://issuer.example", "spiffe://example.org/ns/ci/sa/release", []string{"spiffe://example.org/ns/ci/sa/release"}, nil},
		{"email", "https://accounts.example", "release@example.com", nil, []string{"release@example.com"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desc, err := reg.PushBytes(ctx, fmt.Sprintf("app:v%d", i), oci.MediaTypeFluxContent, []byte(tt.name))
			if err != nil {
				t.Fatal(err)
			}
			ref := reg.Ref("app").WithDigest(desc.Digest)
			signer := ss.Keyless(tt.issuer, tt.subject)
			check := func(t *testing.T, cert *x509.Certificate) {
				t.Helper()
				var uris []string
				for _, u := range cert.URIs {
					uris = append(uris, u.String())
				}
				if diff := cmp.Diff(tt.wantURIs, uris); diff != "" {
					t.Errorf("URI SANs (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.wantEmails, cert.EmailAddresses); diff != "" {
					t.Errorf("email SANs (-want +got):\n%s", diff)
				}
				sum, err := certificate.SummarizeCertificate(cert)
				if err != nil {
					t.Fatal(err)
				}
				if sum.Issuer != tt.issuer || sum.SubjectAlternativeName != tt.subject {
					t.Errorf("certificate names issuer %q subject %q, want %q %q", sum.Issuer, sum.SubjectAlternativeName, tt.issuer, tt.subject)
				}
			}
			t.Run("legacy", func(t *testing.T) {
				if _, err := verifytest.SignLegacy(ctx, c, ref, signer); err != nil {
					t.Fatal(err)
				}
				m, err := c.Manifest(ctx, ref.WithTag(verifytest.LegacySignatureTag(ref.Digest)))
				if err != nil {
					t.Fatal(err)
				}
				block, _ := pem.Decode([]byte(m.Layers[0].Annotations[verifytest.AnnotationCertificate]))
				if block == nil {
					t.Fatal("no certificate annotation")
				}
				cert, err := x509.ParseCertificate(block.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				check(t, cert)
			})
			t.Run("bundle", func(t *testing.T) {
				raw, err := verifytest.BundleJSON(ctx, ref.Digest, signer)
				if err != nil {
					t.Fatal(err)
				}
				b := new(sgbundle.Bundle)
				if err := b.UnmarshalJSON(raw); err != nil {
					t.Fatal(err)
				}
				vc, err := b.VerificationContent()
				if err != nil {
					t.Fatal(err)
				}
				if vc.Certificate() == nil {
					t.Fatal("bundle carries no certificate")
				}
				check(t, vc.Certificate())
			})
		})
	}
}
