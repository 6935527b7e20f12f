package cosign_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"

	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

const ghIssuer = "https://token.actions.githubusercontent.com"

// workflow is a GitHub Actions release workflow as Fulcio certifies it.
type workflow struct {
	subject string
	ext     certificate.Extensions
}

func ghWorkflow(repo, ref, trigger, runner string) workflow {
	signer := "https://github.com/" + repo + "/.github/workflows/release.yml@" + ref
	return workflow{subject: signer, ext: certificate.Extensions{
		SourceRepositoryURI: "https://github.com/" + repo,
		SourceRepositoryRef: ref,
		BuildTrigger:        trigger,
		BuildSignerURI:      signer,
		RunnerEnvironment:   runner,
	}}
}

// identity requires everything w's certificate claims.
func (w workflow) identity() cosign.Identity {
	return cosign.Identity{Issuer: ghIssuer, Subject: w.subject, Extensions: cosign.Extensions{
		SourceRepositoryURI: w.ext.SourceRepositoryURI,
		SourceRepositoryRef: w.ext.SourceRepositoryRef,
		BuildTrigger:        w.ext.BuildTrigger,
		BuildSignerURI:      w.ext.BuildSignerURI,
		RunnerEnvironment:   w.ext.RunnerEnvironment,
	}}
}

// TestKeylessExtensions: identities can demand Fulcio's certificate
// extensions, in both formats; each identity matches as a whole (its
// subject together with its own extensions), and a policy may accept either
// of two workflows.
func TestKeylessExtensions(t *testing.T) {
	ss, rootJSON := mustSigstore(t)
	app := ghWorkflow("org/app", "refs/heads/main", "push", "github-hosted")
	lib := ghWorkflow("org/lib", "refs/tags/v1", "release", "github-hosted")
	other := ghWorkflow("org/other", "refs/heads/main", "push", "github-hosted")
	signer := func(w workflow) verifytest.Signer {
		return ss.Keyless(ghIssuer, w.subject, verifytest.WithCertificateExtensions(w.ext))
	}
	// sameSubject is app's subject whose certificate claims another trigger
	// and a self-hosted runner.
	sameSubject := app
	sameSubject.ext.BuildTrigger, sameSubject.ext.RunnerEnvironment = "pull_request_target", "self-hosted"

	appTriggerOnly := cosign.Identity{Issuer: ghIssuer, Subject: app.subject, Extensions: cosign.Extensions{BuildTrigger: "push"}}
	selfHosted := app.identity()
	selfHosted.Extensions.RunnerEnvironment = "self-hosted"
	// crossed takes lib's extensions with app's subject and the reverse:
	// neither workflow satisfies one identity as a whole.
	crossedA, crossedB := app.identity(), lib.identity()
	crossedA.Extensions, crossedB.Extensions = lib.identity().Extensions, app.identity().Extensions

	tests := []struct {
		name   string
		signer verifytest.Signer
		ids    []cosign.Identity
		want   outcome
	}{
		{"all extensions", signer(app), []cosign.Identity{app.identity()}, passed},
		{"one extension", signer(app), []cosign.Identity{appTriggerOnly}, passed},
		{"another trigger and runner", signer(sameSubject), []cosign.Identity{app.identity()}, rejected},
		{"another trigger, one extension demanded", signer(sameSubject), []cosign.Identity{appTriggerOnly}, rejected},
		{"a runner the certificate does not claim", signer(app), []cosign.Identity{selfHosted}, rejected},
		{"extensions demanded, certificate without", ss.Keyless(ghIssuer, app.subject), []cosign.Identity{app.identity()}, rejected},
		{"either workflow: first", signer(app), []cosign.Identity{app.identity(), lib.identity()}, passed},
		{"either workflow: second", signer(lib), []cosign.Identity{app.identity(), lib.identity()}, passed},
		{"either workflow: a third", signer(other), []cosign.Identity{app.identity(), lib.identity()}, rejected},
		{"crossed identities: first", signer(app), []cosign.Identity{crossedA, crossedB}, rejected},
		{"crossed identities: second", signer(lib), []cosign.Identity{crossedA, crossedB}, rejected},
	}
	for _, f := range formats {
		for _, tt := range tests {
			t.Run(f.name+"/"+tt.name, func(t *testing.T) {
				e := newEnv(t)
				e.sign(t, f.sign, e.ref, tt.signer)
				v := mustVerifier(t, cosign.WithClient(e.client), cosign.WithTrustedRootJSON(rootJSON),
					cosign.WithFormat(f.format), cosign.WithIdentities(tt.ids...))
				res, err := expect(t, v, e.ref, tt.want)
				switch tt.want {
				case passed:
					want := verify.Signature{Verifier: "cosign keyless", Format: f.format, Issuer: ghIssuer, Subject: res.Signatures[0].Subject}
					if got := res.Signatures[0]; got.Issuer != want.Issuer || got.Format != want.Format {
						t.Errorf("signature = %+v", got)
					}
				case rejected:
					if !errors.Is(err, cosign.ErrInvalidSignature) {
						t.Errorf("err = %v, want ErrInvalidSignature", err)
					}
				}
			})
		}
	}
}

func TestExtensionsInPolicy(t *testing.T) {
	_, rootJSON := mustSigstore(t)
	app := ghWorkflow("org/app", "refs/heads/main", "push", "github-hosted")
	plain := cosign.Identity{Issuer: ghIssuer, Subject: app.subject}
	withRef := plain
	withRef.Extensions.SourceRepositoryRef = "refs/heads/main"
	withOtherRef := plain
	withOtherRef.Extensions.SourceRepositoryRef = "refs/heads/dev"
	withTrigger := plain
	withTrigger.Extensions.BuildTrigger = "refs/heads/main"
	fp := func(id cosign.Identity) string {
		return mustVerifier(t, cosign.WithTrustedRootJSON(rootJSON), cosign.WithIdentities(id)).Fingerprint()
	}
	seen := map[string]string{}
	for name, id := range map[string]cosign.Identity{"plain": plain, "ref": withRef, "other ref": withOtherRef, "same value, other claim": withTrigger} {
		f := fp(id)
		if prev, dup := seen[f]; dup {
			t.Errorf("%s and %s share a fingerprint", name, prev)
		}
		seen[f] = name
	}
	if got, want := withRef.String(), `{issuer "`+ghIssuer+`", subject "`+app.subject+`", SourceRepositoryRef "refs/heads/main"}`; got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
	if strings.Contains(plain.String(), "Source") {
		t.Errorf("String() of an identity without extensions = %s", plain)
	}
}
