package cosign_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

func TestKeyless(t *testing.T) {
	ss, rootJSON := mustSigstore(t)
	rootFile := filepath.Join(t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(rootFile, rootJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	exact := cosign.Identity{Issuer: issuer, Subject: subject}
	const (
		subjectAlternation = `release@example\.com|ci@example\.com`
		issuerAlternation  = `https://issuer\.example|https://ci\.example`
	)

	tests := []struct {
		name    string
		signer  verifytest.Signer
		opts    []verifytest.SignOption
		verOpts []cosign.Option
		want    outcome
	}{
		{"exact identity", ss.Keyless(issuer, subject), nil,
			[]cosign.Option{cosign.WithIdentities(exact)}, passed},
		{"trusted root from file", ss.Keyless(issuer, subject), nil,
			[]cosign.Option{cosign.WithTrustedRootFile(rootFile), cosign.WithIdentities(exact)}, passed},
		{"regex identity", ss.Keyless(issuer, subject), nil,
			[]cosign.Option{cosign.WithIdentities(cosign.Identity{IssuerRegExp: `https://issuer\.example`, SubjectRegExp: `.*@example\.com`})}, passed},
		{"one of several identities", ss.Keyless(issuer, subject), nil,
			[]cosign.Option{cosign.WithIdentities(cosign.Identity{Issuer: issuer, Subject: "other@example.com"}, exact)}, passed},
		{"wrong issuer", ss.Keyless("https://evil.example", subject), nil,
			[]cosign.Option{cosign.WithIdentities(exact)}, rejected},
		{"wrong subject", ss.Keyless(issuer, "mallory@example.com"), nil,
			[]cosign.Option{cosign.WithIdentities(exact)}, rejected},
		{"subject regex matches only as a substring", ss.Keyless(issuer, "release@example.com.attacker.io"), nil,
			[]cosign.Option{cosign.WithIdentities(cosign.Identity{Issuer: issuer, SubjectRegExp: `release@example\.com`})}, rejected},
		{"subject regex with its own anchors", ss.Keyless(issuer, "x-release@example.com"), nil,
			[]cosign.Option{cosign.WithIdentities(cosign.Identity{Issuer: issuer, SubjectRegExp: `^release@example\.com$`})}, rejected},
		{"issuer regex matches only as a substring", ss.Keyless("https://issuer.example.attacker.io", subject), nil,
			[]cosign.Option{cosign.WithIdentities(cosign.Identity{IssuerRegExp: `https://issuer\.example`, Subject: subject})}, rejected},
		{"alternation cannot escape the anchors", ss.Keyless(issuer, "mallory@evil.io"), nil,
			[]cosign.Option{cosign.WithIdentities(cosign.Identity{Issuer: issuer, SubjectRegExp: `release@example\.com|evil`})}, rejected},
		// An alternation stays inside the anchors: ^(?:a|b)$, not ^a|b$,
		// under which a is anchored only at the start and b only at the end.
		{"subject alternation: second branch", ss.Keyless(issuer, "ci@example.com"), nil,
			[]cosign.Option{cosign.WithIdentities(cosign.Identity{Issuer: issuer, SubjectRegExp: subjectAlternation})}, passed},
		{"subject alternation: prefix before the last branch", ss.Keyless(issuer, "evil-ci@example.com"), nil,
			[]cosign.Option{cosign.WithIdentities(cosign.Identity{Issuer: issuer, SubjectRegExp: subjectAlternation})}, rejected},
		{"subject alternation: suffix after the first branch", ss.Keyless(issuer, "release@example.com.attacker.io"), nil,
			[]cosign.Option{cosign.WithIdentities(cosign.Identity{Issuer: issuer, SubjectRegExp: subjectAlternation})}, rejected},
		{"issuer alternation: second branch", ss.Keyless("https://ci.example", subject), nil,
			[]cosign.Option{cosign.WithIdentities(cosign.Identity{IssuerRegExp: issuerAlternation, Subject: subject})}, passed},
		{"issuer alternation: prefix before the last branch", ss.Keyless("https://attacker.io/https://ci.example", subject), nil,
			[]cosign.Option{cosign.WithIdentities(cosign.Identity{IssuerRegExp: issuerAlternation, Subject: subject})}, rejected},
		{"issuer alternation: suffix after the first branch", ss.Keyless("https://issuer.example.attacker.io", subject), nil,
			[]cosign.Option{cosign.WithIdentities(cosign.Identity{IssuerRegExp: issuerAlternation, Subject: subject})}, rejected},
		{"any identity, unsafely", ss.Keyless("https://anyone.example", "anyone@anywhere"), nil,
			[]cosign.Option{cosign.WithoutIdentityUnsafe()}, passed},
		{"no transparency-log entry while the root lists Rekor", ss.Keyless(issuer, subject),
			[]verifytest.SignOption{verifytest.WithoutTransparencyLog()},
			[]cosign.Option{cosign.WithIdentities(exact)}, rejected},
	}
	for _, f := range formats {
		for _, tt := range tests {
			t.Run(f.name+"/"+tt.name, func(t *testing.T) {
				e := newEnv(t)
				e.sign(t, f.sign, e.ref, tt.signer, tt.opts...)
				opts := append([]cosign.Option{cosign.WithClient(e.client), cosign.WithFormat(f.format)}, tt.verOpts...)
				if tt.name != "trusted root from file" {
					opts = append(opts, cosign.WithTrustedRootJSON(rootJSON))
				}
				res, _ := expect(t, mustVerifier(t, opts...), e.ref, tt.want)
				if tt.want != passed {
					return
				}
				s := res.Signatures[0]
				ks := tt.signer.(*verifytest.KeylessSigner)
				if s.Issuer != ks.Issuer() || s.Subject != ks.Subject() || s.KeyID != "" || s.Format != f.format {
					t.Errorf("signature = %+v, want issuer %s subject %s format %v", s, ks.Issuer(), ks.Subject(), f.format)
				}
				if s.Tlog == nil {
					t.Fatal("no transparency-log entry reported")
				}
				if d := time.Since(s.Tlog.IntegratedTime); d < -time.Minute || d > time.Minute {
					t.Errorf("integrated time %v is not now", s.Tlog.IntegratedTime)
				}
				if len(s.Tlog.LogID) != 64 {
					t.Errorf("log id %q is not a hex sha256", s.Tlog.LogID)
				}
			})
		}
	}
}

// TestTrustedRootDecides checks that what the trusted root lists decides
// what is demanded.
func TestTrustedRootDecides(t *testing.T) {
	exact := cosign.WithIdentities(cosign.Identity{Issuer: issuer, Subject: subject})
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			t.Run("no Rekor: timestamp authority dates the signature", func(t *testing.T) {
				ss, rootJSON := mustSigstore(t, verifytest.WithoutRekor())
				e := newEnv(t)
				e.sign(t, f.sign, e.ref, ss.Keyless(issuer, subject))
				res, _ := expect(t, mustVerifier(t, cosign.WithClient(e.client), cosign.WithTrustedRootJSON(rootJSON), exact), e.ref, passed)
				if res.Signatures[0].Tlog != nil {
					t.Errorf("tlog entry reported without a Rekor log: %+v", res.Signatures[0].Tlog)
				}
			})
			t.Run("no Rekor: a demanded tlog cannot be configured", func(t *testing.T) {
				_, rootJSON := mustSigstore(t, verifytest.WithoutRekor())
				if _, err := cosign.New(cosign.WithTrustedRootJSON(rootJSON), exact, cosign.WithRequireTlog()); err == nil {
					t.Fatal("WithRequireTlog accepted with a root without Rekor")
				}
			})
			t.Run("CT logs listed: SCT demanded", func(t *testing.T) {
				ss, rootJSON := mustSigstore(t, verifytest.WithCTLog())
				e := newEnv(t)
				e.sign(t, f.sign, e.ref, ss.Keyless(issuer, subject))
				expect(t, mustVerifier(t, cosign.WithClient(e.client), cosign.WithTrustedRootJSON(rootJSON), exact), e.ref, rejected)
			})
			t.Run("no CT log: caller demands SCT", func(t *testing.T) {
				_, rootJSON := mustSigstore(t)
				if _, err := cosign.New(cosign.WithTrustedRootJSON(rootJSON), exact, cosign.WithRequireSCT()); err == nil {
					t.Fatal("WithRequireSCT accepted with a root without CT logs")
				}
			})
			t.Run("caller demands a signed timestamp", func(t *testing.T) {
				ss, rootJSON := mustSigstore(t)
				e := newEnv(t)
				e.sign(t, f.sign, e.ref, ss.Keyless(issuer, subject))
				expect(t, mustVerifier(t, cosign.WithClient(e.client), cosign.WithTrustedRootJSON(rootJSON), exact, cosign.WithRequireSignedTimestamp()), e.ref, passed)

				e2 := newEnv(t)
				e2.sign(t, f.sign, e2.ref, ss.Keyless(issuer, subject), verifytest.WithoutTimestamp())
				expect(t, mustVerifier(t, cosign.WithClient(e2.client), cosign.WithTrustedRootJSON(rootJSON), exact, cosign.WithRequireSignedTimestamp()), e2.ref, rejected)
				// Without the demand, the Rekor entry dates it.
				expect(t, mustVerifier(t, cosign.WithClient(e2.client), cosign.WithTrustedRootJSON(rootJSON), exact), e2.ref, passed)
			})
			t.Run("certificate from another root", func(t *testing.T) {
				other, _ := mustSigstore(t)
				_, rootJSON := mustSigstore(t)
				e := newEnv(t)
				e.sign(t, f.sign, e.ref, other.Keyless(issuer, subject))
				expect(t, mustVerifier(t, cosign.WithClient(e.client), cosign.WithTrustedRootJSON(rootJSON), exact), e.ref, rejected)
			})
		})
	}
}

// TestModesDoNotMix checks that a keyless signature does not pass a keyed
// verifier and the other way round.
func TestModesDoNotMix(t *testing.T) {
	ss, rootJSON := mustSigstore(t)
	key := mustKey(t, verifytest.KeyECDSAP256)
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			e := newEnv(t)
			e.sign(t, f.sign, e.ref, ss.Keyless(issuer, subject))
			expect(t, mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(key.PublicKeyPEM())), e.ref, rejected)

			e2 := newEnv(t)
			e2.sign(t, f.sign, e2.ref, key)
			expect(t, mustVerifier(t, cosign.WithClient(e2.client), cosign.WithTrustedRootJSON(rootJSON), cosign.WithoutIdentityUnsafe()), e2.ref, rejected)
		})
	}
}

// TestKeylessWorkflowIdentity checks a GitHub Actions policy: the signer is
// a workflow (a URI SAN, as Fulcio issues it), and only the release
// workflow of one repository, on a tag, may sign.
func TestKeylessWorkflowIdentity(t *testing.T) {
	const (
		ghIssuer = "https://token.actions.githubusercontent.com"
		release  = "https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1.2.3"
	)
	ss, rootJSON := mustSigstore(t)
	policy := cosign.WithIdentities(cosign.Identity{
		Issuer:        ghIssuer,
		SubjectRegExp: `https://github\.com/org/repo/\.github/workflows/release\.yml@refs/tags/.*`,
	})
	tests := []struct {
		name, issuer, subject string
		want                  outcome
	}{
		{"release workflow on a tag", ghIssuer, release, passed},
		{"another workflow", ghIssuer, "https://github.com/org/repo/.github/workflows/other.yml@refs/tags/v1.2.3", rejected},
		{"release workflow on a branch", ghIssuer, "https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main", rejected},
		{"release workflow of a fork", ghIssuer, "https://github.com/org/repo-fork/.github/workflows/release.yml@refs/tags/v1.2.3", rejected},
		{"workflow URL inside another identity", ghIssuer, "https://evil.example/?u=" + release, rejected},
		{"another issuer", "https://token.actions.evil.example", release, rejected},
	}
	for _, f := range formats {
		for _, tt := range tests {
			t.Run(f.name+"/"+tt.name, func(t *testing.T) {
				e := newEnv(t)
				e.sign(t, f.sign, e.ref, ss.Keyless(tt.issuer, tt.subject))
				v := mustVerifier(t, cosign.WithClient(e.client), cosign.WithFormat(f.format), cosign.WithTrustedRootJSON(rootJSON), policy)
				res, _ := expect(t, v, e.ref, tt.want)
				if tt.want != passed {
					return
				}
				if s := res.Signatures[0]; s.Issuer != ghIssuer || s.Subject != release {
					t.Errorf("signature = %+v, want issuer %s subject %s", s, ghIssuer, release)
				}
			})
		}
	}
}
