package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource/internal/realregistry"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/push"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// buildBinary builds this command with the go tool that runs the test
// (go test puts its GOROOT/bin first on PATH) and returns the binary's path.
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is not on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "ocifetch")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestIntegrationOcifetchBinary tries the built command as a new user would,
// against a real registry (CNCF Distribution over TLS with a private CA and
// htpasswd auth, no referrers API): push a signed artifact, fetch it verified
// with a key and keylessly, get refused with the wrong key, fetch again from
// cache, and see what forgetting the credentials or the CA looks like.
func TestIntegrationOcifetchBinary(t *testing.T) {
	reg := realregistry.Start(t)
	bin := buildBinary(t)
	ctx := context.Background()
	work := t.TempDir()
	write := func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Publish two releases of a directory, as `flux push artifact` would.
	client, err := oci.NewClient(oci.WithCAFile(reg.CAFile), oci.WithBasicAuth(reg.Username, reg.Password))
	if err != nil {
		t.Fatal(err)
	}
	url := "oci://" + reg.Host + "/org/manifests"
	repo, err := oci.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"deploy.yaml": "kind: Deployment\n", "config/app.env": "LEVEL=info\n"}
	var pinned oci.Reference
	for _, version := range []string{"1.0.0", "1.1.0"} {
		src := t.TempDir()
		for name, content := range files {
			p := filepath.Join(src, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content+"# "+version+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		layer, cleanup, err := push.LayerFromDir(ctx, src)
		if err != nil {
			t.Fatal(err)
		}
		d, err := push.Artifact(ctx, client, repo.WithTag(version), layer, push.WithSource("https://github.com/org/manifests"), push.WithRevision(version+"@sha1:4f1b3a"))
		cleanup()
		if err != nil {
			t.Fatal(err)
		}
		pinned = repo.WithTag(version).WithDigest(d.Digest)
	}

	// Sign 1.1.0 with a key (legacy format) and keylessly (bundle, found
	// through the referrers tag schema: Distribution has no referrers API).
	key, err := verifytest.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifytest.SignLegacy(ctx, client, pinned, key); err != nil {
		t.Fatal(err)
	}
	ss, err := verifytest.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifytest.SignBundle(ctx, client, pinned, ss.Keyless(issuer, subject), verifytest.WithTransparencyLog(ss)); err != nil {
		t.Fatal(err)
	}
	rootJSON, err := ss.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}
	wrongKey, err := verifytest.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	pub := write("cosign.pub", key.PublicKeyPEM())
	wrongPub := write("wrong.pub", wrongKey.PublicKeyPEM())
	root := write("trusted_root.json", rootJSON)
	emptyDocker := filepath.Join(work, "empty-docker")
	if err := os.Mkdir(emptyDocker, 0o755); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(work, "manifests")
	registryFlags := []string{"--docker-config", reg.DockerConfigDir, "--ca-file", reg.CAFile, "--url", url}
	keyed := append(append([]string{}, registryFlags...), "--semver", ">=1.0.0 <2.0.0", "--key", pub, "--out", out)
	keyless := append(append([]string{}, registryFlags...), "--semver", "1.x",
		"--trusted-root", root, "--certificate-identity", subject, "--certificate-oidc-issuer", issuer, "--out", out)

	ocifetch := func(wantCode int, args ...string) (stdout, stderr string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		// Nothing from the user's environment: no ambient docker config,
		// no extra CA bundle.
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
	wantLines := func(stdout string, lines ...string) {
		t.Helper()
		for _, l := range lines {
			if !strings.Contains(stdout, l) {
				t.Errorf("stdout lacks %q:\n%s", l, stdout)
			}
		}
	}
	wantFiles := map[string]string{
		"./": "", "config/": "",
		"deploy.yaml":    "kind: Deployment\n# 1.1.0\n",
		"config/app.env": "LEVEL=info\n# 1.1.0\n",
	}
	revision := "1.1.0@" + string(pinned.Digest)

	// 1. Keyed.
	stdout, _ := ocifetch(0, keyed...)
	wantLines(stdout,
		"Fetched "+url+" into "+out+"\n",
		"  revision   "+revision+"\n",
		"  digest     "+string(pinned.Digest)+"\n",
		"  source     https://github.com/org/manifests @ 1.1.0@sha1:4f1b3a\n",
		"  verified   legacy signature by key "+key.KeyID()[:16]+"…\n",
		"  content    2 files, ",
		"  cache      miss: downloaded ")
	if diff := cmp.Diff(wantFiles, tree(t, out)); diff != "" {
		t.Errorf("content (-want +got):\n%s", diff)
	}

	// 2. Keyless, through the virtual Sigstore's trusted root.
	stdout, _ = ocifetch(0, keyless...)
	wantLines(stdout,
		"  revision   "+revision+"\n",
		"  verified   bundle signature by "+subject+" (issuer "+issuer+"), tlog index ")
	before := snapshot(t, out)

	// 3. The wrong key: exit 3, and the content stays as it was.
	wrong := append(append([]string{}, registryFlags...), "--semver", "1.x", "--key", wrongPub, "--out", out)
	_, stderr := ocifetch(3, wrong...)
	if !strings.Contains(stderr, "verification failed") {
		t.Errorf("stderr does not say verification failed:\n%s", stderr)
	}
	if diff := cmp.Diff(before, snapshot(t, out)); diff != "" {
		t.Errorf("--out changed by a refused artifact (-want +got):\n%s", diff)
	}

	// 4. Again: unchanged, nothing downloaded.
	stdout, _ = ocifetch(0, keyless...)
	wantLines(stdout, "Up to date: "+url+" in "+out+"\n", "  revision   "+revision+"\n", "  cache      hit: unchanged, nothing downloaded\n")

	// 5. What forgetting the credentials or the CA looks like.
	_, stderr = ocifetch(1, "--ca-file", reg.CAFile, "--url", url, "--tag", "1.0.0", "--out", filepath.Join(work, "no-creds"))
	if !strings.Contains(stderr, "unauthorized") || !strings.Contains(stderr, "\nhint: give credentials with --docker-config DIR") {
		t.Errorf("without credentials, stderr does not say unauthorized:\n%s", stderr)
	}
	_, stderr = ocifetch(1, "--docker-config", reg.DockerConfigDir, "--url", url, "--tag", "1.0.0", "--out", filepath.Join(work, "no-ca"))
	if !strings.Contains(stderr, "certificate") || !strings.Contains(stderr, "\nhint: the registry's certificate is signed by an authority this system does not trust: give its CA with --ca-file FILE\n") {
		t.Errorf("without --ca-file, stderr does not mention the certificate:\n%s", stderr)
	}
	for _, dir := range []string{"no-creds", "no-ca"} {
		if _, err := os.Stat(filepath.Join(work, dir)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a failed fetch created %s: %v", dir, err)
		}
	}
}
