package notation_test

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/notation"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// env is a registry with one pushed artifact, a CA and a signer.
type env struct {
	reg    *ocitest.Registry
	client *oci.Client
	ref    oci.Reference // digest-pinned
	ca     *verifytest.NotationCA
	signer *verifytest.NotationSigner
}

func newEnv(t *testing.T) *env {
	t.Helper()
	reg := ocitest.NewT(t)
	ca, err := verifytest.NewNotationCA("verifytest root")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ca.Issue("release")
	if err != nil {
		t.Fatal(err)
	}
	return &env{reg: reg, client: reg.Client(), ref: push(t, reg, "app:v1", "v1"), ca: ca, signer: s}
}

func push(t *testing.T, reg *ocitest.Registry, ref, content string) oci.Reference {
	t.Helper()
	desc, err := reg.PushBytes(context.Background(), ref, oci.MediaTypeFluxContent, []byte(content))
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return reg.Ref(ref).WithDigest(desc.Digest)
}

func (e *env) sign(t *testing.T, ref oci.Reference, s *verifytest.NotationSigner, opts ...verifytest.NotationSignOption) oci.Descriptor {
	t.Helper()
	d, err := verifytest.SignNotation(context.Background(), e.client, ref, s, opts...)
	if err != nil {
		t.Fatalf("SignNotation: %v", err)
	}
	return d
}

// verifier trusts e.ca through a strict "*" policy.
func (e *env) verifier(t *testing.T, opts ...notation.Option) *notation.Verifier {
	t.Helper()
	base := []notation.Option{
		notation.WithTrustPolicy(e.ca.TrustPolicy(false)),
		notation.WithTrustStore(notation.StoreCA, verifytest.NotationStore, e.ca.CertificatePEM()),
		notation.WithClient(e.client),
	}
	v, err := notation.New(append(base, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

func wantRejected(t *testing.T, err error, target error) *verify.VerificationError {
	t.Helper()
	var ve *verify.VerificationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a *verify.VerificationError", err)
	}
	if !errors.Is(err, verify.ErrVerificationFailed) || errors.Is(err, verify.ErrNoSignatures) || errors.Is(err, verify.ErrUnavailable) {
		t.Fatalf("err = %v: want a verdict, ErrVerificationFailed only", err)
	}
	if target != nil && !errors.Is(err, target) {
		t.Fatalf("err = %v, want it to wrap %v", err, target)
	}
	return ve
}

func TestVerifyValidEnvelopes(t *testing.T) {
	for _, mt := range []string{verifytest.MediaTypeJWS, verifytest.MediaTypeCOSE} {
		t.Run(mt, func(t *testing.T) {
			e := newEnv(t)
			sigDesc := e.sign(t, e.ref, e.signer, verifytest.WithEnvelope(mt))
			res, err := e.verifier(t).Verify(context.Background(), e.ref)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := []verify.Signature{{
				Verifier:  "notation",
				Format:    verify.FormatNotation,
				Candidate: "notation " + string(sigDesc.Digest),
				Subject:   "CN=release,O=verifytest,ST=WA,C=US",
				Issuer:    "CN=verifytest root,O=verifytest",
				Policy:    "verifytest",
				Level:     "strict",
			}}
			if diff := cmp.Diff(want, res.Signatures); diff != "" {
				t.Errorf("signatures (-want +got):\n%s", diff)
			}
			if res.Ref != e.ref {
				t.Errorf("Ref = %v, want %v", res.Ref, e.ref)
			}
		})
	}
}

func TestVerifyUntrustedCertificate(t *testing.T) {
	e := newEnv(t)
	other, err := verifytest.NewNotationCA("other root")
	if err != nil {
		t.Fatal(err)
	}
	s, err := other.Issue("mallory")
	if err != nil {
		t.Fatal(err)
	}
	e.sign(t, e.ref, s)
	_, err = e.verifier(t).Verify(context.Background(), e.ref)
	ve := wantRejected(t, err, notation.ErrInvalidSignature)
	if len(ve.Failures) != 1 || !strings.Contains(ve.Failures[0].Candidate, "notation sha256:") {
		t.Errorf("failures = %v, want one per signature", ve.Failures)
	}
}

func TestVerifyTrustedIdentities(t *testing.T) {
	e := newEnv(t)
	e.sign(t, e.ref, e.signer)
	for _, tc := range []struct {
		identity string
		ok       bool
	}{
		{"x509.subject: C=US,ST=WA,O=verifytest,CN=release", true},
		{"x509.subject: C=US,ST=WA,O=verifytest,CN=someone else", false},
		// notation's rule: the identity's attributes must all be in the
		// certificate's subject, which may have more (any CN of the O).
		{"x509.subject: C=US,ST=WA,O=verifytest", true},
		{"x509.subject: C=US,ST=WA,O=verifytest,OU=release", false},
	} {
		t.Run(tc.identity, func(t *testing.T) {
			policy := `{"version": "1.0", "trustPolicies": [{"name": "release", "registryScopes": ["*"],
				"signatureVerification": {"level": "strict"}, "trustStores": ["ca:verifytest"],
				"trustedIdentities": ["` + tc.identity + `"]}]}`
			v, err := notation.New(notation.WithTrustPolicy([]byte(policy)),
				notation.WithCertificates(e.ca.CertificatePEM()), notation.WithClient(e.client))
			if err != nil {
				t.Fatal(err)
			}
			res, err := v.Verify(context.Background(), e.ref)
			if !tc.ok {
				wantRejected(t, err, notation.ErrInvalidSignature)
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if res.Signatures[0].Policy != "release" || res.Signatures[0].Subject != e.signer.Subject() {
				t.Errorf("signature = %+v", res.Signatures[0])
			}
		})
	}
}

func TestVerifyExpiredCertificate(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	expired, err := e.ca.Issue("expired", verifytest.WithValidity(now.Add(-48*time.Hour), now.Add(-24*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	e.sign(t, e.ref, expired)
	_, err = e.verifier(t).Verify(context.Background(), e.ref)
	ve := wantRejected(t, err, notation.ErrInvalidSignature)
	if !strings.Contains(ve.Error(), "expired") {
		t.Errorf("err = %v, want it to say the certificate expired", ve)
	}
}

// A signature timestamped while its certificate was valid verifies after
// the certificate expired, with the TSA's root in a tsa store; without a
// timestamp it does not.
func TestVerifyExpiredCertificateWithTimestamp(t *testing.T) {
	e := newEnv(t)
	tsa, err := verifytest.NewNotationTSA()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	expired, err := e.ca.Issue("expired", verifytest.WithValidity(now.Add(-48*time.Hour), now.Add(-24*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	withTSA := func(t *testing.T) *notation.Verifier {
		v, err := notation.New(
			notation.WithTrustPolicy(e.ca.TrustPolicy(true)),
			notation.WithTrustStore(notation.StoreCA, verifytest.NotationStore, e.ca.CertificatePEM()),
			notation.WithTrustStore(notation.StoreTSA, verifytest.NotationStore, tsa.RootPEM()),
			notation.WithClient(e.client))
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return v
	}
	t.Run("untimestamped", func(t *testing.T) {
		ref := push(t, e.reg, "app:untimestamped", "u")
		e.sign(t, ref, expired)
		_, err := withTSA(t).Verify(context.Background(), ref)
		wantRejected(t, err, notation.ErrInvalidSignature)
	})
	t.Run("timestamped", func(t *testing.T) {
		ref := push(t, e.reg, "app:timestamped", "t")
		e.sign(t, ref, expired, verifytest.WithTimestamp(tsa))
		res, err := withTSA(t).Verify(context.Background(), ref)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if got := res.Signatures[0].Subject; got != expired.Subject() {
			t.Errorf("Subject = %q, want %q", got, expired.Subject())
		}
	})
	t.Run("valid certificate, timestamp from an untrusted TSA", func(t *testing.T) {
		other, err := verifytest.NewNotationTSA()
		if err != nil {
			t.Fatal(err)
		}
		ref := push(t, e.reg, "app:othertsa", "o")
		e.sign(t, ref, e.signer, verifytest.WithTimestamp(other))
		_, err = withTSA(t).Verify(context.Background(), ref)
		wantRejected(t, err, notation.ErrInvalidSignature)
	})
}

func TestVerifySignatureForAnotherDigest(t *testing.T) {
	e := newEnv(t)
	other := push(t, e.reg, "app:v2", "v2")
	otherDesc, err := e.client.Resolve(context.Background(), other)
	if err != nil {
		t.Fatal(err)
	}
	// A valid signature of v2, attached to v1.
	e.sign(t, e.ref, e.signer, verifytest.WithSignedDescriptor(otherDesc))
	_, err = e.verifier(t).Verify(context.Background(), e.ref)
	wantRejected(t, err, notation.ErrWrongArtifact)
	// v2 itself has no signature.
	if _, err := e.verifier(t).Verify(context.Background(), other); !errors.Is(err, verify.ErrNoSignatures) {
		t.Errorf("v2: err = %v, want ErrNoSignatures", err)
	}
}

func TestVerifyNoSignatures(t *testing.T) {
	e := newEnv(t)
	_, err := e.verifier(t).Verify(context.Background(), e.ref)
	if !errors.Is(err, verify.ErrNoSignatures) || errors.Is(err, verify.ErrVerificationFailed) {
		t.Fatalf("err = %v, want ErrNoSignatures only", err)
	}
}

// Cosign signatures and attestations, in both formats, are not notation
// signatures: with nothing else attached, there is nothing to check.
func TestVerifyIgnoresCosign(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	key, err := verifytest.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifytest.SignLegacy(ctx, e.client, e.ref, key); err != nil {
		t.Fatal(err)
	}
	if _, err := verifytest.SignBundle(ctx, e.client, e.ref, key); err != nil {
		t.Fatal(err)
	}
	if _, err := verifytest.AttestBundle(ctx, e.client, e.ref, key, "https://slsa.dev/provenance/v1", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	v := e.verifier(t)
	if _, err := v.Verify(ctx, e.ref); !errors.Is(err, verify.ErrNoSignatures) {
		t.Fatalf("err = %v, want ErrNoSignatures", err)
	}
	// And the cosign verifier still accepts them: the setup is sound.
	cv, err := cosign.New(cosign.WithKeys(key.PublicKeyPEM()), cosign.WithClient(e.client))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cv.Verify(ctx, e.ref); err != nil {
		t.Fatalf("cosign Verify: %v", err)
	}
	// A notation signature beside them is found and accepted alone.
	e.sign(t, e.ref, e.signer)
	res, err := v.Verify(ctx, e.ref)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(res.Signatures) != 1 || res.Signatures[0].Format != verify.FormatNotation {
		t.Errorf("signatures = %+v, want the notation one", res.Signatures)
	}
}

func TestVerifyRefusesTag(t *testing.T) {
	e := newEnv(t)
	e.reg.ResetRequests()
	_, err := e.verifier(t).Verify(context.Background(), e.ref.WithDigest(""))
	if !errors.Is(err, verify.ErrNotPinned) {
		t.Fatalf("err = %v, want ErrNotPinned", err)
	}
	if n := len(e.reg.Requests()); n != 0 {
		t.Errorf("%d registry requests for a refused reference", n)
	}
}

func TestVerifyScopeNotMatching(t *testing.T) {
	e := newEnv(t)
	e.sign(t, e.ref, e.signer)
	scoped := func(scope string) *notation.Verifier {
		v, err := notation.New(notation.WithTrustPolicy(e.ca.TrustPolicy(false, scope)),
			notation.WithCertificates(e.ca.CertificatePEM()), notation.WithClient(e.client))
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return v
	}
	e.reg.ResetRequests()
	_, err := scoped(e.reg.Host()+"/other").Verify(context.Background(), e.ref)
	wantRejected(t, err, notation.ErrNoApplicablePolicy)
	if n := len(e.reg.Requests()); n != 0 {
		t.Errorf("%d registry requests when no statement applies", n)
	}
	if _, err := scoped(e.reg.Host()+"/app").Verify(context.Background(), e.ref); err != nil {
		t.Errorf("scope %s/app: %v", e.reg.Host(), err)
	}
}

func TestVerifySignatureCountBound(t *testing.T) {
	e := newEnv(t)
	for range 3 {
		e.sign(t, e.ref, e.signer)
	}
	e.reg.ResetRequests()
	_, err := e.verifier(t, notation.WithMaxSignatures(2)).Verify(context.Background(), e.ref)
	wantRejected(t, err, notation.ErrTooManySignatures)
	if n := e.reg.CountRequests(http.MethodGet, "/blobs/"); n != 0 {
		t.Errorf("%d blob downloads past the bound", n)
	}
	if _, err := e.verifier(t, notation.WithMaxSignatures(3)).Verify(context.Background(), e.ref); err != nil {
		t.Errorf("at the bound: %v", err)
	}
}

func TestVerifyEnvelopeSizeBound(t *testing.T) {
	e := newEnv(t)
	e.sign(t, e.ref, e.signer)
	e.reg.ResetRequests()
	_, err := e.verifier(t, notation.WithMaxEnvelopeSize(64)).Verify(context.Background(), e.ref)
	wantRejected(t, err, notation.ErrEnvelopeTooLarge)
	if n := e.reg.CountRequests(http.MethodGet, "/blobs/"); n != 0 {
		t.Errorf("%d blob downloads of an envelope over the limit", n)
	}
}

func TestVerifyRegistryFailure(t *testing.T) {
	for _, path := range []string{"/referrers/", "/blobs/", "/manifests/"} {
		t.Run(path, func(t *testing.T) {
			e := newEnv(t)
			e.sign(t, e.ref, e.signer)
			e.reg.Inject(ocitest.Fault{PathContains: path, Status: http.StatusServiceUnavailable})
			_, err := e.verifier(t).Verify(context.Background(), e.ref)
			if !errors.Is(err, verify.ErrUnavailable) || errors.Is(err, verify.ErrVerificationFailed) || errors.Is(err, verify.ErrNoSignatures) {
				t.Fatalf("err = %v, want ErrUnavailable only", err)
			}
		})
	}
}

func TestVerifyContextCancel(t *testing.T) {
	e := newEnv(t)
	e.sign(t, e.ref, e.signer)
	v := e.verifier(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := v.Verify(ctx, e.ref); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v, want context.Canceled", err)
	}
	e.reg.Inject(ocitest.Fault{PathContains: "/referrers/", Delay: 10 * time.Second})
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := v.Verify(ctx, e.ref); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Verify returned after %v, past its deadline", d)
	}
}

func TestBindClient(t *testing.T) {
	e := newEnv(t)
	e.sign(t, e.ref, e.signer)
	v, err := notation.New(notation.WithTrustPolicy(e.ca.TrustPolicy(false)), notation.WithCertificates(e.ca.CertificatePEM()))
	if err != nil {
		t.Fatal(err)
	}
	// The default client speaks HTTPS, which the test registry does not.
	if _, err := v.Verify(context.Background(), e.ref); err == nil {
		t.Fatal("unbound verifier reached the plain-HTTP registry")
	}
	bound := verify.BindClient(v, e.client)
	if _, err := bound.Verify(context.Background(), e.ref); err != nil {
		t.Fatalf("bound: %v", err)
	}
	if verify.FingerprintOf(bound) != verify.FingerprintOf(v) || verify.FingerprintOf(v) == "" {
		t.Error("binding changed the fingerprint")
	}
	own := e.verifier(t)
	if verify.BindClient(own, ocitest.NewT(t).Client()) != verify.Verifier(own) {
		t.Error("a verifier with its own client was rebound")
	}
}

func TestFingerprint(t *testing.T) {
	e := newEnv(t)
	other, err := verifytest.NewNotationCA("other")
	if err != nil {
		t.Fatal(err)
	}
	fp := func(opts ...notation.Option) string {
		v, err := notation.New(opts...)
		if err != nil {
			t.Fatal(err)
		}
		return v.Fingerprint()
	}
	base := fp(notation.WithTrustPolicy(e.ca.TrustPolicy(false)), notation.WithCertificates(e.ca.CertificatePEM()))
	same := fp(notation.WithTrustPolicy(e.ca.TrustPolicy(false)), notation.WithTrustStore(notation.StoreCA, verifytest.NotationStore, e.ca.CertificatePEM()), notation.WithName("label"))
	if base != same {
		t.Error("equal policies have different fingerprints")
	}
	for name, f := range map[string]string{
		"other CA":   fp(notation.WithTrustPolicy(e.ca.TrustPolicy(false)), notation.WithCertificates(other.CertificatePEM())),
		"scope":      fp(notation.WithTrustPolicy(e.ca.TrustPolicy(false, "example.com/app")), notation.WithCertificates(e.ca.CertificatePEM())),
		"revocation": fp(notation.WithTrustPolicy(e.ca.TrustPolicy(false)), notation.WithCertificates(e.ca.CertificatePEM()), notation.WithRevocationCheck()),
	} {
		if f == base {
			t.Errorf("%s: same fingerprint", name)
		}
	}
}

func pemOf(s *verifytest.NotationSigner) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
}

func verifytestClient(t *testing.T) *oci.Client { return ocitest.NewT(t).Client() }
