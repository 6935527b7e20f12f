package ocisource_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/internal/realregistry"
	"github.com/ocisource/ocisource/internal/sigstorestack"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
)

// slsaV1Provenance is SLSA v1 provenance as a GitHub Actions release of
// org/app records it.
const slsaV1Provenance = `{
  "buildDefinition": {
    "buildType": "https://actions.github.io/buildtypes/workflow/v1",
    "externalParameters": {"workflow": {"repository": "https://github.com/org/app", "ref": "refs/heads/main", "path": ".github/workflows/release.yml"}}
  },
  "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}}
}`

// TestIntegrationFetcherPrivateSigstore fetches through the Fetcher what the
// real cosign v3 CLI signed and attested against a real private Sigstore
// (Fulcio, timestamp authority, no Rekor) and the real registry: keylessly
// by a GitHub-workflow identity (Fulcio extensions required) with SLSA v1
// provenance, and with a key; and refuses a wrong identity, a wrong
// extension and an attestation of another predicate type, leaving the
// directory as it was.
func TestIntegrationFetcherPrivateSigstore(t *testing.T) {
	if !sigstorestack.Isolate(t) {
		return
	}
	st := sigstorestack.Start(t)
	reg := realregistry.Start(t)
	ctx := context.Background()
	client, err := oci.NewClient(oci.WithBasicAuth(reg.Username, reg.Password), oci.WithCACertPool(reg.CAPool))
	if err != nil {
		t.Fatal(err)
	}
	url := "oci://" + reg.Host + "/org/manifests"
	v100 := sigstorestack.PushArtifact(t, reg, "org/manifests:1.0.0", map[string]string{"app.yaml": "version: 1.0.0\n"})
	v110 := sigstorestack.PushArtifact(t, reg, "org/manifests:1.1.0", map[string]string{"app.yaml": "version: 1.1.0\n"})

	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "provenance.json"), []byte(slsaV1Provenance), 0o600); err != nil {
		t.Fatal(err)
	}
	wf := sigstorestack.Workflow{Repository: "org/app", WorkflowPath: ".github/workflows/release.yml", Ref: "refs/heads/main"}
	token, err := st.Issuer.WorkflowToken(wf)
	if err != nil {
		t.Fatal(err)
	}
	cliRef := func(r oci.Reference) string { return r.Repo() + "@" + string(r.Digest) }
	services := []string{"--signing-config", st.SigningConfigFile, "--trusted-root", st.TrustedRootFile}
	// 1.1.0: signed and attested keylessly by the release workflow.
	st.MustCosign(t, reg, work, append(append([]string{"sign", "--yes", "--identity-token", token}, services...), cliRef(v110))...)
	st.MustCosign(t, reg, work, append(append([]string{"attest", "--yes", "--identity-token", token,
		"--type", "slsaprovenance1", "--predicate", "provenance.json"}, services...), cliRef(v110))...)
	// 1.0.0: signed with a key.
	st.MustCosign(t, reg, work, "generate-key-pair", "--output-key-prefix", "release")
	st.MustCosign(t, reg, work, append(append([]string{"sign", "--yes", "--key", "release.key"}, services...), cliRef(v100))...)

	release := cosign.Identity{Issuer: st.Issuer.WorkflowIssuer(), Subject: wf.WorkflowURI(), Extensions: cosign.Extensions{
		SourceRepositoryURI: wf.RepositoryURI(),
		SourceRepositoryRef: "refs/heads/main",
		BuildTrigger:        "push",
		RunnerEnvironment:   "github-hosted",
	}}
	newVerifier := func(opts ...cosign.Option) verify.Verifier {
		t.Helper()
		v, err := cosign.New(append([]cosign.Option{cosign.WithClient(client)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	keyless := func(id cosign.Identity, extra ...cosign.Option) verify.Verifier {
		return newVerifier(append([]cosign.Option{cosign.WithTrustedRootFile(st.TrustedRootFile), cosign.WithIdentities(id)}, extra...)...)
	}
	signedAndBuilt := func(id cosign.Identity, predicateType string) verify.Verifier {
		t.Helper()
		p, err := verify.AllOf(keyless(id),
			keyless(id, cosign.WithAttestation(predicateType), cosign.WithSLSAPolicy(cosign.SLSAPolicy{
				SourceRepository: "https://github.com/org/app",
				SourceRef:        "refs/heads/main",
				BuilderID:        "https://github.com/actions/runner/github-hosted",
			})))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyed := newVerifier(cosign.WithKeyFiles(filepath.Join(work, "release.pub")))

	fetcher, err := ocisource.NewFetcher(ocisource.WithClient(client))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "content")

	for _, tc := range []struct {
		name    string
		src     ocisource.Source
		want    string
		wantRev string
		wantSig int // signatures and attestations in the result
	}{
		{"semver keyless, signed and built by the workflow", ocisource.Source{URL: url, Ref: ocisource.Ref{SemVer: "1.x"},
			Verifier: signedAndBuilt(release, cosign.PredicateTypeSLSAProvenanceV1)}, "version: 1.1.0\n", "1.1.0@" + string(v110.Digest), 2},
		{"digest keyless", ocisource.Source{URL: url, Ref: ocisource.Ref{Digest: string(v110.Digest)}, Verifier: keyless(release)}, "version: 1.1.0\n", string(v110.Digest), 1},
		// Last, so that the refusals of 1.1.0 below would show in the directory.
		{"tag keyed", ocisource.Source{URL: url, Ref: ocisource.Ref{Tag: "1.0.0"}, Verifier: keyed}, "version: 1.0.0\n", "1.0.0@" + string(v100.Digest), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := fetcher.Fetch(ctx, tc.src, dir)
			if err != nil {
				t.Fatal(err)
			}
			if a.Revision != tc.wantRev || a.Verification == nil || len(a.Verification.Signatures) != tc.wantSig {
				t.Errorf("artifact = %+v, want revision %s with %d verified signatures", a, tc.wantRev, tc.wantSig)
			}
			if diff := cmp.Diff(map[string]string{"app.yaml": tc.want}, tree(t, dir)); diff != "" {
				t.Errorf("content (-want +got):\n%s", diff)
			}
		})
	}

	otherRef := release
	otherRef.Extensions.SourceRepositoryRef = "refs/heads/dev"
	for _, tc := range []struct {
		name string
		v    verify.Verifier
	}{
		{"another subject", keyless(cosign.Identity{Issuer: release.Issuer, Subject: "https://github.com/org/app/.github/workflows/other.yml@refs/heads/main"})},
		{"another issuer", keyless(cosign.Identity{Issuer: st.Issuer.EmailIssuer(), Subject: release.Subject})},
		{"another source ref extension", keyless(otherRef)},
		{"an attestation of another predicate type", signedAndBuilt(release, cosign.PredicateTypeSLSAProvenanceV02)},
		{"a key, on a keyless signature", keyed},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			before := tree(t, dir)
			_, err := fetcher.Fetch(ctx, ocisource.Source{URL: url, Ref: ocisource.Ref{Tag: "1.1.0"}, Verifier: tc.v}, dir)
			if !errors.Is(err, ocisource.ErrVerification) {
				t.Fatalf("err = %v, want ErrVerification", err)
			}
			t.Logf("refused: %v", err)
			if diff := cmp.Diff(before, tree(t, dir)); diff != "" {
				t.Errorf("dir changed (-before +after):\n%s", diff)
			}
		})
	}
}
