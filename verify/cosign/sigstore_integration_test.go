package cosign_test

import (
	"cmp"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocisource/ocisource/internal/realregistry"
	"github.com/ocisource/ocisource/internal/sigstorestack"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// SLSA provenance predicates as a GitHub Actions release would record them,
// for `cosign attest --type slsaprovenance1` and `--type slsaprovenance`.
const (
	slsaV1Predicate = `{
  "buildDefinition": {
    "buildType": "https://actions.github.io/buildtypes/workflow/v1",
    "externalParameters": {"workflow": {"repository": "https://github.com/org/app", "ref": "refs/heads/main", "path": ".github/workflows/release.yml"}}
  },
  "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}}
}`
	slsaV02Predicate = `{
  "builder": {"id": "https://github.com/actions/runner/github-hosted"},
  "buildType": "https://github.com/slsa-framework/slsa-github-generator/generic@v1",
  "invocation": {"configSource": {"uri": "git+https://github.com/org/app@refs/heads/main", "entryPoint": ".github/workflows/release.yml"}}
}`
)

// slsaPolicy is what both predicates record.
var slsaPolicy = cosign.SLSAPolicy{
	BuilderID:        "https://github.com/actions/runner/github-hosted",
	SourceRepository: "https://github.com/org/app",
	SourceRef:        "refs/heads/main",
	WorkflowPath:     ".github/workflows/release.yml",
}

// refusedOutcome reports whether a verification refused the artifact: a
// rejection, or no acceptable signature at all (an attestation of another
// predicate type is skipped unread, so nothing is left to accept).
func refusedOutcome(t *testing.T, v verify.Verifier, ref oci.Reference) {
	t.Helper()
	res, err := v.Verify(context.Background(), ref)
	switch got := classify(t, res, err); got {
	case rejected, noSigs:
		t.Logf("refused as it should be: %v", err)
	default:
		t.Errorf("Verify(%s) = %s, want it refused (rejected or no signatures); err: %v", ref, got, err)
	}
}

// The real cosign v3 CLI signs and attests, keyed and keyless (through the
// real Fulcio and timestamp authority of sigstorestack, with an email and a
// GitHub-workflow identity), in the bundle format and the legacy one, against
// the real Distribution registry; our verifier accepts each with the right
// key, identity (Fulcio extensions included) or predicate type and policy,
// and refuses it with a wrong one.
func TestIntegrationCosignV3SignsWeVerify(t *testing.T) {
	if !sigstorestack.Isolate(t) {
		return
	}
	st := sigstorestack.Start(t)
	reg := realregistry.Start(t)
	client, err := oci.NewClient(oci.WithBasicAuth(reg.Username, reg.Password), oci.WithCACertPool(reg.CAPool))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	st.MustCosign(t, reg, work, "generate-key-pair", "--output-key-prefix", "signer")
	st.MustCosign(t, reg, work, "generate-key-pair", "--output-key-prefix", "other")
	for name, p := range map[string]string{"v1.json": slsaV1Predicate, "v02.json": slsaV02Predicate} {
		if err := os.WriteFile(filepath.Join(work, name), []byte(p), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	wf := sigstorestack.Workflow{Repository: "org/app", WorkflowPath: ".github/workflows/release.yml", Ref: "refs/heads/main"}
	emailToken, err := st.Issuer.EmailToken("release@example.com")
	if err != nil {
		t.Fatal(err)
	}
	wfToken, err := st.Issuer.WorkflowToken(wf)
	if err != nil {
		t.Fatal(err)
	}
	email := cosign.Identity{Issuer: st.Issuer.EmailIssuer(), Subject: "release@example.com"}
	workflow := cosign.Identity{Issuer: st.Issuer.WorkflowIssuer(), Subject: wf.WorkflowURI(), Extensions: cosign.Extensions{
		BuildSignerURI:      wf.WorkflowURI(),
		SourceRepositoryURI: wf.RepositoryURI(),
		SourceRepositoryRef: "refs/heads/main",
		BuildTrigger:        "push",
		RunnerEnvironment:   "github-hosted",
	}}
	otherRef := workflow
	otherRef.Extensions.SourceRepositoryRef = "refs/heads/dev"

	key := cosign.WithKeyFiles(filepath.Join(work, "signer.pub"))
	otherKey := cosign.WithKeyFiles(filepath.Join(work, "other.pub"))
	root := cosign.WithTrustedRootFile(st.TrustedRootFile)
	// Bundles go through the signing config (Fulcio, TSA, no Rekor); legacy
	// signatures name the services themselves, with no transparency log.
	bundleArgs := []string{"--signing-config", st.SigningConfigFile, "--trusted-root", st.TrustedRootFile}
	legacyArgs := []string{"--new-bundle-format=false", "--use-signing-config=false", "--tlog-upload=false"}
	legacyKeyless := append(append([]string{}, legacyArgs...), "--fulcio-url", st.FulcioURL, "--timestamp-server-url", st.TSAURL,
		"--trusted-root", st.TrustedRootFile)
	v1 := []cosign.Option{cosign.WithAttestation(cosign.PredicateTypeSLSAProvenanceV1), cosign.WithSLSAPolicy(slsaPolicy)}
	v02 := []cosign.Option{cosign.WithAttestation(cosign.PredicateTypeSLSAProvenanceV02), cosign.WithSLSAPolicy(slsaPolicy)}
	otherPolicy := slsaPolicy
	otherPolicy.SourceRef = "refs/heads/dev"

	type verifierCase struct {
		name string
		opts []cosign.Option
	}
	for _, tc := range []struct {
		name    string
		args    []string // cosign3 arguments before the reference
		format  verify.Format
		subject string // the keyless subject, "" for keyed
		cli     string // the CLI, "cosign3" if ""
		accept  []verifierCase
		refuse  []verifierCase
	}{
		{
			name: "sign keyed bundle", format: verify.FormatBundle,
			args: append([]string{"sign", "--key", "signer.key"}, bundleArgs...),
			accept: []verifierCase{
				{"key", []cosign.Option{key}},
				{"key and trusted root", []cosign.Option{key, root}},
			},
			refuse: []verifierCase{{"other key", []cosign.Option{otherKey}}},
		},
		{
			name: "sign keyed legacy", format: verify.FormatLegacy,
			args:   append([]string{"sign", "--key", "signer.key"}, legacyArgs...),
			accept: []verifierCase{{"key", []cosign.Option{key}}},
			refuse: []verifierCase{{"other key", []cosign.Option{otherKey}}},
		},
		{
			name: "sign keyless email bundle", format: verify.FormatBundle, subject: email.Subject,
			args:   append([]string{"sign", "--identity-token", emailToken}, bundleArgs...),
			accept: []verifierCase{{"identity", []cosign.Option{root, cosign.WithIdentities(email)}}},
			refuse: []verifierCase{
				{"other subject", []cosign.Option{root, cosign.WithIdentities(cosign.Identity{Issuer: email.Issuer, Subject: "mallory@example.com"})}},
				{"other issuer", []cosign.Option{root, cosign.WithIdentities(cosign.Identity{Issuer: st.Issuer.WorkflowIssuer(), Subject: email.Subject})}},
				{"a key", []cosign.Option{key}},
			},
		},
		{
			name: "sign keyless email legacy", format: verify.FormatLegacy, subject: email.Subject,
			args:   append([]string{"sign", "--identity-token", emailToken}, legacyKeyless...),
			accept: []verifierCase{{"identity", []cosign.Option{root, cosign.WithIdentities(email)}}},
			refuse: []verifierCase{{"other subject", []cosign.Option{root, cosign.WithIdentities(cosign.Identity{Issuer: email.Issuer, Subject: "mallory@example.com"})}}},
		},
		{
			name: "sign keyless workflow bundle", format: verify.FormatBundle, subject: workflow.Subject,
			args: append([]string{"sign", "--identity-token", wfToken}, bundleArgs...),
			accept: []verifierCase{
				{"identity with extensions", []cosign.Option{root, cosign.WithIdentities(workflow)}},
				{"subject regexp", []cosign.Option{root, cosign.WithIdentities(cosign.Identity{Issuer: workflow.Issuer,
					SubjectRegExp: `https://github\.com/org/app/\.github/workflows/.*@refs/heads/main`})}},
			},
			refuse: []verifierCase{
				{"other ref extension", []cosign.Option{root, cosign.WithIdentities(otherRef)}},
				{"email identity", []cosign.Option{root, cosign.WithIdentities(email)}},
			},
		},
		{
			name: "attest keyed bundle slsaprovenance1", format: verify.FormatBundle,
			args:   append([]string{"attest", "--key", "signer.key", "--type", "slsaprovenance1", "--predicate", "v1.json"}, bundleArgs...),
			accept: []verifierCase{{"key", append([]cosign.Option{key}, v1...)}},
			refuse: []verifierCase{
				{"other predicate type", append([]cosign.Option{key}, v02...)},
				{"other SLSA source ref", []cosign.Option{key, cosign.WithAttestation(cosign.PredicateTypeSLSAProvenanceV1), cosign.WithSLSAPolicy(otherPolicy)}},
				{"signature verifier", []cosign.Option{key}},
				{"other key", append([]cosign.Option{otherKey}, v1...)},
			},
		},
		{
			name: "attest keyless workflow bundle slsaprovenance1", format: verify.FormatBundle, subject: workflow.Subject,
			args:   append([]string{"attest", "--identity-token", wfToken, "--type", "slsaprovenance1", "--predicate", "v1.json"}, bundleArgs...),
			accept: []verifierCase{{"identity", append([]cosign.Option{root, cosign.WithIdentities(workflow)}, v1...)}},
			refuse: []verifierCase{
				{"other predicate type", append([]cosign.Option{root, cosign.WithIdentities(workflow)}, v02...)},
				{"other ref extension", append([]cosign.Option{root, cosign.WithIdentities(otherRef)}, v1...)},
			},
		},
		{
			name: "attest keyed legacy slsaprovenance", format: verify.FormatLegacy,
			args:   append([]string{"attest", "--key", "signer.key", "--type", "slsaprovenance", "--predicate", "v02.json"}, legacyArgs...),
			accept: []verifierCase{{"key", append([]cosign.Option{key}, v02...)}},
			refuse: []verifierCase{{"other predicate type", append([]cosign.Option{key}, v1...)}},
		},
		{
			// cosign v3.1.3's own legacy keyless attestations carry a
			// timestamp its verify-attestation refuses (see
			// cosignV3LegacyKeylessAttestation); v2's are what a
			// legacy-format keyless attestation looks like.
			name: "cosign v2 attest keyless email legacy slsaprovenance", format: verify.FormatLegacy, subject: email.Subject, cli: "cosign",
			args: []string{"attest", "--identity-token", emailToken, "--type", "slsaprovenance", "--predicate", "v02.json",
				"--tlog-upload=false", "--fulcio-url", st.FulcioURL, "--timestamp-server-url", st.TSAURL,
				"--insecure-skip-verify=true"}, // v2 checks the certificate's SCT unless told not to; there is no CT log
			accept: []verifierCase{
				{"identity", append([]cosign.Option{root, cosign.WithIdentities(email)}, v02...)},
				{"identity, signed timestamp required", append([]cosign.Option{root, cosign.WithIdentities(email), cosign.WithRequireSignedTimestamp()}, v02...)},
			},
			refuse: []verifierCase{
				{"other predicate type", append([]cosign.Option{root, cosign.WithIdentities(email)}, v1...)},
				{"other subject", append([]cosign.Option{root, cosign.WithIdentities(cosign.Identity{Issuer: email.Issuer, Subject: "mallory@example.com"})}, v02...)},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := strings.ReplaceAll(tc.name, " ", "-")
			ref := sigstorestack.PushArtifact(t, reg, "org/"+repo+":v1", map[string]string{"app.yaml": "name: " + repo + "\n"})
			args := append(append([]string{}, tc.args...), "--yes", ref.Repo()+"@"+string(ref.Digest))
			cli := cmp.Or(tc.cli, "cosign3")
			if out, err := st.Run(t, reg, work, cli, args...); err != nil {
				t.Fatalf("%s %s: %v\n%s", cli, strings.Join(args, " "), err, out)
			}
			for _, a := range tc.accept {
				t.Run("accepts "+a.name, func(t *testing.T) {
					v := mustVerifier(t, append([]cosign.Option{cosign.WithClient(client)}, a.opts...)...)
					res, _ := expect(t, v, ref, passed)
					s := res.Signatures[0]
					if s.Format != tc.format || s.Subject != tc.subject || (tc.subject == "") != (s.KeyID != "") {
						t.Errorf("signature = %+v, want format %s, subject %q", s, tc.format, tc.subject)
					}
					if tc.args[0] == "attest" && (s.Statement == nil || s.Statement.Predicate == nil) {
						t.Errorf("attestation accepted without its statement: %+v", s)
					}
				})
			}
			for _, r := range tc.refuse {
				t.Run("refuses "+r.name, func(t *testing.T) {
					refusedOutcome(t, mustVerifier(t, append([]cosign.Option{cosign.WithClient(client)}, r.opts...)...), ref)
				})
			}
		})
	}

	t.Run("cosign v3 legacy keyless attestation", func(t *testing.T) {
		cosignV3LegacyKeylessAttestation(t, st, reg, client, work, emailToken, email, legacyKeyless, v02)
	})
}

// cosignV3LegacyKeylessAttestation pins down what cosign v3.1.3 does with
// `attest --new-bundle-format=false` keyless with a timestamp authority: the
// RFC 3161 timestamp it attaches covers the DSSE signature (as in a bundle),
// while verifiers of the legacy format, cosign v3.1.3's verify-attestation as
// much as ours (and cosign v2's attest writes it so), expect it over the
// envelope. So both refuse the attestation. When this fails, cosign changed:
// move the case into the table above.
func cosignV3LegacyKeylessAttestation(t *testing.T, st *sigstorestack.Stack, reg *realregistry.Registry, client *oci.Client, work, token string, id cosign.Identity, legacyKeyless []string, v02 []cosign.Option) {
	ref := sigstorestack.PushArtifact(t, reg, "org/v3-legacy-keyless-att:v1", map[string]string{"app.yaml": "name: v3-legacy\n"})
	cliRef := ref.Repo() + "@" + string(ref.Digest)
	st.MustCosign(t, reg, work, append(append([]string{"attest", "--yes", "--identity-token", token, "--type", "slsaprovenance", "--predicate", "v02.json"}, legacyKeyless...), cliRef)...)
	out, err := st.Cosign(t, reg, work, "verify-attestation", "--new-bundle-format=false", "--type", "slsaprovenance",
		"--trusted-root", st.TrustedRootFile, "--certificate-identity", id.Subject, "--certificate-oidc-issuer", id.Issuer,
		"--insecure-ignore-sct=true", "--insecure-ignore-tlog=true", "--use-signed-timestamps=true", cliRef)
	if err == nil || !strings.Contains(out, "hashed messages don't match") {
		t.Errorf("cosign3 verify-attestation of its own legacy keyless attestation: err %v, want a timestamp mismatch:\n%s", err, out)
	}
	res, err := mustVerifier(t, append([]cosign.Option{cosign.WithClient(client), cosign.WithTrustedRootFile(st.TrustedRootFile), cosign.WithIdentities(id)}, v02...)...).Verify(context.Background(), ref)
	if err == nil || !strings.Contains(err.Error(), "RFC 3161 timestamp") {
		t.Errorf("Verify = %+v, %v; want a refused RFC 3161 timestamp", res, err)
	}
}

// The real cosign v3 CLI accepts what verifytest signs and attests: keyed in
// both formats, and keyless with the virtual Sigstore's trusted root; and
// refuses another key, identity or predicate type. No private Sigstore is
// needed: the virtual one stands in for it.
func TestIntegrationCosignV3VerifiesOurs(t *testing.T) {
	reg := realregistry.Start(t)
	client, err := oci.NewClient(oci.WithBasicAuth(reg.Username, reg.Password), oci.WithCACertPool(reg.CAPool))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	work := t.TempDir()
	write := func(name string, b []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(work, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cosign3 := func(args ...string) (string, error) {
		t.Helper()
		cmd := reg.Command(t, "cosign3", args...)
		cmd.Dir = work
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	key := mustKey(t, verifytest.KeyECDSAP256)
	other := mustKey(t, verifytest.KeyECDSAP256)
	write("key.pub", key.PublicKeyPEM())
	write("other.pub", other.PublicKeyPEM())
	ss, rootJSON := mustSigstore(t)
	write("trusted_root.json", rootJSON)
	keyless := ss.Keyless(issuer, subject)

	pushRef := func(t *testing.T, name string) oci.Reference {
		t.Helper()
		return sigstorestack.PushArtifact(t, reg, "org/"+name+":v1", map[string]string{"app.yaml": "name: " + name + "\n"})
	}
	cliRef := func(ref oci.Reference) string { return ref.Repo() + "@" + string(ref.Digest) }
	mustAccept := func(t *testing.T, args ...string) {
		t.Helper()
		out, err := cosign3(args...)
		if err != nil {
			t.Fatalf("cosign3 %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	mustRefuse := func(t *testing.T, args ...string) {
		t.Helper()
		out, err := cosign3(args...)
		var exit interface{ ExitCode() int }
		if err == nil {
			t.Errorf("cosign3 %s accepted:\n%s", strings.Join(args, " "), out)
		} else if !errors.As(err, &exit) {
			t.Fatalf("cosign3 %s: %v", strings.Join(args, " "), err)
		}
	}
	keyedFlags := []string{"--insecure-ignore-tlog=true"}
	keylessFlags := []string{"--trusted-root", "trusted_root.json", "--insecure-ignore-sct=true", "--certificate-oidc-issuer", issuer}

	t.Run("signature keyed legacy", func(t *testing.T) {
		ref := pushRef(t, "keyed-legacy")
		if _, err := verifytest.SignLegacy(ctx, client, ref, key, verifytest.WithoutTransparencyLog()); err != nil {
			t.Fatal(err)
		}
		mustAccept(t, append(append([]string{"verify", "--key", "key.pub", "--new-bundle-format=false"}, keyedFlags...), cliRef(ref))...)
		mustRefuse(t, append(append([]string{"verify", "--key", "other.pub", "--new-bundle-format=false"}, keyedFlags...), cliRef(ref))...)
	})
	t.Run("signature keyed bundle", func(t *testing.T) {
		ref := pushRef(t, "keyed-bundle")
		if _, err := verifytest.SignBundle(ctx, client, ref, key, verifytest.WithoutTransparencyLog()); err != nil {
			t.Fatal(err)
		}
		mustAccept(t, append(append([]string{"verify", "--key", "key.pub"}, keyedFlags...), cliRef(ref))...)
		mustRefuse(t, append(append([]string{"verify", "--key", "other.pub"}, keyedFlags...), cliRef(ref))...)
	})
	t.Run("signature keyless bundle", func(t *testing.T) {
		ref := pushRef(t, "keyless-bundle")
		if _, err := verifytest.SignBundle(ctx, client, ref, keyless, verifytest.WithTransparencyLog(ss)); err != nil {
			t.Fatal(err)
		}
		mustAccept(t, append(append([]string{"verify", "--certificate-identity", subject}, keylessFlags...), cliRef(ref))...)
		mustRefuse(t, append(append([]string{"verify", "--certificate-identity", "mallory@example.com"}, keylessFlags...), cliRef(ref))...)
	})
	t.Run("attestation keyed bundle slsaprovenance1", func(t *testing.T) {
		ref := pushRef(t, "att-keyed-bundle")
		if _, err := verifytest.AttestBundle(ctx, client, ref, key, cosign.PredicateTypeSLSAProvenanceV1, []byte(slsaV1Predicate), verifytest.WithoutTransparencyLog()); err != nil {
			t.Fatal(err)
		}
		mustAccept(t, append(append([]string{"verify-attestation", "--key", "key.pub", "--type", "slsaprovenance1"}, keyedFlags...), cliRef(ref))...)
		mustRefuse(t, append(append([]string{"verify-attestation", "--key", "key.pub", "--type", "slsaprovenance"}, keyedFlags...), cliRef(ref))...)
		mustRefuse(t, append(append([]string{"verify-attestation", "--key", "other.pub", "--type", "slsaprovenance1"}, keyedFlags...), cliRef(ref))...)
	})
	t.Run("attestation keyed legacy slsaprovenance", func(t *testing.T) {
		ref := pushRef(t, "att-keyed-legacy")
		if _, err := verifytest.AttestLegacy(ctx, client, ref, key, cosign.PredicateTypeSLSAProvenanceV02, []byte(slsaV02Predicate), verifytest.WithoutTransparencyLog()); err != nil {
			t.Fatal(err)
		}
		mustAccept(t, append(append([]string{"verify-attestation", "--key", "key.pub", "--type", "slsaprovenance", "--new-bundle-format=false"}, keyedFlags...), cliRef(ref))...)
		mustRefuse(t, append(append([]string{"verify-attestation", "--key", "key.pub", "--type", "slsaprovenance1", "--new-bundle-format=false"}, keyedFlags...), cliRef(ref))...)
	})
	t.Run("attestation keyless bundle slsaprovenance1", func(t *testing.T) {
		ref := pushRef(t, "att-keyless-bundle")
		if _, err := verifytest.AttestBundle(ctx, client, ref, keyless, cosign.PredicateTypeSLSAProvenanceV1, []byte(slsaV1Predicate), verifytest.WithTransparencyLog(ss)); err != nil {
			t.Fatal(err)
		}
		mustAccept(t, append(append([]string{"verify-attestation", "--type", "slsaprovenance1", "--certificate-identity", subject}, keylessFlags...), cliRef(ref))...)
		mustRefuse(t, append(append([]string{"verify-attestation", "--type", "slsaprovenance1", "--certificate-identity", "mallory@example.com"}, keylessFlags...), cliRef(ref))...)
	})
}
