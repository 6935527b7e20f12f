package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource/internal/realregistry"
	"github.com/ocisource/ocisource/internal/sigstorestack"
)

// TestIntegrationOcifetchPrivateSigstore runs the built ocifetch against what
// the real cosign v3 CLI signed and attested with a real private Sigstore
// (Fulcio and a timestamp authority, no Rekor) in the real registry: keyless
// with --trusted-root and the workflow identity, with SLSA v1 provenance
// required (--attestation-type, --slsa-*), and keyed; and exit code 3, with
// --out untouched, for a wrong identity, another predicate type or another
// source ref.
func TestIntegrationOcifetchPrivateSigstore(t *testing.T) {
	if !sigstorestack.Isolate(t) {
		return
	}
	st := sigstorestack.Start(t)
	reg := realregistry.Start(t)
	bin := buildBinary(t)
	work := t.TempDir()

	url := "oci://" + reg.Host + "/org/manifests"
	sigstorestack.PushArtifact(t, reg, "org/manifests:1.0.0", map[string]string{"deploy.yaml": "version: 1.0.0\n"})
	pinned := sigstorestack.PushArtifact(t, reg, "org/manifests:1.1.0", map[string]string{"deploy.yaml": "version: 1.1.0\n"})
	provenance := `{"buildDefinition": {"buildType": "https://actions.github.io/buildtypes/workflow/v1",
  "externalParameters": {"workflow": {"repository": "https://github.com/org/app", "ref": "refs/heads/main", "path": ".github/workflows/release.yml"}}},
  "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}}}`
	if err := os.WriteFile(filepath.Join(work, "provenance.json"), []byte(provenance), 0o600); err != nil {
		t.Fatal(err)
	}
	wf := sigstorestack.Workflow{Repository: "org/app", WorkflowPath: ".github/workflows/release.yml", Ref: "refs/heads/main"}
	token, err := st.Issuer.WorkflowToken(wf)
	if err != nil {
		t.Fatal(err)
	}
	cliRef := pinned.Repo() + "@" + string(pinned.Digest)
	services := []string{"--signing-config", st.SigningConfigFile, "--trusted-root", st.TrustedRootFile}
	st.MustCosign(t, reg, work, append(append([]string{"sign", "--yes", "--identity-token", token}, services...), cliRef)...)
	st.MustCosign(t, reg, work, append(append([]string{"attest", "--yes", "--identity-token", token,
		"--type", "slsaprovenance1", "--predicate", "provenance.json"}, services...), cliRef)...)
	st.MustCosign(t, reg, work, "generate-key-pair", "--output-key-prefix", "release")
	st.MustCosign(t, reg, work, append(append([]string{"sign", "--yes", "--key", "release.key"}, services...), cliRef)...)

	emptyDocker := filepath.Join(work, "empty-docker")
	if err := os.Mkdir(emptyDocker, 0o755); err != nil {
		t.Fatal(err)
	}
	ocifetch := func(wantCode int, args ...string) (stdout, stderr string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+emptyDocker, "SSL_CERT_FILE=/nonexistent", "SSL_CERT_DIR=/nonexistent")
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatalf("running ocifetch: %v", err)
		}
		if code != wantCode {
			t.Fatalf("ocifetch %s\nexit code %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, o.String(), e.String())
		}
		t.Logf("ocifetch %s -> %d\n%s%s", strings.Join(args, " "), code, o.String(), e.String())
		return o.String(), e.String()
	}

	out := filepath.Join(work, "manifests")
	base := []string{"--docker-config", reg.DockerConfigDir, "--ca-file", reg.CAFile, "--url", url, "--semver", "1.x", "--out", out}
	trust := []string{"--trusted-root", st.TrustedRootFile, "--certificate-oidc-issuer", st.Issuer.WorkflowIssuer()}
	slsa := []string{"--attestation-type", "https://slsa.dev/provenance/v1",
		"--slsa-builder-id", "https://github.com/actions/runner/github-hosted",
		"--slsa-source-repository", "https://github.com/org/app", "--slsa-source-ref", "refs/heads/main"}
	args := func(parts ...[]string) []string {
		var all []string
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	identity := []string{"--certificate-identity", wf.WorkflowURI()}
	revision := "1.1.0@" + string(pinned.Digest)
	verifiedBy := "  verified   bundle signature by " + wf.WorkflowURI() + " (issuer " + st.Issuer.WorkflowIssuer() + ")\n"

	// 1. Keyless with the provenance required: the signature and the attestation.
	stdout, _ := ocifetch(0, args(base, trust, identity, slsa)...)
	if !strings.Contains(stdout, "  revision   "+revision+"\n") || strings.Count(stdout, verifiedBy) != 2 {
		t.Errorf("stdout does not show %s verified by a signature and an attestation (%q twice):\n%s", revision, verifiedBy, stdout)
	}
	if diff := cmp.Diff(map[string]string{"./": "", "deploy.yaml": "version: 1.1.0\n"}, tree(t, out)); diff != "" {
		t.Errorf("content (-want +got):\n%s", diff)
	}

	// 2. The same as JSON, with an anchored identity regexp: the statement is there.
	stdout, _ = ocifetch(0, args(base, trust, []string{"--certificate-identity-regexp", `https://github\.com/org/app/\.github/workflows/.*`, "--json"}, slsa)...)
	var a struct {
		Verification struct {
			Signatures []struct {
				Subject   string `json:"subject"`
				Statement *struct {
					PredicateType string `json:"predicateType"`
				} `json:"statement"`
			} `json:"signatures"`
		} `json:"verification"`
	}
	if err := json.Unmarshal([]byte(stdout), &a); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	var predicateTypes []string
	for _, s := range a.Verification.Signatures {
		if s.Subject != wf.WorkflowURI() {
			t.Errorf("signature by %q, want %q", s.Subject, wf.WorkflowURI())
		}
		if s.Statement != nil {
			predicateTypes = append(predicateTypes, s.Statement.PredicateType)
		}
	}
	if diff := cmp.Diff([]string{"https://slsa.dev/provenance/v1"}, predicateTypes); diff != "" {
		t.Errorf("verified statements (-want +got):\n%s", diff)
	}

	// 3. Keyed, the key cosign generated.
	stdout, _ = ocifetch(0, args(base, []string{"--key", filepath.Join(work, "release.pub")})...)
	if !strings.Contains(stdout, "  verified   bundle signature by key ") {
		t.Errorf("stdout does not show a keyed bundle signature:\n%s", stdout)
	}

	// 4. Refused: exit 3, --out untouched.
	before := snapshot(t, out)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"another identity", args(base, trust, []string{"--certificate-identity", "https://github.com/org/app/.github/workflows/other.yml@refs/heads/main"})},
		{"another issuer", args(base, identity, []string{"--trusted-root", st.TrustedRootFile, "--certificate-oidc-issuer", st.Issuer.EmailIssuer()})},
		{"another predicate type", args(base, trust, identity, []string{"--attestation-type", "https://slsa.dev/provenance/v0.2"})},
		{"another source ref", args(base, trust, identity, slsa[:len(slsa)-1], []string{"refs/heads/dev"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr := ocifetch(3, tc.args...)
			if !strings.Contains(stderr, "verification failed") {
				t.Errorf("stderr does not say verification failed:\n%s", stderr)
			}
			if diff := cmp.Diff(before, snapshot(t, out)); diff != "" {
				t.Errorf("--out changed by a refused artifact (-want +got):\n%s", diff)
			}
		})
	}
}
