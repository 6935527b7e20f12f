package cosign_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

const (
	builderID  = "https://github.com/actions/runner/github-hosted"
	sourceRepo = "https://github.com/org/app"
	sourceRef  = "refs/heads/main"
)

// provenanceV1 is SLSA v1 provenance as GitHub's attest-build-provenance
// writes it.
var provenanceV1 = json.RawMessage(`{
  "buildDefinition": {
    "buildType": "https://actions.github.io/buildtypes/workflow/v1",
    "externalParameters": {"workflow": {"ref": "refs/heads/main", "repository": "https://github.com/org/app", "path": ".github/workflows/release.yml"}}
  },
  "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}}
}`)

// provenanceV02 is SLSA v0.2 provenance as slsa-github-generator writes it.
var provenanceV02 = json.RawMessage(`{
  "builder": {"id": "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.0.0"},
  "buildType": "https://github.com/slsa-framework/slsa-github-generator/container@v1",
  "invocation": {"configSource": {"uri": "git+https://github.com/org/app@refs/heads/main", "entryPoint": ".github/workflows/release.yml"}}
}`)

type attestFunc func(ctx context.Context, c *oci.Client, ref oci.Reference, s verifytest.Signer, predicateType string, predicate json.RawMessage, opts ...verifytest.SignOption) (oci.Descriptor, error)

var attestFormats = []struct {
	name   string
	format verify.Format
	attest attestFunc
	sign   signFunc
}{
	{"legacy", verify.FormatLegacy, verifytest.AttestLegacy, verifytest.SignLegacy},
	{"bundle", verify.FormatBundle, verifytest.AttestBundle, verifytest.SignBundle},
}

func (e *env) attest(t *testing.T, attest attestFunc, s verifytest.Signer, pt string, pred json.RawMessage, opts ...verifytest.SignOption) {
	t.Helper()
	if _, err := attest(context.Background(), e.client, e.ref, s, pt, pred, opts...); err != nil {
		t.Fatalf("attest %s: %v", e.ref, err)
	}
}

func TestAttestation(t *testing.T) {
	key := mustKey(t, verifytest.KeyECDSAP256)
	ss, rootJSON := mustSigstore(t)
	keyless := ss.Keyless(issuer, subject)
	modes := []struct {
		name   string
		signer verifytest.Signer
		trust  []cosign.Option
		want   verify.Signature
	}{
		{"keyed", key, []cosign.Option{cosign.WithKeys(key.PublicKeyPEM())},
			verify.Signature{KeyID: key.KeyID()}},
		{"keyless", keyless, []cosign.Option{cosign.WithTrustedRootJSON(rootJSON), cosign.WithIdentities(cosign.Identity{Issuer: issuer, Subject: subject})},
			verify.Signature{Issuer: issuer, Subject: subject}},
	}
	slsa := cosign.SLSAPolicy{BuilderID: builderID, SourceRepository: sourceRepo, SourceRef: sourceRef}
	for _, f := range attestFormats {
		for _, m := range modes {
			t.Run(f.name+"/"+m.name, func(t *testing.T) {
				attVerifier := func(t *testing.T, pt string, extra ...cosign.Option) *cosign.Verifier {
					opts := append([]cosign.Option{cosign.WithFormat(f.format), cosign.WithAttestation(pt)}, m.trust...)
					return mustVerifier(t, append(opts, extra...)...)
				}
				bind := func(e *env, v *cosign.Verifier) verify.Verifier { return v.BindClient(e.client) }

				t.Run("valid", func(t *testing.T) {
					e := newEnv(t)
					e.attest(t, f.attest, m.signer, cosign.PredicateTypeSLSAProvenanceV1, provenanceV1)
					v := attVerifier(t, cosign.PredicateTypeSLSAProvenanceV1, cosign.WithSLSAPolicy(slsa))
					res, _ := expect(t, bind(e, v), e.ref, passed)
					sts := res.Statements()
					if len(sts) != 1 {
						t.Fatalf("Statements() = %d, want 1", len(sts))
					}
					st := sts[0]
					if st.PredicateType != cosign.PredicateTypeSLSAProvenanceV1 || st.Subject[0].Digest["sha256"] != e.ref.Digest.Hex() {
						t.Errorf("statement = %+v, want SLSA v1 about %s", st, e.ref.Digest)
					}
					if !json.Valid(st.Predicate) || len(st.Predicate) < 10 {
						t.Errorf("predicate = %s", st.Predicate)
					}
					got := res.Signatures[0]
					got.Statement, got.Candidate, got.Tlog = nil, "", nil
					want := m.want
					want.Format, want.Verifier = f.format, v.Name()
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("signature (-want +got):\n%s", diff)
					}
				})
				t.Run("wrong predicate type", func(t *testing.T) {
					e := newEnv(t)
					e.attest(t, f.attest, m.signer, cosign.PredicateTypeSLSAProvenanceV1, provenanceV1)
					expect(t, bind(e, attVerifier(t, cosign.PredicateTypeSLSAProvenanceV02)), e.ref, noSigs)
				})
				t.Run("wrong predicate type declared as the right one", func(t *testing.T) {
					e := newEnv(t)
					e.attest(t, f.attest, m.signer, "https://example.com/other/v1", provenanceV1,
						verifytest.WithDeclaredPredicateType(cosign.PredicateTypeSLSAProvenanceV1))
					_, err := expect(t, bind(e, attVerifier(t, cosign.PredicateTypeSLSAProvenanceV1)), e.ref, rejected)
					if !errors.Is(err, cosign.ErrWrongPredicateType) {
						t.Errorf("err = %v, want ErrWrongPredicateType", err)
					}
				})
				t.Run("SLSA builder mismatch", func(t *testing.T) {
					e := newEnv(t)
					e.attest(t, f.attest, m.signer, cosign.PredicateTypeSLSAProvenanceV1, provenanceV1)
					other := slsa
					other.BuilderID = "https://github.com/actions/runner/self-hosted"
					_, err := expect(t, bind(e, attVerifier(t, cosign.PredicateTypeSLSAProvenanceV1, cosign.WithSLSAPolicy(other))), e.ref, rejected)
					if !errors.Is(err, cosign.ErrPredicateRejected) {
						t.Errorf("err = %v, want ErrPredicateRejected", err)
					}
				})
				t.Run("statement for another digest", func(t *testing.T) {
					e := newEnv(t)
					other := push(t, e.reg, "app:v2", "v2")
					e.attest(t, f.attest, m.signer, cosign.PredicateTypeSLSAProvenanceV1, provenanceV1, verifytest.WithClaimedDigest(other.Digest))
					_, err := expect(t, bind(e, attVerifier(t, cosign.PredicateTypeSLSAProvenanceV1)), e.ref, rejected)
					if !errors.Is(err, cosign.ErrWrongArtifact) {
						t.Errorf("err = %v, want ErrWrongArtifact", err)
					}
				})
				t.Run("attestation offered as a signature", func(t *testing.T) {
					e := newEnv(t)
					e.attest(t, f.attest, m.signer, cosign.PredicateTypeSLSAProvenanceV1, provenanceV1)
					opts := append([]cosign.Option{cosign.WithFormat(f.format)}, m.trust...)
					v := mustVerifier(t, opts...).BindClient(e.client)
					if res, err := v.Verify(context.Background(), e.ref); err == nil {
						t.Fatalf("signature verifier accepted an attestation: %+v", res)
					}
				})
				t.Run("signature offered as an attestation", func(t *testing.T) {
					e := newEnv(t)
					e.sign(t, f.sign, e.ref, m.signer)
					if res, err := bind(e, attVerifier(t, cosign.PredicateTypeSLSAProvenanceV1)).Verify(context.Background(), e.ref); err == nil {
						t.Fatalf("attestation verifier accepted a signature: %+v", res)
					}
				})
				t.Run("AllOf signature and attestation", func(t *testing.T) {
					e := newEnv(t)
					e.attest(t, f.attest, m.signer, cosign.PredicateTypeSLSAProvenanceV1, provenanceV1)
					opts := append([]cosign.Option{cosign.WithFormat(f.format)}, m.trust...)
					signed := mustVerifier(t, opts...)
					built := attVerifier(t, cosign.PredicateTypeSLSAProvenanceV1, cosign.WithSLSAPolicy(slsa))
					all, err := verify.AllOf(signed, built)
					if err != nil {
						t.Fatal(err)
					}
					bound := verify.BindClient(all, e.client)
					expect(t, bound, e.ref, noSigs)
					e.sign(t, f.sign, e.ref, m.signer)
					res, _ := expect(t, bound, e.ref, passed)
					if len(res.Signatures) != 2 || len(res.Statements()) != 1 {
						t.Errorf("AllOf result: %d signatures, %d statements; want 2 and 1", len(res.Signatures), len(res.Statements()))
					}
				})
			})
		}
	}
}

// TestLegacySignatureInAttestationImage: a simple-signing layer stored in
// the .att image is no attestation.
func TestLegacySignatureInAttestationImage(t *testing.T) {
	e := newEnv(t)
	key := mustKey(t, verifytest.KeyECDSAP256)
	// Sign as a signature, then copy the layer into the attestation image.
	desc, err := verifytest.SignLegacy(context.Background(), e.client, e.ref, key)
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.client.Manifest(context.Background(), e.ref.WithDigest(desc.Digest))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := verifytest.SimpleSigningPayload(e.ref, e.ref.Digest)
	if err != nil {
		t.Fatal(err)
	}
	layer := m.Layers[0]
	layer.Annotations[verifytest.AnnotationPredicateType] = cosign.PredicateTypeSLSAProvenanceV1
	if _, err := verifytest.AppendLegacyAttestation(context.Background(), e.client, e.ref, layer, payload); err != nil {
		t.Fatal(err)
	}
	v := mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(key.PublicKeyPEM()), cosign.WithAttestation(cosign.PredicateTypeSLSAProvenanceV1))
	expect(t, v, e.ref, rejected)
}

func TestVerifyBundleCustomPredicate(t *testing.T) {
	const custom = "https://example.com/attestations/review/v1"
	ctx := context.Background()
	key := mustKey(t, verifytest.KeyECDSAP256)
	d := oci.DigestOf([]byte("artifact"))
	b, err := verifytest.AttestationBundleJSON(ctx, d, key, custom, json.RawMessage(`{"approved":true}`))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("signature verifier refuses it", func(t *testing.T) {
		v := mustVerifier(t, cosign.WithKeys(key.PublicKeyPEM()))
		if _, err := v.VerifyBundle(ctx, d, b); !errors.Is(err, cosign.ErrWrongPredicateType) || !errors.Is(err, cosign.ErrInvalidSignature) {
			t.Fatalf("VerifyBundle = %v, want ErrWrongPredicateType and ErrInvalidSignature", err)
		}
	})
	t.Run("attestation verifier of that type accepts it", func(t *testing.T) {
		v := mustVerifier(t, cosign.WithKeys(key.PublicKeyPEM()), cosign.WithAttestation(custom))
		sig, err := v.VerifyBundle(ctx, d, b)
		if err != nil {
			t.Fatal(err)
		}
		if sig.Statement == nil || sig.Statement.PredicateType != custom || string(sig.Statement.Predicate) != `{"approved":true}` {
			t.Errorf("statement = %+v", sig.Statement)
		}
	})
	t.Run("predicate policy", func(t *testing.T) {
		var seen string
		approved := func(pt string, p json.RawMessage) error {
			seen = pt
			var r struct{ Approved bool }
			if err := json.Unmarshal(p, &r); err != nil {
				return err
			}
			if !r.Approved {
				return errors.New("not approved")
			}
			return nil
		}
		v := mustVerifier(t, cosign.WithKeys(key.PublicKeyPEM()), cosign.WithAttestation(custom), cosign.WithPredicatePolicy("approved", approved))
		if _, err := v.VerifyBundle(ctx, d, b); err != nil || seen != custom {
			t.Fatalf("VerifyBundle = %v (policy saw %q)", err, seen)
		}
		nb, err := verifytest.AttestationBundleJSON(ctx, d, key, custom, json.RawMessage(`{"approved":false}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.VerifyBundle(ctx, d, nb); !errors.Is(err, cosign.ErrPredicateRejected) {
			t.Fatalf("VerifyBundle(not approved) = %v, want ErrPredicateRejected", err)
		}
	})
	t.Run("another type", func(t *testing.T) {
		v := mustVerifier(t, cosign.WithKeys(key.PublicKeyPEM()), cosign.WithAttestation(custom+"x"))
		if _, err := v.VerifyBundle(ctx, d, b); !errors.Is(err, cosign.ErrWrongPredicateType) {
			t.Fatalf("VerifyBundle = %v, want ErrWrongPredicateType", err)
		}
	})
}

func TestSLSAPolicyCheck(t *testing.T) {
	v02Builder := "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.0.0"
	tests := []struct {
		name   string
		policy cosign.SLSAPolicy
		pt     string
		pred   json.RawMessage
		ok     bool
	}{
		{"v1 all", cosign.SLSAPolicy{BuilderID: builderID, SourceRepository: sourceRepo, SourceRef: sourceRef,
			WorkflowPath: ".github/workflows/release.yml", BuildType: "https://actions.github.io/buildtypes/workflow/v1"},
			cosign.PredicateTypeSLSAProvenanceV1, provenanceV1, true},
		{"v1 wrong ref", cosign.SLSAPolicy{SourceRef: "refs/heads/dev"}, cosign.PredicateTypeSLSAProvenanceV1, provenanceV1, false},
		{"v1 repository prefix is not a match", cosign.SLSAPolicy{SourceRepository: "https://github.com/org/ap"}, cosign.PredicateTypeSLSAProvenanceV1, provenanceV1, false},
		{"v02 all", cosign.SLSAPolicy{BuilderID: v02Builder, SourceRepository: sourceRepo, SourceRef: sourceRef,
			WorkflowPath: ".github/workflows/release.yml", BuildType: "https://github.com/slsa-framework/slsa-github-generator/container@v1"},
			cosign.PredicateTypeSLSAProvenanceV02, provenanceV02, true},
		{"v02 wrong builder", cosign.SLSAPolicy{BuilderID: builderID}, cosign.PredicateTypeSLSAProvenanceV02, provenanceV02, false},
		{"v02 wrong repository", cosign.SLSAPolicy{SourceRepository: "https://github.com/org/other"}, cosign.PredicateTypeSLSAProvenanceV02, provenanceV02, false},
		{"not provenance", cosign.SLSAPolicy{BuilderID: builderID}, "https://example.com/x", provenanceV1, false},
		{"v1 predicate read as v02", cosign.SLSAPolicy{BuilderID: builderID}, cosign.PredicateTypeSLSAProvenanceV02, provenanceV1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Check(tt.pt, tt.pred)
			if (err == nil) != tt.ok {
				t.Fatalf("Check = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestAttestationOptions(t *testing.T) {
	key := mustKey(t, verifytest.KeyECDSAP256)
	k := cosign.WithKeys(key.PublicKeyPEM())
	ok := func(string, json.RawMessage) error { return nil }
	slsa := cosign.WithSLSAPolicy(cosign.SLSAPolicy{BuilderID: builderID})
	bad := map[string][]cosign.Option{
		"empty predicate type":         {k, cosign.WithAttestation("")},
		"cosign's signature predicate": {k, cosign.WithAttestation(cosign.PredicateTypeCosignSign)},
		"attestation twice":            {k, cosign.WithAttestation("a"), cosign.WithAttestation("b")},
		"policy without attestation":   {k, cosign.WithPredicatePolicy("p", ok)},
		"SLSA without attestation":     {k, slsa},
		"SLSA on another type":         {k, cosign.WithAttestation("https://example.com/x"), slsa},
		"unnamed policy":               {k, cosign.WithAttestation("a"), cosign.WithPredicatePolicy("", ok)},
		"nil policy":                   {k, cosign.WithAttestation("a"), cosign.WithPredicatePolicy("p", nil)},
		"policy name twice":            {k, cosign.WithAttestation("a"), cosign.WithPredicatePolicy("p", ok), cosign.WithPredicatePolicy("p", ok)},
		"empty SLSA policy":            {k, cosign.WithAttestation(cosign.PredicateTypeSLSAProvenanceV1), cosign.WithSLSAPolicy(cosign.SLSAPolicy{})},
	}
	for name, opts := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := cosign.New(opts...); !errors.Is(err, cosign.ErrInvalidOption) {
				t.Fatalf("New = %v, want ErrInvalidOption", err)
			}
		})
	}

	fps := map[string]string{}
	for name, opts := range map[string][]cosign.Option{
		"signature": {k},
		"v1":        {k, cosign.WithAttestation(cosign.PredicateTypeSLSAProvenanceV1)},
		"v02":       {k, cosign.WithAttestation(cosign.PredicateTypeSLSAProvenanceV02)},
		"v1 slsa":   {k, cosign.WithAttestation(cosign.PredicateTypeSLSAProvenanceV1), slsa},
		"v1 slsa2":  {k, cosign.WithAttestation(cosign.PredicateTypeSLSAProvenanceV1), cosign.WithSLSAPolicy(cosign.SLSAPolicy{BuilderID: builderID + "x"})},
		"v1 p":      {k, cosign.WithAttestation(cosign.PredicateTypeSLSAProvenanceV1), cosign.WithPredicatePolicy("p", ok)},
		"v1 q":      {k, cosign.WithAttestation(cosign.PredicateTypeSLSAProvenanceV1), cosign.WithPredicatePolicy("q", ok)},
	} {
		fp := mustVerifier(t, opts...).Fingerprint()
		for other, ofp := range fps {
			if ofp == fp {
				t.Errorf("fingerprints of %q and %q are equal", name, other)
			}
		}
		fps[name] = fp
	}
	// The same configuration has the same fingerprint.
	a := mustVerifier(t, k, cosign.WithAttestation(cosign.PredicateTypeSLSAProvenanceV1), slsa).Fingerprint()
	if a != fps["v1 slsa"] {
		t.Errorf("fingerprint not stable: %s != %s", a, fps["v1 slsa"])
	}
	if got := mustVerifier(t, k, cosign.WithAttestation("a")).Name(); got != "cosign keyed attestation a" {
		t.Errorf("Name = %q", got)
	}
}
