package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/oci/push"
	"github.com/ocisource/ocisource/verify/verifytest"
)

const (
	issuer  = "https://token.actions.githubusercontent.com"
	subject = "https://github.com/org/app/.github/workflows/release.yml@refs/tags/1.1.0"
)

// env is an in-memory registry holding the repository "app" and a scratch
// directory, with a helper that runs the command in-process against it.
type env struct {
	t    *testing.T
	ctx  context.Context
	reg  *ocitest.Registry
	work string
	// base flags every run gets: plain HTTP (ocitest), and an empty docker
	// config so the test never reads the user's credentials.
	base []string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), reg: ocitest.NewT(t), work: t.TempDir()}
	docker := filepath.Join(e.work, "docker")
	if err := os.Mkdir(docker, 0o755); err != nil {
		t.Fatal(err)
	}
	e.base = []string{"--insecure", "--docker-config", docker}
	return e
}

func (e *env) url() string { return e.reg.URL("app") }

// push pushes files as app:tag and returns the digest-pinned reference.
func (e *env) push(tag string, files map[string]string) oci.Reference {
	e.t.Helper()
	d, err := e.reg.PushFiles(e.ctx, "app:"+tag, files, push.WithSource("https://github.com/org/app"), push.WithRevision(tag+"@sha1:0123abcd"))
	if err != nil {
		e.t.Fatal(err)
	}
	return e.reg.Ref("app:" + tag).WithDigest(d.Digest)
}

// file writes content to name in the scratch directory and returns its path.
func (e *env) file(name string, content []byte) string {
	e.t.Helper()
	p := filepath.Join(e.work, name)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs the command with the base flags and args.
func (e *env) run(args ...string) result {
	e.t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(e.ctx, append(append([]string{}, e.base...), args...), &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// mustRun runs the command and fails the test unless it exits with want.
func (e *env) mustRun(want int, args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != want {
		e.t.Fatalf("ocifetch %s\nexit code %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r
}

// tree reads dir into relative path -> content (directories as "/").
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out[filepath.ToSlash(rel)+"/"] = ""
			return nil
		}
		b, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// snapshot reads dir and the record the Fetcher keeps beside it.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	s := tree(t, dir)
	rec, err := os.ReadFile(filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".ocisource.json"))
	if err == nil {
		s["<record>"] = string(rec)
	}
	return s
}

func TestRunFetchesByReference(t *testing.T) {
	e := newEnv(t)
	refs := map[string]oci.Reference{}
	for _, tag := range []string{"1.0.0", "1.1.0", "2.0.0", "latest"} {
		refs[tag] = e.push(tag, map[string]string{"version.txt": tag, "deploy/app.yaml": "kind: Deployment\n"})
	}
	rev := func(tag string) string { return tag + "@" + string(refs[tag].Digest) }
	tests := []struct {
		name    string
		args    []string
		wantRev string
		wantVer string
	}{
		{"tag", []string{"--tag", "1.0.0"}, rev("1.0.0"), "1.0.0"},
		{"no reference means latest", nil, rev("latest"), "latest"},
		{"semver range", []string{"--semver", ">=1.0.0 <2.0.0"}, rev("1.1.0"), "1.1.0"},
		{"semver beats tag", []string{"--semver", "2.x", "--tag", "1.0.0"}, rev("2.0.0"), "2.0.0"},
		{"semver filter", []string{"--semver", "*", "--semver-filter", `^1\.0`}, rev("1.0.0"), "1.0.0"},
		{"digest beats semver and tag", []string{"--digest", string(refs["1.1.0"].Digest), "--semver", "2.x", "--tag", "1.0.0"}, string(refs["1.1.0"].Digest), "1.1.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "content")
			r := e.mustRun(0, append([]string{"--url", e.url(), "--out", out}, tt.args...)...)
			want := map[string]string{"./": "", "version.txt": tt.wantVer, "deploy/": "", "deploy/app.yaml": "kind: Deployment\n"}
			if diff := cmp.Diff(want, tree(t, out)); diff != "" {
				t.Errorf("content (-want +got):\n%s", diff)
			}
			for _, line := range []string{
				"Fetched " + e.url() + " into " + out,
				"  revision   " + tt.wantRev + "\n",
				"  source     https://github.com/org/app @ " + tt.wantVer + "@sha1:0123abcd\n",
				"  verified   no: signatures not checked",
				fmt.Sprintf("  content    2 files, %d B (extracted from a ", len(tt.wantVer)+len("kind: Deployment\n")),
				"  cache      miss: downloaded ",
			} {
				if !strings.Contains(r.stdout, line) {
					t.Errorf("stdout lacks %q:\n%s", line, r.stdout)
				}
			}
			if r.stderr != "" {
				t.Errorf("stderr = %q, want nothing (not a terminal, no --progress)", r.stderr)
			}
		})
	}
}

func TestRunKeyedVerification(t *testing.T) {
	e := newEnv(t)
	signed := e.push("1.0.0", map[string]string{"app.yaml": "signed\n"})
	e.push("2.0.0", map[string]string{"app.yaml": "unsigned\n"})
	key, err := verifytest.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	other, err := verifytest.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifytest.SignLegacy(e.ctx, e.reg.Client(), signed, key); err != nil {
		t.Fatal(err)
	}
	good := e.file("cosign.pub", key.PublicKeyPEM())
	wrong := e.file("other.pub", other.PublicKeyPEM())
	out := filepath.Join(e.work, "content")

	r := e.mustRun(0, "--url", e.url(), "--tag", "1.0.0", "--key", good, "--out", out)
	if want := "  verified   legacy signature by key " + key.KeyID()[:16] + "…\n"; !strings.Contains(r.stdout, want) {
		t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
	}
	before := snapshot(t, out)
	if before["app.yaml"] != "signed\n" || before["<record>"] == "" {
		t.Fatalf("after the first fetch: %v", before)
	}

	// Another key must verify afresh, not ride on the cached verification,
	// and its refusal leaves the directory and its record as they were.
	r = e.mustRun(3, "--url", e.url(), "--tag", "1.0.0", "--key", wrong, "--out", out)
	if !strings.Contains(r.stderr, "verification failed") || !strings.Contains(r.stderr, "invalid signature") {
		t.Errorf("stderr does not say why:\n%s", r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing on failure", r.stdout)
	}
	if diff := cmp.Diff(before, snapshot(t, out)); diff != "" {
		t.Errorf("--out changed by a failed verification (-want +got):\n%s", diff)
	}

	// An unsigned release is refused, saying there was nothing to check.
	r = e.mustRun(3, "--url", e.url(), "--tag", "2.0.0", "--key", good, "--out", out)
	if !strings.Contains(r.stderr, "no signatures") || !strings.Contains(r.stderr, "\nhint: no cosign signature is attached") {
		t.Errorf("stderr does not say the artifact is unsigned:\n%s", r.stderr)
	}
	if diff := cmp.Diff(before, snapshot(t, out)); diff != "" {
		t.Errorf("--out changed by an unsigned artifact (-want +got):\n%s", diff)
	}

	// Any one of several keys will do.
	r = e.mustRun(0, "--url", e.url(), "--tag", "1.0.0", "--key", wrong, "--key", good, "--out", filepath.Join(e.work, "either"))
	if !strings.Contains(r.stdout, "key "+key.KeyID()[:16]) {
		t.Errorf("stdout does not name the key that verified:\n%s", r.stdout)
	}
}

// --notation-trust-policy and --notation-trust-store verify notation
// signatures; with --key, both kinds are required.
func TestRunNotationVerification(t *testing.T) {
	e := newEnv(t)
	signed := e.push("1.0.0", map[string]string{"app.yaml": "signed\n"})
	ca, err := verifytest.NewNotationCA("release root")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ca.Issue("release")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifytest.SignNotation(e.ctx, e.reg.Client(), signed, s); err != nil {
		t.Fatal(err)
	}
	policy := e.file("trustpolicy.json", ca.TrustPolicy(false))
	store := filepath.Join(e.work, "truststore")
	certDir := filepath.Join(store, "x509", "ca", verifytest.NotationStore)
	if err := os.MkdirAll(certDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certDir, "root.crt"), ca.CertificatePEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.mustRun(0, "--url", e.url(), "--tag", "1.0.0", "--notation-trust-policy", policy, "--notation-trust-store", store, "--out", filepath.Join(e.work, "n"))
	if want := "notation signature by " + s.Subject(); !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, `level strict of trust policy "verifytest"`) {
		t.Errorf("stdout lacks %q and the level:\n%s", want, r.stdout)
	}
	// With a cosign key too, the missing cosign signature fails the fetch.
	key, err := verifytest.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	pub := e.file("cosign.pub", key.PublicKeyPEM())
	r = e.mustRun(3, "--url", e.url(), "--tag", "1.0.0", "--key", pub, "--notation-trust-policy", policy, "--notation-trust-store", store, "--out", filepath.Join(e.work, "both"))
	if !strings.Contains(r.stderr, "no signatures") {
		t.Errorf("stderr does not say the cosign signature is missing:\n%s", r.stderr)
	}
	e.mustRun(2, "--url", e.url(), "--tag", "1.0.0", "--notation-trust-policy", policy, "--out", filepath.Join(e.work, "x"))
}

// --signature-repository reads signatures from another repository, as
// cosign does with COSIGN_REPOSITORY: without it they are not found.
func TestRunSignatureRepository(t *testing.T) {
	e := newEnv(t)
	signed := e.push("1.0.0", map[string]string{"app.yaml": "signed\n"})
	key, err := verifytest.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	sigRepo := e.reg.Ref("signatures/app")
	if _, err := verifytest.SignLegacy(e.ctx, e.reg.Client(), signed, key, verifytest.WithSignatureRepository(sigRepo)); err != nil {
		t.Fatal(err)
	}
	pub := e.file("cosign.pub", key.PublicKeyPEM())

	r := e.mustRun(3, "--url", e.url(), "--tag", "1.0.0", "--key", pub, "--out", filepath.Join(e.work, "beside"))
	if !strings.Contains(r.stderr, "no signatures") {
		t.Errorf("without --signature-repository, stderr does not say no signatures:\n%s", r.stderr)
	}
	for _, repo := range []string{sigRepo.Repo(), sigRepo.URL()} {
		r = e.mustRun(0, "--url", e.url(), "--tag", "1.0.0", "--key", pub, "--signature-repository", repo, "--out", filepath.Join(e.work, strings.ReplaceAll(repo, "/", "_")))
		if !strings.Contains(r.stdout, "key "+key.KeyID()[:16]) {
			t.Errorf("--signature-repository %s: stdout does not name the key:\n%s", repo, r.stdout)
		}
	}
	e.mustRun(2, "--url", e.url(), "--tag", "1.0.0", "--signature-repository", sigRepo.Repo(), "--out", filepath.Join(e.work, "x"))
	e.mustRun(2, "--url", e.url(), "--tag", "1.0.0", "--key", pub, "--signature-repository", sigRepo.Repo()+":v1", "--out", filepath.Join(e.work, "x"))
}

func TestRunKeylessVerification(t *testing.T) {
	e := newEnv(t)
	ref := e.push("1.1.0", map[string]string{"app.yaml": "keyless\n"})
	ss, err := verifytest.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifytest.SignBundle(e.ctx, e.reg.Client(), ref, ss.Keyless(issuer, subject)); err != nil {
		t.Fatal(err)
	}
	rootJSON, err := ss.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}
	root := e.file("trusted_root.json", rootJSON)
	other, err := verifytest.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	otherJSON, err := other.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}
	otherRoot := e.file("other_root.json", otherJSON)

	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string // in stdout (success) or stderr (failure)
	}{
		{"exact identity", []string{"--certificate-identity", subject, "--certificate-oidc-issuer", issuer, "--trusted-root", root},
			0, "  verified   bundle signature by " + subject + " (issuer " + issuer + "), tlog index 0 at "},
		{"regexp identity", []string{"--certificate-identity-regexp", `https://github\.com/org/app/\.github/workflows/.*`, "--certificate-oidc-issuer-regexp", `https://token\.actions\.githubusercontent\.com`, "--trusted-root", root},
			0, "bundle signature by " + subject},
		{"another identity", []string{"--certificate-identity", "mallory@example.com", "--certificate-oidc-issuer", issuer, "--trusted-root", root},
			3, "verification failed"},
		{"regexp matching a substring only", []string{"--certificate-identity-regexp", `github\.com/org/app`, "--certificate-oidc-issuer", issuer, "--trusted-root", root},
			3, "verification failed"},
		{"another issuer", []string{"--certificate-identity", subject, "--certificate-oidc-issuer", "https://accounts.google.com", "--trusted-root", root},
			3, "verification failed"},
		{"another Sigstore", []string{"--certificate-identity", subject, "--certificate-oidc-issuer", issuer, "--trusted-root", otherRoot},
			3, "verification failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "content")
			r := e.mustRun(tt.wantCode, append([]string{"--url", e.url(), "--tag", "1.1.0", "--out", out}, tt.args...)...)
			got := r.stdout
			if tt.wantCode != 0 {
				got = r.stderr
				if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("--out exists after a failed verification: %v", err)
				}
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("output lacks %q:\nstdout:\n%s\nstderr:\n%s", tt.want, r.stdout, r.stderr)
			}
		})
	}
}

func TestRunFailures(t *testing.T) {
	e := newEnv(t)
	e.push("1.0.0", map[string]string{"app.yaml": "x\n"})
	blocker := e.file("not-a-dir", []byte("a file where a directory should be"))
	// 256 KiB of zeros: a layer of a few hundred bytes that inflates past 4 KiB.
	e.push("zeros", map[string]string{"zeros.bin": strings.Repeat("\x00", 256<<10)})
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"missing tag", []string{"--url", e.url(), "--tag", "9.9.9"}, 1, "fetch failed"},
		{"missing repository", []string{"--url", e.reg.URL("nope")}, 1, "not found"},
		{"no tag in range", []string{"--url", e.url(), "--semver", ">=5"}, 1, "fetch failed"},
		{"missing digest", []string{"--url", e.url(), "--digest", "sha256:" + strings.Repeat("ab", 32)}, 1, "not found"},
		{"no layer of that media type", []string{"--url", e.url(), "--tag", "1.0.0", "--layer-media-type", "application/x-none"}, 1, "no layer of media type"},
		{"invalid semver range", []string{"--url", e.url(), "--semver", ">=1.0.0 <<2"}, 2, "invalid source"},
		{"target under a file (refused before any request)", []string{"--url", e.url(), "--tag", "1.0.0", "--out", filepath.Join(blocker, "content")}, 2, "invalid target directory"},
		{"layer over --max-size", []string{"--url", e.url(), "--tag", "1.0.0", "--max-size", "16"}, 1, "the limit is 16"},
		{"content over --max-size", []string{"--url", e.url(), "--tag", "zeros", "--max-size", "4KiB"}, 4, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if !strings.Contains(strings.Join(args, " "), "--out") {
				args = append(args, "--out", filepath.Join(t.TempDir(), "content"))
			}
			r := e.mustRun(tt.wantCode, args...)
			if !strings.HasPrefix(r.stderr, "ocifetch: ") || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr = %q, want an ocifetch: message containing %q", r.stderr, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

func TestRunUsageErrors(t *testing.T) {
	e := newEnv(t)
	key := e.file("cosign.pub", []byte("not a key"))
	root := e.file("trusted_root.json", []byte("{}"))
	u := e.url()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no url", []string{"--out", "x"}, "--url is required"},
		{"no out", []string{"--url", u}, "--out is required"},
		{"url without scheme", []string{"--url", strings.TrimPrefix(u, "oci://"), "--out", "x"}, "must start with oci://"},
		{"url with tag", []string{"--url", u + ":1.0.0", "--out", "x"}, "must name a repository only"},
		{"bad digest", []string{"--url", u, "--digest", "sha256:ABC", "--out", "x"}, "--digest"},
		{"filter without semver", []string{"--url", u, "--semver-filter", "^1", "--out", "x"}, "--semver-filter needs --semver"},
		{"bad operation", []string{"--url", u, "--layer-operation", "unpack", "--out", "x"}, `--layer-operation "unpack"`},
		{"ignore with copy", []string{"--url", u, "--layer-operation", "copy", "--ignore", "*.md", "--out", "x"}, "--ignore applies to"},
		{"zero timeout", []string{"--url", u, "--timeout", "0s", "--out", "x"}, "--timeout"},
		{"bad max size", []string{"--url", u, "--max-size", "lots", "--out", "x"}, `--max-size "lots"`},
		{"zero max size", []string{"--url", u, "--max-size", "0GiB", "--out", "x"}, "--max-size"},
		{"insecure with a CA", []string{"--url", u, "--insecure", "--ca-file", "ca.pem", "--out", "x"}, "--insecure conflicts with --ca-file"},
		{"bad tag", []string{"--url", u, "--tag", "../x", "--out", "x"}, "--tag: "},
		{"bad timeout", []string{"--url", u, "--timeout", "soon", "--out", "x"}, "invalid value"},
		{"unknown flag", []string{"--url", u, "--out", "x", "--provider", "aws"}, "flag provided but not defined: -provider"},
		{"positional argument", []string{"--url", u, "--out", "x", "extra"}, `unexpected argument "extra"`},
		{"json and quiet", []string{"--url", u, "--out", "x", "--json", "-q"}, "--json and --quiet conflict"},
		{"client cert without key", []string{"--url", u, "--out", "x", "--client-cert", "c.pem"}, "--client-cert and --client-key"},
		{"key and identity", []string{"--url", u, "--out", "x", "--key", key, "--certificate-identity", "a", "--certificate-oidc-issuer", "b", "--trusted-root", root}, "--key and --certificate-* flags conflict"},
		{"identity without root", []string{"--url", u, "--out", "x", "--certificate-identity", "a", "--certificate-oidc-issuer", "b"}, "needs --trusted-root"},
		{"identity without issuer", []string{"--url", u, "--out", "x", "--certificate-identity", "a", "--trusted-root", root}, "needs --certificate-oidc-issuer"},
		{"issuer without identity", []string{"--url", u, "--out", "x", "--certificate-oidc-issuer", "b", "--trusted-root", root}, "needs --certificate-identity"},
		{"identity exact and regexp", []string{"--url", u, "--out", "x", "--certificate-identity", "a", "--certificate-identity-regexp", "a.*", "--certificate-oidc-issuer", "b", "--trusted-root", root}, "conflict: give one"},
		{"issuer exact and regexp", []string{"--url", u, "--out", "x", "--certificate-identity", "a", "--certificate-oidc-issuer", "b", "--certificate-oidc-issuer-regexp", "b.*", "--trusted-root", root}, "conflict: give one"},
		{"two trust roots", []string{"--url", u, "--out", "x", "--certificate-identity", "a", "--certificate-oidc-issuer", "b", "--trusted-root", root, "--sigstore-public-good"}, "--trusted-root and --sigstore-public-good conflict"},
		{"root without policy", []string{"--url", u, "--out", "x", "--trusted-root", root}, "need --key or the --certificate-* identity flags"},
		{"missing key file", []string{"--url", u, "--out", "x", "--key", filepath.Join(e.work, "missing.pub")}, "--key: open"},
		{"garbage key file", []string{"--url", u, "--out", "x", "--key", key}, "verification options"},
		{"garbage trusted root", []string{"--url", u, "--out", "x", "--certificate-identity", "a", "--certificate-oidc-issuer", "b", "--trusted-root", root}, "verification options"},
		{"invalid identity regexp", []string{"--url", u, "--out", "x", "--certificate-identity-regexp", "(", "--certificate-oidc-issuer", "b", "--trusted-root", root}, "verification options"},
		{"missing CA file", []string{"--url", u, "--out", "x", "--ca-file", filepath.Join(e.work, "missing.pem")}, "registry options"},
		{"missing docker config", []string{"--url", u, "--out", "x", "--docker-config", filepath.Join(e.work, "missing")}, "registry options"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := tt.args
			if !strings.Contains(strings.Join(args, " "), "--ca-file") {
				args = append([]string{"--insecure"}, args...)
			}
			code := run(e.ctx, args, &stdout, &stderr)
			if code != 2 {
				t.Errorf("exit code %d, want 2\nstderr:\n%s", code, stderr.String())
			}
			if !strings.HasPrefix(stderr.String(), "ocifetch: ") || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr = %q, want an ocifetch: message containing %q", stderr.String(), tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			if e.reg.CountRequests("", "") != 0 {
				t.Errorf("%d requests reached the registry, want none for bad flags", e.reg.CountRequests("", ""))
			}
		})
	}
}

func TestRunJSON(t *testing.T) {
	e := newEnv(t)
	ref := e.push("1.0.0", map[string]string{"a.yaml": "a\n", "b/c.yaml": "c\n"})
	key, err := verifytest.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifytest.SignLegacy(e.ctx, e.reg.Client(), ref, key); err != nil {
		t.Fatal(err)
	}
	pub := e.file("cosign.pub", key.PublicKeyPEM())
	out := filepath.Join(e.work, "content")
	m, err := e.reg.Client().Manifest(e.ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 1 {
		t.Fatalf("pushed manifest has %d layers, want 1", len(m.Layers))
	}
	layer := m.Layers[0]
	// The push stamps the creation time; it is the one value not chosen here.
	created := m.Annotations[oci.AnnotationCreated]
	if ts, err := time.Parse(time.RFC3339, created); err != nil || time.Since(ts) > time.Hour || time.Until(ts) > time.Minute {
		t.Fatalf("pushed manifest's %s = %q, want the push time", oci.AnnotationCreated, created)
	}

	type signature struct {
		Format, KeyID, Verifier, Candidate, Issuer, Subject string
		Tlog                                                *struct{}
	}
	type output struct {
		URL            string
		Revision       string
		Digest         string
		ManifestDigest string
		Platform       string
		Tag            string
		Size           int64
		Metadata       map[string]string
		Layer          oci.Descriptor
		Verification   struct {
			Ref        string
			Signatures []signature
		}
		Stats     struct{ Entries, Files, Dirs, Symlinks, Hardlinks, Skipped, Bytes int64 }
		FromCache bool
		Dir       string
	}
	for _, wantCache := range []bool{false, true} {
		t.Run(fmt.Sprintf("fromCache=%v", wantCache), func(t *testing.T) {
			r := e.mustRun(0, "--url", e.url(), "--tag", "1.0.0", "--key", pub, "--json", "--out", out)
			var got output
			dec := json.NewDecoder(strings.NewReader(r.stdout))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("stdout is not the documented JSON: %v\n%s", err, r.stdout)
			}
			wantSig := signature{Format: "legacy", KeyID: key.KeyID(), Candidate: "legacy " + verifytest.LegacySignatureTag(ref.Digest) + " layer 0"}
			if len(got.Verification.Signatures) == 1 {
				if v := got.Verification.Signatures[0].Verifier; !regexp.MustCompile(`^cosign keyed \[policy [0-9a-f]{12}\]$`).MatchString(v) {
					t.Errorf("verifier = %q", v)
				}
				got.Verification.Signatures[0].Verifier = ""
			}
			// Every expected value comes from what was pushed (the files, the
			// push options, the registry's manifest), none from the output.
			want := output{
				// A plain manifest: what was resolved is what was pulled.
				URL: e.url(), Revision: "1.0.0@" + string(ref.Digest), Digest: string(ref.Digest), ManifestDigest: string(ref.Digest),
				Tag: "1.0.0", Size: layer.Size,
				Metadata: map[string]string{
					oci.AnnotationSource:   "https://github.com/org/app",
					oci.AnnotationRevision: "1.0.0@sha1:0123abcd",
					oci.AnnotationCreated:  created,
				},
				Layer: oci.Descriptor{MediaType: oci.MediaTypeFluxContent, Digest: layer.Digest, Size: layer.Size},
				Verification: struct {
					Ref        string
					Signatures []signature
				}{ref.String(), []signature{wantSig}},
				// a.yaml, b/ and b/c.yaml; "a\n" and "c\n".
				Stats:     struct{ Entries, Files, Dirs, Symlinks, Hardlinks, Skipped, Bytes int64 }{3, 2, 1, 0, 0, 0, 4},
				FromCache: wantCache, Dir: out,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("JSON (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunCopyOperation(t *testing.T) {
	e := newEnv(t)
	const mediaType = "application/vnd.example.bundle.v1"
	content := []byte("opaque bundle bytes, not an archive")
	if _, err := e.reg.PushBytes(e.ctx, "app:bundle", mediaType, content); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(e.work, "content")
	r := e.mustRun(0, "--url", e.url(), "--tag", "bundle", "--layer-media-type", mediaType, "--layer-operation", "copy", "--out", out)
	want := map[string]string{"./": "", "layer": string(content)}
	if diff := cmp.Diff(want, tree(t, out)); diff != "" {
		t.Errorf("content (-want +got):\n%s", diff)
	}
	if w := fmt.Sprintf("  content    1 files, %d B (copied from a %d B layer of %s)", len(content), len(content), mediaType); !strings.Contains(r.stdout, w) {
		t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
	}
}

func TestRunIgnore(t *testing.T) {
	e := newEnv(t)
	e.push("1.0.0", map[string]string{"app.yaml": "a\n", "README.md": "docs\n", "docs/x.md": "x\n"})
	out := filepath.Join(e.work, "content")
	e.mustRun(0, "--url", e.url(), "--tag", "1.0.0", "--ignore", "*.md", "--ignore", "docs/", "--out", out)
	if diff := cmp.Diff(map[string]string{"./": "", "app.yaml": "a\n"}, tree(t, out)); diff != "" {
		t.Errorf("content (-want +got):\n%s", diff)
	}
}

func TestRunCacheHit(t *testing.T) {
	e := newEnv(t)
	e.push("1.0.0", map[string]string{"app.yaml": "a\n"})
	out := filepath.Join(e.work, "content")
	args := []string{"--url", e.url(), "--tag", "1.0.0", "--out", out}
	e.mustRun(0, args...)
	e.reg.ResetRequests()
	r := e.mustRun(0, args...)
	for _, want := range []string{"Up to date: " + e.url() + " in " + out, "  cache      hit: unchanged, nothing downloaded\n", "  content    1 files, 2 B"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if n := e.reg.CountRequests(http.MethodGet, "/blobs/"); n != 0 {
		t.Errorf("a cache hit downloaded %d blobs", n)
	}
	// --quiet prints nothing, on a hit as on a miss.
	if r := e.mustRun(0, append(args, "--quiet")...); r.stdout != "" || r.stderr != "" {
		t.Errorf("--quiet printed stdout %q stderr %q", r.stdout, r.stderr)
	}
}

func TestRunProgress(t *testing.T) {
	e := newEnv(t)
	big := make([]byte, 3<<20) // incompressible, so the layer spans several progress events
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.PushBytes(e.ctx, "app:big", "application/octet-stream", big); err != nil {
		t.Fatal(err)
	}
	base := []string{"--url", e.url(), "--tag", "big", "--layer-operation", "copy"}

	r := e.mustRun(0, append(base, "--progress", "--out", filepath.Join(e.work, "forced"))...)
	for _, want := range []string{"\rresolving…", "\rdownloading [", "] 100%  3.0 MiB / 3.0 MiB"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%q", want, r.stderr)
		}
	}
	if !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("the progress line is not ended: %q", r.stderr)
	}
	if strings.Contains(r.stderr, "\x1b") {
		t.Errorf("escape sequences in the progress output: %q", r.stderr)
	}

	// stderr is a buffer, not a terminal: no bar unless forced.
	for _, args := range [][]string{nil, {"--progress=false"}} {
		r := e.mustRun(0, append(append(base, args...), "--out", filepath.Join(t.TempDir(), "content"))...)
		if r.stderr != "" {
			t.Errorf("with %v, stderr = %q, want no progress on a non-terminal", args, r.stderr)
		}
	}
}

// fakeClock is a settable clock for the progress bar.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestProgressBarThrottles(t *testing.T) {
	var buf bytes.Buffer
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	b := newProgressBar(&buf)
	b.now = clock.now
	const total = 1000 << 20
	b.update(ocisource.Progress{Phase: ocisource.PhaseResolve})
	b.update(ocisource.Progress{Phase: ocisource.PhaseDownload, Total: total})
	draws := b.draws
	for i := int64(1); i < 1000; i++ { // all within one instant
		b.update(ocisource.Progress{Phase: ocisource.PhaseDownload, Bytes: i << 20, Total: total})
	}
	if got := b.draws - draws; got != 0 {
		t.Errorf("%d redraws within one interval, want 0", got)
	}
	clock.t = clock.t.Add(time.Second)
	b.update(ocisource.Progress{Phase: ocisource.PhaseDownload, Bytes: 500 << 20, Total: total})
	if got := b.draws - draws; got != 1 {
		t.Errorf("%d redraws after a second passed, want 1", got)
	}
	if !strings.HasSuffix(buf.String(), " 50%  500.0 MiB / 1000.0 MiB  500.0 MiB/s") {
		t.Errorf("last line = %q", buf.String()[strings.LastIndex(buf.String(), "\r"):])
	}
	b.update(ocisource.Progress{Phase: ocisource.PhaseDownload, Bytes: total, Total: total})
	if got := b.draws - draws; got != 2 {
		t.Errorf("the last bytes were not drawn at once (%d redraws, want 2)", got)
	}
	b.update(ocisource.Progress{Phase: ocisource.PhaseDone, Bytes: total, Total: total})
	b.finish()
	if s := buf.String(); !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 {
		t.Errorf("want exactly one newline, at the end: %q", s)
	}
}

func TestProgressBarCacheHitLeavesNothing(t *testing.T) {
	var buf bytes.Buffer
	b := newProgressBar(&buf)
	b.update(ocisource.Progress{Phase: ocisource.PhaseResolve})
	b.update(ocisource.Progress{Phase: ocisource.PhaseDone, Revision: "v1@sha256:00"})
	b.finish()
	want := "\rresolving…" + "\r" + strings.Repeat(" ", utf8.RuneCountInString("resolving…")) + "\r"
	if got := buf.String(); got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
}

func TestRunTimeout(t *testing.T) {
	e := newEnv(t)
	e.push("1.0.0", map[string]string{"app.yaml": "a\n"})
	e.reg.Inject(ocitest.Fault{PathContains: "/manifests/", Delay: time.Minute})
	r := e.mustRun(1, "--url", e.url(), "--tag", "1.0.0", "--timeout", "200ms", "--out", filepath.Join(e.work, "content"))
	if !strings.Contains(r.stderr, "timed out after 200ms") {
		t.Errorf("stderr does not say it timed out:\n%s", r.stderr)
	}
}

func TestExitCode(t *testing.T) {
	fe := func(phase, cause error) error {
		return &ocisource.FetchError{Phase: phase, URL: "oci://r/app", Err: cause}
	}
	cause := errors.New("cause")
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"fetch", fe(ocisource.ErrFetchFailed, cause), 1},
		{"invalid source", fe(ocisource.ErrInvalidSource, cause), 2},
		{"verification", fe(ocisource.ErrVerification, cause), 3},
		{"storage", fe(ocisource.ErrStorageFailed, cause), 4},
		{"verification timed out", fe(ocisource.ErrVerification, fmt.Errorf("listing signatures: %w", context.DeadlineExceeded)), 1},
		{"unforeseen", cause, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(context.Background(), tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := exitCode(ctx, fe(ocisource.ErrVerification, cause)); got != 1 {
		t.Errorf("exitCode after the context ended = %d, want 1", got)
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "-help"} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{arg}, &stdout, &stderr); code != 0 {
			t.Errorf("%s: exit code %d, want 0", arg, code)
		}
		if stdout.String() != helpText || stderr.Len() != 0 {
			t.Errorf("%s: stdout %d bytes (want the help text), stderr %q", arg, stdout.Len(), stderr.String())
		}
	}
}

// TestHelpNamesEveryFlag keeps --help in step with the flags.
func TestHelpNamesEveryFlag(t *testing.T) {
	fs := newFlagSet(&config{})
	fs.VisitAll(func(f *flag.Flag) {
		name := "--" + f.Name
		if len(f.Name) == 1 {
			name = "-" + f.Name
		}
		if !regexp.MustCompile(`(?m)^\s+(?:--[a-z-]+, )?` + regexp.QuoteMeta(name) + `\b`).MatchString(helpText) {
			t.Errorf("--help does not document %s", name)
		}
	})
	for _, code := range []string{"0", "1", "2", "3", "4"} {
		if !regexp.MustCompile(`(?m)^  ` + code + `  \S`).MatchString(helpText) {
			t.Errorf("--help does not document exit code %s", code)
		}
	}
}

// A plain-HTTP registry without --insecure is refused, with the flag to use.
func TestRunPlainHTTPNeedsInsecure(t *testing.T) {
	e := newEnv(t)
	e.push("1.0.0", map[string]string{"app.yaml": "a\n"})
	e.base = []string{"--docker-config", e.base[2]} // drop --insecure
	r := e.mustRun(1, "--url", e.url(), "--tag", "1.0.0", "--out", filepath.Join(e.work, "content"))
	if !strings.HasSuffix(r.stderr, "\nhint: for a registry that speaks plain HTTP, add --insecure\n") {
		t.Errorf("stderr does not point at --insecure:\n%s", r.stderr)
	}
}

// Every line fits an 80-column terminal, or the carriage return could not
// redraw it: the longest tag, the largest sizes and rate.
func TestProgressBarFitsATerminal(t *testing.T) {
	var buf bytes.Buffer
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	b := newProgressBar(&buf)
	b.now = clock.now
	const total = 999 << 30
	b.update(ocisource.Progress{Phase: ocisource.PhaseResolve})
	b.update(ocisource.Progress{Phase: ocisource.PhaseVerify, Revision: strings.Repeat("t", 128) + "@sha256:" + strings.Repeat("a", 64)})
	b.update(ocisource.Progress{Phase: ocisource.PhaseVerify, Revision: "v1.2.3@sha256:" + strings.Repeat("a", 64)})
	b.update(ocisource.Progress{Phase: ocisource.PhaseDownload, Total: total})
	clock.t = clock.t.Add(time.Second)
	b.update(ocisource.Progress{Phase: ocisource.PhaseDownload, Bytes: total - 1, Total: total})
	b.update(ocisource.Progress{Phase: ocisource.PhaseDone, Bytes: total, Total: total})
	for _, line := range strings.FieldsFunc(buf.String(), func(r rune) bool { return r == '\r' || r == '\n' }) {
		if n := utf8.RuneCountInString(line); n > maxLineWidth {
			t.Errorf("line of %d columns: %q", n, line)
		}
	}
	if !strings.Contains(buf.String(), "\rverifying v1.2.3@sha256:aaaaaaaaaaaa…") {
		t.Errorf("the revision is not abbreviated: %q", buf.String())
	}
	if !strings.Contains(buf.String(), "] 100%  999.0 GiB / 999.0 GiB  999.0 GiB/s") {
		t.Errorf("no final line: %q", buf.String())
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1": 1, "16K": 16 << 10, "512MiB": 512 << 20, "4GiB": 4 << 30, "2T": 2 << 40} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "-1", "1.5GiB", "1PiB", "9999999999TiB", "1 GiB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

// TestRunRefusesBadSourcesBeforeTheNetwork: a tag outside the
// distribution-spec grammar and a URL with credentials are bad flags (exit
// 2), found before any request, and the password is never repeated.
func TestRunRefusesBadSourcesBeforeTheNetwork(t *testing.T) {
	e := newEnv(t)
	e.push("1.0.0", map[string]string{"a.yaml": "a"})
	const secret = "s3cr3t-Passw0rd"
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"tag climbing out", []string{"--url", e.url(), "--tag", "../../etc"}},
		{"tag of 300 characters", []string{"--url", e.url(), "--tag", strings.Repeat("a", 300)}},
		{"tag with a slash", []string{"--url", e.url(), "--tag", "a/b"}},
		{"password in the URL", []string{"--url", "oci://admin:" + secret + "@" + e.reg.Host() + "/app", "--tag", "1.0.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.reg.ResetRequests()
			r := e.run(append(tc.args, "--out", filepath.Join(t.TempDir(), "out"))...)
			if r.code != exitUsage {
				t.Errorf("exit code %d, want %d; stderr:\n%s", r.code, exitUsage, r.stderr)
			}
			if n := len(e.reg.Requests()); n != 0 {
				t.Errorf("%d requests before refusing", n)
			}
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Errorf("the password appears in the output:\n%s%s", r.stdout, r.stderr)
			}
		})
	}
}

// TestRunPlatform: --platform picks the manifest of an image index; without
// it a multi-platform index is a usage error that lists the platforms; a
// malformed one is refused at flag parsing.
func TestRunPlatform(t *testing.T) {
	e := newEnv(t)
	amd := e.push("amd", map[string]string{"arch.txt": "amd64\n"})
	arm := e.push("arm", map[string]string{"arch.txt": "arm64\n"})
	entry := func(ref oci.Reference, platform string) oci.Descriptor {
		m, err := e.reg.Client().Manifest(e.ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := oci.ParsePlatform(platform)
		d := m.Descriptor
		d.Platform = &p
		return d
	}
	if _, err := e.reg.PushIndex(e.ctx, "app:multi", "", entry(amd, "linux/amd64"), entry(arm, "linux/arm64")); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(e.work, "out")
	e.mustRun(0, "--url", e.url(), "--tag", "multi", "--platform", "linux/arm64", "--out", out)
	if b, _ := os.ReadFile(filepath.Join(out, "arch.txt")); string(b) != "arm64\n" {
		t.Errorf("arch.txt = %q, want arm64", b)
	}
	r := e.mustRun(exitUsage, "--url", e.url(), "--tag", "multi", "--out", filepath.Join(e.work, "none"))
	if !strings.Contains(r.stderr, "linux/amd64") || !strings.Contains(r.stderr, "linux/arm64") {
		t.Errorf("stderr does not list the platforms:\n%s", r.stderr)
	}
	r = e.mustRun(exitUsage, "--url", e.url(), "--tag", "multi", "--platform", "Linux", "--out", filepath.Join(e.work, "bad"))
	if !strings.Contains(r.stderr, "--platform") {
		t.Errorf("stderr does not name the flag:\n%s", r.stderr)
	}
}

// --attestation-type requires an attestation besides the signature, signed
// with the same key, and --slsa-* check its provenance.
func TestRunAttestation(t *testing.T) {
	e := newEnv(t)
	ref := e.push("1.0.0", map[string]string{"app.yaml": "built\n"})
	key, err := verifytest.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifytest.SignLegacy(e.ctx, e.reg.Client(), ref, key); err != nil {
		t.Fatal(err)
	}
	pub := e.file("cosign.pub", key.PublicKeyPEM())
	v1 := verifytest.PredicateTypeSLSAProvenanceV1
	args := func(dir string, extra ...string) []string {
		return append([]string{"--url", e.url(), "--tag", "1.0.0", "--key", pub, "--out", filepath.Join(e.work, dir)}, extra...)
	}
	r := e.mustRun(3, args("unattested", "--attestation-type", v1)...)
	if !strings.Contains(r.stderr, "no signatures") {
		t.Errorf("a signed but unattested artifact: stderr does not say nothing was found:\n%s", r.stderr)
	}
	prov := []byte(`{"buildDefinition":{"externalParameters":{"workflow":{"repository":"https://github.com/org/app","ref":"refs/heads/main"}}},"runDetails":{"builder":{"id":"https://github.com/actions/runner/github-hosted"}}}`)
	if _, err := verifytest.AttestBundle(e.ctx, e.reg.Client(), ref, key, v1, prov); err != nil {
		t.Fatal(err)
	}
	e.mustRun(0, args("attested", "--attestation-type", v1,
		"--slsa-builder-id", "https://github.com/actions/runner/github-hosted",
		"--slsa-source-repository", "https://github.com/org/app", "--slsa-source-ref", "refs/heads/main")...)
	r = e.mustRun(3, args("other-builder", "--attestation-type", v1, "--slsa-builder-id", "https://example.com/builder")...)
	if !strings.Contains(r.stderr, "predicate rejected") {
		t.Errorf("a builder mismatch: stderr does not say the predicate was rejected:\n%s", r.stderr)
	}
	e.mustRun(2, args("x", "--slsa-builder-id", "b")...)
	e.mustRun(2, args("x", "--attestation-type", "https://example.com/x", "--slsa-source-ref", "r")...)
	e.mustRun(2, "--url", e.url(), "--tag", "1.0.0", "--attestation-type", v1, "--out", filepath.Join(e.work, "x"))
}
