package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/internal/realregistry"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/oci/push"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/verifytest"
)

const sample = `
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: podinfo
  namespace: flux-system
spec:
  interval: 5m
  timeout: 30s
  url: oci://ghcr.io/stefanprodan/manifests/podinfo
  ref:
    semver: ">=6.0.0"
    semverFilter: "^6\\."
  layerSelector:
    mediaType: application/vnd.cncf.flux.content.v1.tar+gzip
    operation: extract
  ignore: |
    *.md
    !keep.md
  verify:
    provider: cosign
    secretRef:
      name: cosign-pub
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: ignored
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: local
spec:
  interval: 1h
  url: oci://localhost:5000/app
  insecure: true
  suspend: true
  ref:
    tag: v1
`

// TestParseConfig maps the OCIRepository fields Flux users write.
func TestParseConfig(t *testing.T) {
	dir := t.TempDir()
	key, _ := verifytest.NewKeyPair()
	if err := os.MkdirAll(filepath.Join(dir, "secrets", "flux-system", "cosign-pub"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "secrets", "flux-system", "cosign-pub", "cosign.pub"), key.PublicKeyPEM(), 0o644)
	cfg := &config{dataDir: filepath.Join(dir, "data"), secretsDir: filepath.Join(dir, "secrets")}
	specs, err := parseConfig(strings.NewReader(sample), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 2 {
		t.Fatalf("%d specs, want 2", len(specs))
	}
	p := specs[0]
	if p.name != "flux-system/podinfo" || p.spec.Interval != 5*time.Minute || p.spec.Timeout != 30*time.Second ||
		p.spec.Source.Ref.SemVer != ">=6.0.0" || p.spec.Source.Ref.SemVerFilter != `^6\.` ||
		p.spec.Source.Layer.Operation != ocisource.LayerExtract || p.spec.Source.Verifier == nil ||
		p.spec.Dir != filepath.Join(dir, "data", "flux-system", "podinfo") ||
		strings.Join(p.spec.Source.Ignore, ",") != "*.md,!keep.md," {
		t.Errorf("podinfo spec = %+v", p)
	}
	l := specs[1]
	if l.name != "default/local" || !l.insecure || !l.spec.Suspend || l.spec.Source.Ref.Tag != "v1" || l.spec.Timeout != 60*time.Second {
		t.Errorf("local spec = %+v", l)
	}
	// The same file again gives equal verifiers, so a reload changes nothing.
	again, _ := parseConfig(strings.NewReader(sample), cfg)
	if again[0].spec.Source.Verifier != p.spec.Source.Verifier {
		t.Error("reloading an unchanged file built a new verifier")
	}
	for name, bad := range map[string]string{
		"no interval":  "kind: OCIRepository\napiVersion: source.toolkit.fluxcd.io/v1\nmetadata: {name: a}\nspec: {url: oci://h/r}\n",
		"bad name":     "kind: OCIRepository\napiVersion: source.toolkit.fluxcd.io/v1\nmetadata: {name: A_b}\nspec: {url: oci://h/r, interval: 1m}\n",
		"no key":       "kind: OCIRepository\napiVersion: source.toolkit.fluxcd.io/v1\nmetadata: {name: a}\nspec: {url: oci://h/r, interval: 1m, verify: {provider: cosign, secretRef: {name: missing}}}\n",
		"keyless root": "kind: OCIRepository\napiVersion: source.toolkit.fluxcd.io/v1\nmetadata: {name: a}\nspec: {url: oci://h/r, interval: 1m, verify: {provider: cosign, matchOIDCIdentity: [{issuer: x, subject: y}]}}\n",
		"twice":        "kind: OCIRepository\napiVersion: source.toolkit.fluxcd.io/v1\nmetadata: {name: a}\nspec: {url: oci://h/r, interval: 1m}\n---\nkind: OCIRepository\napiVersion: source.toolkit.fluxcd.io/v1\nmetadata: {name: a}\nspec: {url: oci://h/r, interval: 1m}\n",
		"bad yaml":     "kind: [",
	} {
		if _, err := parseConfig(strings.NewReader(bad), cfg); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

// TestIntegrationControllerBinary runs the built controller against a real
// Distribution registry (TLS, htpasswd): it reconciles two sources (one
// verified with a key from a mounted Secret), serves /healthz and /metrics,
// picks up a changed config file (a source added, one removed), and stops
// cleanly on SIGTERM.
func TestIntegrationControllerBinary(t *testing.T) {
	reg := realregistry.Start(t)
	ctx := context.Background()
	client, err := oci.NewClient(oci.WithCAFile(reg.CAFile), oci.WithBasicAuth(reg.Username, reg.Password))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	push := func(repo, tag string, files map[string]string) oci.Reference {
		t.Helper()
		src := t.TempDir()
		for name, content := range files {
			os.WriteFile(filepath.Join(src, name), []byte(content), 0o644)
		}
		layer, cleanup, err := push.LayerFromDir(ctx, src)
		if err != nil {
			t.Fatal(err)
		}
		defer cleanup()
		ref, _ := oci.ParseURL("oci://" + reg.Host + "/" + repo)
		d, err := push.Artifact(ctx, client, ref.WithTag(tag), layer)
		if err != nil {
			t.Fatal(err)
		}
		return ref.WithTag(tag).WithDigest(d.Digest)
	}
	signed := push("org/signed", "1.2.0", map[string]string{"app.yaml": "kind: Deployment # signed\n"})
	push("org/plain", "latest", map[string]string{"cm.yaml": "kind: ConfigMap\n"})
	push("org/third", "v3", map[string]string{"third.yaml": "kind: Service\n"})
	key, _ := verifytest.NewKeyPair()
	if _, err := verifytest.SignLegacy(ctx, client, signed, key, verifytest.WithoutTransparencyLog()); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(work, "secrets", "apps", "cosign-pub")
	os.MkdirAll(secret, 0o755)
	os.WriteFile(filepath.Join(secret, "cosign.pub"), key.PublicKeyPEM(), 0o644)

	doc := func(name, repo, ref, extra string) string {
		return "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: " + name +
			"\n  namespace: apps\nspec:\n  interval: 1h\n  url: oci://" + reg.Host + "/" + repo + "\n  ref:\n    " + ref + "\n" + extra
	}
	cfgFile := filepath.Join(work, "sources.yaml")
	write := func(s string) {
		tmp := cfgFile + ".tmp"
		os.WriteFile(tmp, []byte(s), 0o644)
		os.Rename(tmp, cfgFile)
	}
	write(doc("signed", "org/signed", "semver: \"1.x\"", "  verify:\n    provider: cosign\n    secretRef:\n      name: cosign-pub\n") +
		doc("plain", "org/plain", "tag: latest", ""))

	bin := filepath.Join(t.TempDir(), "controller")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(work, "data")
	cmd := exec.Command(bin, "--config", cfgFile, "--data", data, "--secrets", filepath.Join(work, "secrets"),
		"--ca-file", reg.CAFile, "--docker-config", reg.DockerConfigDir, "--metrics-addr", "127.0.0.1:0", "--reload-interval", "100ms")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &lineLog{}
	addr := make(chan string, 1)
	go logs.read(stderr, addr)
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatalf("no metrics address logged:\n%s", logs)
	}

	waitFile := func(path, want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if b, err := os.ReadFile(path); err == nil && string(b) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never held %q; controller log:\n%s", path, want, logs)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFile(filepath.Join(data, "apps", "signed", "app.yaml"), "kind: Deployment # signed\n")
	waitFile(filepath.Join(data, "apps", "plain", "cm.yaml"), "kind: ConfigMap\n")

	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		return string(b)
	}
	if h := get("/healthz"); h != "ok\n" {
		t.Errorf("/healthz = %q", h)
	}
	waitMetric := func(re string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			m := get("/metrics")
			if regexp.MustCompile(re).MatchString(m) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("/metrics never matched %s:\n%s", re, m)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitMetric(`(?m)^ocisource_reconciles_total\{reason="Succeeded"\} [2-9]`)
	waitMetric(`(?m)^ocisource_condition\{name="signed",namespace="apps",status="True",type="SourceVerified"\} 1$`)
	waitMetric(`(?m)^ocisource_condition\{name="plain",namespace="apps",status="True",type="Ready"\} 1$`)
	waitMetric(`(?m)^ocisource_downloaded_bytes_total [1-9]`)
	waitMetric(`(?m)^ocisource_reconcile_phase_duration_seconds_count\{phase="verify"\} 1$`)

	// Reload: plain goes, third comes.
	write(doc("signed", "org/signed", "semver: \"1.x\"", "  verify:\n    provider: cosign\n    secretRef:\n      name: cosign-pub\n") +
		doc("third", "org/third", "tag: v3", ""))
	waitFile(filepath.Join(data, "apps", "third", "third.yaml"), "kind: Service\n")
	waitMetric(`(?m)^ocisource_condition\{name="third",namespace="apps",status="True",type="Ready"\} 1$`)
	if !logs.contains("source removed") {
		t.Errorf("no log of the removed source:\n%s", logs)
	}
	if b, err := os.ReadFile(filepath.Join(data, "apps", "plain", "cm.yaml")); err != nil || string(b) != "kind: ConfigMap\n" {
		t.Errorf("a removed source's directory changed: %q, %v", b, err)
	}
	// A broken file keeps the previous one in force.
	write("kind: [")
	deadline := time.Now().Add(10 * time.Second)
	for !logs.contains("config not reloaded") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !logs.contains("config not reloaded") {
		t.Errorf("a broken config was not reported:\n%s", logs)
	}

	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Errorf("controller exited with %v:\n%s", err, logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("controller did not stop on SIGINT:\n%s", logs)
	}
	if !logs.contains("conditions changed") {
		t.Errorf("no condition change logged:\n%s", logs)
	}
}

// lineLog collects a process's stderr lines.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) read(r io.Reader, addr chan<- string) {
	sc := bufio.NewScanner(r)
	re := regexp.MustCompile(`msg="serving metrics" addr=(\S+)`)
	for sc.Scan() {
		line := sc.Text()
		l.mu.Lock()
		l.lines = append(l.lines, line)
		l.mu.Unlock()
		if m := re.FindStringSubmatch(line); m != nil {
			addr <- m[1]
		}
	}
}

func (l *lineLog) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// TestParseConfigNotation maps Flux's provider: notation: a secretRef
// holding trustpolicy.json and CA certificates. The verifier it builds
// accepts an artifact signed under that CA and refuses an unsigned one.
func TestParseConfigNotation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ca, err := verifytest.NewNotationCA("Example CA")
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "secrets", "apps", "notation-trust")
	if err := os.MkdirAll(secret, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secret, "trustpolicy.json"), ca.TrustPolicy(false), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secret, "ca.crt"), ca.CertificatePEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &config{dataDir: filepath.Join(dir, "data"), secretsDir: filepath.Join(dir, "secrets")}
	const doc = "kind: OCIRepository\napiVersion: source.toolkit.fluxcd.io/v1\nmetadata: {name: a, namespace: apps}\nspec: {url: oci://h/r, interval: 1m, verify: {provider: notation, secretRef: {name: notation-trust}}}\n"
	specs, err := parseConfig(strings.NewReader(doc), cfg)
	if err != nil {
		t.Fatal(err)
	}
	v := specs[0].spec.Source.Verifier
	if v == nil {
		t.Fatal("no verifier")
	}
	reg := ocitest.NewT(t)
	signed, err := reg.PushBytes(ctx, "app:signed", oci.MediaTypeFluxContent, []byte("signed"))
	if err != nil {
		t.Fatal(err)
	}
	unsigned, err := reg.PushBytes(ctx, "app:unsigned", oci.MediaTypeFluxContent, []byte("unsigned"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ca.Issue("release")
	if err != nil {
		t.Fatal(err)
	}
	c := reg.Client()
	if _, err := verifytest.SignNotation(ctx, c, reg.Ref("app").WithDigest(signed.Digest), signer); err != nil {
		t.Fatal(err)
	}
	bound := verify.BindClient(v, c)
	if _, err := bound.Verify(ctx, reg.Ref("app").WithDigest(signed.Digest)); err != nil {
		t.Errorf("signed artifact: %v", err)
	}
	if _, err := bound.Verify(ctx, reg.Ref("app").WithDigest(unsigned.Digest)); !errors.Is(err, verify.ErrNoSignatures) {
		t.Errorf("unsigned artifact: %v, want ErrNoSignatures", err)
	}
	for name, bad := range map[string]string{
		"no secretRef": "kind: OCIRepository\napiVersion: source.toolkit.fluxcd.io/v1\nmetadata: {name: a, namespace: apps}\nspec: {url: oci://h/r, interval: 1m, verify: {provider: notation}}\n",
		"oidc":         "kind: OCIRepository\napiVersion: source.toolkit.fluxcd.io/v1\nmetadata: {name: a, namespace: apps}\nspec: {url: oci://h/r, interval: 1m, verify: {provider: notation, secretRef: {name: notation-trust}, matchOIDCIdentity: [{issuer: x, subject: y}]}}\n",
		"no policy":    "kind: OCIRepository\napiVersion: source.toolkit.fluxcd.io/v1\nmetadata: {name: a, namespace: apps}\nspec: {url: oci://h/r, interval: 1m, verify: {provider: notation, secretRef: {name: missing}}}\n",
		"unknown":      "kind: OCIRepository\napiVersion: source.toolkit.fluxcd.io/v1\nmetadata: {name: a, namespace: apps}\nspec: {url: oci://h/r, interval: 1m, verify: {provider: gpg, secretRef: {name: notation-trust}}}\n",
	} {
		if _, err := parseConfig(strings.NewReader(bad), cfg); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}
