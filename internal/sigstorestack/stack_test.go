package sigstorestack_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/ocisource/ocisource/internal/sigstorestack"
)

// The stack comes up in its namespace, its trusted root lists exactly
// Fulcio and the timestamp authority, and the real Fulcio certifies the
// issuer's identities: the email as SAN, and for a workflow the workflow URI
// with the GitHub claims in Fulcio's extensions.
func TestIntegrationSigstoreStack(t *testing.T) {
	if !sigstorestack.Isolate(t) {
		return
	}
	st := sigstorestack.Start(t)
	tr, err := root.NewTrustedRootFromPath(st.TrustedRootFile)
	if err != nil {
		t.Fatal(err)
	}
	if n, m, l := len(tr.FulcioCertificateAuthorities()), len(tr.TimestampingAuthorities()), len(tr.RekorLogs()); n != 1 || m != 1 || l != 0 {
		t.Errorf("trusted root lists %d CAs, %d TSAs, %d Rekor logs; want 1, 1, 0", n, m, l)
	}
	sc, err := os.ReadFile(st.SigningConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{st.FulcioURL, st.TSAURL, st.Issuer.EmailIssuer()} {
		if !strings.Contains(string(sc), want) {
			t.Errorf("signing config does not name %s:\n%s", want, sc)
		}
	}
	if strings.Contains(string(sc), "rekorTlogUrls") {
		t.Errorf("signing config lists a Rekor:\n%s", sc)
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
	work := t.TempDir()
	blob := filepath.Join(work, "blob")
	if err := os.WriteFile(blob, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, token, issuer, san string
		ext                      certificate.Extensions
	}{
		{"email", emailToken, st.Issuer.EmailIssuer(), "release@example.com", certificate.Extensions{}},
		{"workflow", wfToken, st.Issuer.WorkflowIssuer(), wf.WorkflowURI(), certificate.Extensions{
			BuildSignerURI:      wf.WorkflowURI(),
			SourceRepositoryURI: wf.RepositoryURI(),
			SourceRepositoryRef: "refs/heads/main",
			BuildTrigger:        "push",
			RunnerEnvironment:   "github-hosted",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(work, tc.name+".sigstore.json")
			st.MustCosign(t, nil, work, "sign-blob", "--yes", "--identity-token", tc.token,
				"--signing-config", st.SigningConfigFile, "--trusted-root", st.TrustedRootFile,
				"--bundle", out, blob)
			b, err := bundle.LoadJSONFromPath(out)
			if err != nil {
				t.Fatal(err)
			}
			vc, err := b.VerificationContent()
			if err != nil {
				t.Fatal(err)
			}
			cert := vc.Certificate()
			if cert == nil {
				t.Fatal("the bundle holds no certificate")
			}
			summary, err := certificate.SummarizeCertificate(cert)
			if err != nil {
				t.Fatal(err)
			}
			if summary.SubjectAlternativeName != tc.san || summary.Issuer != tc.issuer {
				t.Errorf("certificate SAN %q issuer %q, want %q %q", summary.SubjectAlternativeName, summary.Issuer, tc.san, tc.issuer)
			}
			got, _ := json.Marshal(summary.Extensions)
			if err := certificate.CompareExtensions(tc.ext, summary.Extensions); err != nil {
				t.Errorf("certificate extensions %s do not carry %+v: %v", got, tc.ext, err)
			}
			if len(b.GetVerificationMaterial().GetTimestampVerificationData().GetRfc3161Timestamps()) != 1 {
				t.Errorf("bundle has no RFC 3161 timestamp")
			}
			st.MustCosign(t, nil, work, "verify-blob", "--bundle", out, "--trusted-root", st.TrustedRootFile,
				"--certificate-identity", tc.san, "--certificate-oidc-issuer", tc.issuer, "--insecure-ignore-sct=true", "--insecure-ignore-tlog=true", "--use-signed-timestamps=true", blob)
			if out, err := st.Cosign(t, nil, work, "verify-blob", "--bundle", out, "--trusted-root", st.TrustedRootFile,
				"--certificate-identity", "mallory@example.com", "--certificate-oidc-issuer", tc.issuer, "--insecure-ignore-sct=true", "--insecure-ignore-tlog=true", "--use-signed-timestamps=true", blob); err == nil {
				t.Errorf("cosign3 verify-blob accepted another identity:\n%s", out)
			}
		})
	}
}
