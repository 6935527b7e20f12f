// Package realregistry runs a real CNCF Distribution registry for
// integration tests: HTTPS with a freshly generated CA, htpasswd basic auth
// (or, WithTokenAuth, distribution's token access controller with a token
// service of ours on the same address), filesystem storage in the test's
// temporary directory.
//
// The registry binary (distribution v3.1.2) and the cosign CLI are not Go
// dependencies of the module; `make tools` installs them into <repo>/.cache/bin
// and `make test` runs every test with OCISOURCE_INTEGRATION=1. In that mode a
// missing tool or a registry that does not come up fails the test. Under a
// plain `go test` the same tests skip, saying how to run them.
//
// Each call to Start gives the calling test its own registry process (a
// fresh, empty store and fresh credentials), stopped by t.Cleanup; it comes
// up in well under a second. There is deliberately no shared instance: a
// process-wide registry would outlive the test that started it and couple
// tests through shared tags.
//
// Go clients use Registry.Transport (trusts only this registry's CA) with
// basic auth from Username and Password. CLI tools use Registry.Command or
// Registry.CLIEnv: DOCKER_CONFIG for the credentials, SSL_CERT_FILE for the
// CA, and TUF settings that keep cosign off the network.
//
// Distribution v3.1.2 does not implement the OCI 1.1 referrers API
// (GET /v2/<name>/referrers/<digest> answers 404) and sends no OCI-Subject
// header, so clients must use the referrers tag schema fallback against it.
// Tag listing returns every tag unless ?n= asks for a page; n is clamped to
// Config.MaxTags (1000 by default) and a Link header points at the next page.
package realregistry

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// IntegrationEnv is the environment variable that turns integration tests
// from skipping into failing when the tools they need are missing. `make test`
// sets it to 1.
const IntegrationEnv = "OCISOURCE_INTEGRATION"

// ToolsDirEnv is the environment variable naming the directory that holds
// the tools (registry, cosign). `make` sets it; without it the directory is
// .cache/bin at the root of this module.
const ToolsDirEnv = "OCISOURCE_TOOLS"

// modulePath identifies the go.mod whose directory holds .cache/bin.
const modulePath = "github.com/ocisource/ocisource"

// StartTimeout bounds how long Start waits for the registry to answer.
const StartTimeout = 20 * time.Second

// Registry is a running registry. All fields are set by Start.
type Registry struct {
	Host            string         // "127.0.0.1:port", the registry host for references
	Username        string         // basic-auth user
	Password        string         // basic-auth password (random per registry)
	CAFile          string         // PEM of the CA that signed the server certificate
	CAPool          *x509.CertPool // a pool holding only that CA
	DockerConfigDir string         // directory with a config.json holding the credentials (DOCKER_CONFIG=...)
	ConfigFile      string         // the distribution config file the registry runs with
	RootDirectory   string         // the registry's storage directory

	dir    string // the registry's t.TempDir()
	logs   *OutputBuffer
	tokens *tokenServer // WithTokenAuth
}

// URL returns the registry's base URL, "https://" + Host.
func (r *Registry) URL() string { return "https://" + r.Host }

// Repo returns a reference prefix for a repository in this registry,
// Host + "/" + name.
func (r *Registry) Repo(name string) string { return r.Host + "/" + name }

// TLSConfig returns a client TLS configuration that trusts only the
// registry's CA.
func (r *Registry) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: r.CAPool, MinVersion: tls.VersionTLS12}
}

// Transport returns a new HTTP transport that trusts the registry's CA. It
// sends no credentials by itself.
func (r *Registry) Transport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = r.TLSConfig()
	return tr
}

// toolEnvDrop lists the variables CLIEnv replaces or removes: credentials
// and trust settings that would point a tool at something other than this
// registry.
var toolEnvDrop = []string{"DOCKER_CONFIG=", "SSL_CERT_FILE=", "SSL_CERT_DIR=", "TUF_ROOT=", "TUF_MIRROR=", "TUF_ROOT_JSON=", "REGISTRY_AUTH_FILE="}

// CLIEnv returns an environment for CLI tools (cosign, crane, oras) run
// against this registry: the test's environment with DOCKER_CONFIG set to
// DockerConfigDir (credentials), SSL_CERT_FILE set to CAFile (Go programs
// then trust exactly this registry's CA), and cosign kept off the network:
// TUF_ROOT is an empty directory and TUF_MIRROR a closed loopback port, so
// cosign skips the public-good trusted root instead of fetching it (keyed
// verification with --insecure-ignore-tlog=true needs none).
func (r *Registry) CLIEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !slices.ContainsFunc(toolEnvDrop, func(p string) bool { return strings.HasPrefix(kv, p) }) {
			env = append(env, kv)
		}
	}
	return append(env,
		"DOCKER_CONFIG="+r.DockerConfigDir,
		"SSL_CERT_FILE="+r.CAFile,
		"TUF_ROOT="+filepath.Join(r.dir, "tuf"),
		"TUF_MIRROR=http://127.0.0.1:1",
	)
}

// Command returns a command running the tool name (see Tool) with args, with
// CLIEnv as its environment, killed when the test ends. Like Tool, it fails
// or skips the test when the tool is missing.
func (r *Registry) Command(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), Tool(t, name), args...)
	cmd.Env = r.CLIEnv()
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Logs returns what the registry printed so far (stdout and stderr, capped at
// 1 MiB). Start adds it to the test log when the test fails.
func (r *Registry) Logs() string { return r.logs.String() }

// Option configures Start.
type Option func(*options) error

type options struct {
	maxTags   int
	accessLog bool
	tokenAuth bool
}

// WithTokenAuth runs the registry with distribution's token access
// controller instead of htpasswd: a client exchanges Username and Password
// at a token service of the harness (on the registry's own address, /token)
// for a JWT the registry verifies, as registries such as Docker Hub, GHCR
// or Harbor work. The service grants every repository scope asked for, many
// in one request; TokenRequests shows what was asked.
func WithTokenAuth() Option {
	return func(o *options) error {
		o.tokenAuth = true
		return nil
	}
}

// WithMaxTags caps the tags/list page size (the registry clamps ?n= to it).
// The default is distribution's own, 1000.
func WithMaxTags(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("realregistry: WithMaxTags(%d): the cap must be positive", n)
		}
		o.maxTags = n
		return nil
	}
}

// WithAccessLog makes the registry log every request, which shows up in
// Logs and, on failure, in the test log. The default is no access log.
func WithAccessLog() Option {
	return func(o *options) error {
		o.accessLog = true
		return nil
	}
}

// Integration reports whether IntegrationEnv is set to a true value
// (anything but "", "0" and "false").
func Integration() bool {
	v := strings.TrimSpace(os.Getenv(IntegrationEnv))
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

// unavailable fails the test in integration mode and skips it otherwise.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Integration() {
		t.Fatalf("%s (%s is set, so this fails instead of skipping)", msg, IntegrationEnv)
	}
	t.Skipf("%s; run `make test` (it installs the tools and sets %s=1) to run this test", msg, IntegrationEnv)
}

// ToolsDir returns the directory holding the tools: $OCISOURCE_TOOLS if set,
// else .cache/bin under the root of this module, found by walking up from the
// working directory (go test runs in the package directory).
func ToolsDir() (string, error) {
	if d := os.Getenv(ToolsDirEnv); d != "" {
		return filepath.Abs(d)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("realregistry: finding the tools directory: %w", err)
	}
	for dir := wd; ; {
		if isModuleRoot(filepath.Join(dir, "go.mod")) {
			return filepath.Join(dir, ".cache", "bin"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("realregistry: no go.mod of %s above %s; set %s to the tools directory", modulePath, wd, ToolsDirEnv)
		}
		dir = parent
	}
}

// isModuleRoot reports whether the file at path is a go.mod declaring modulePath.
func isModuleRoot(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == modulePath
		}
	}
	return false
}

// Tool returns the absolute path of a tool installed by `make tools` into
// <repo>/.cache/bin ("registry", "cosign"). When it is missing the test
// fails if IntegrationEnv is set and skips otherwise.
func Tool(t testing.TB, name string) string {
	t.Helper()
	if name == "" || strings.ContainsAny(name, `/\`) {
		t.Fatalf("realregistry.Tool(%q): want a bare tool name such as \"registry\" or \"cosign\"", name)
	}
	dir, err := ToolsDir()
	if err != nil {
		unavailable(t, "tool %s: %v", name, err)
		return ""
	}
	path := filepath.Join(dir, name)
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		unavailable(t, "tool %s is not installed at %s", name, path)
		return ""
	}
	return path
}

// Start starts a registry for the calling test and stops it in t.Cleanup:
// 127.0.0.1 on a free port, HTTPS with a new CA (Registry.CAFile), basic auth
// with a random password, storage in a t.TempDir(). It returns once GET /v2/
// answers 401, waiting at most StartTimeout. When the registry binary is
// missing or the registry does not come up, the test fails if
// IntegrationEnv is set and skips otherwise; a bad Option always fails it.
func Start(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			t.Fatal(err)
		}
	}
	bin := Tool(t, "registry")

	dir := t.TempDir()
	r, err := prepare(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		RootDirectory: r.RootDirectory,
		Certificate:   filepath.Join(dir, "server.pem"),
		Key:           filepath.Join(dir, "server-key.pem"),
		HtpasswdPath:  filepath.Join(dir, "htpasswd"),
		Secret:        randomHex(16),
		MaxTags:       o.maxTags,
		AccessLog:     o.accessLog,
	}
	var serverCert tls.Certificate
	if o.tokenAuth {
		ts, err := newTokenServer(r.Username, r.Password)
		if err != nil {
			t.Fatal(err)
		}
		r.tokens = ts
		cfg.TokenService, cfg.TokenIssuer = tokenService, tokenIssuer
		cfg.TokenRootCertBundle = filepath.Join(dir, "token-root.pem")
		if err := os.WriteFile(cfg.TokenRootCertBundle, ts.certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if serverCert, err = tls.LoadX509KeyPair(cfg.Certificate, cfg.Key); err != nil {
			t.Fatal(err)
		}
	}

	// The free port is found by binding and releasing it, so another process
	// can take it before the registry binds it; retry on that race.
	const attempts = 3
	var lastErr error
	for range attempts {
		addr, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Addr = addr
		r.Host = addr
		var fr *front
		if r.tokens != nil {
			// Clients talk to the front, which passes all but /token on.
			frontAddr, err := freeAddr()
			if err != nil {
				t.Fatal(err)
			}
			if fr, err = startFront(frontAddr, addr, serverCert, r.CAPool, r.tokens); err != nil {
				lastErr = err
				continue
			}
			r.Host = frontAddr
			cfg.TokenRealm = "https://" + frontAddr + "/token"
		}
		if err := writeHostFiles(r, cfg); err != nil {
			t.Fatal(err)
		}
		p, err := launch(bin, dir, r.ConfigFile)
		if err != nil {
			unavailable(t, "starting %s: %v", bin, err)
			return nil
		}
		r.logs = p.logs
		err = waitReady(p, r, StartTimeout)
		if err == nil {
			t.Cleanup(func() {
				if fr != nil {
					fr.close()
				}
				p.stop(t, r)
			})
			return r
		}
		if fr != nil {
			fr.close()
		}
		p.kill()
		lastErr = err
		if !strings.Contains(p.logs.String(), "address already in use") {
			break
		}
	}
	unavailable(t, "registry %s did not come up: %v\nregistry output:\n%s", bin, lastErr, r.Logs())
	return nil
}

// prepare writes everything that does not depend on the listen address:
// certificates, htpasswd, storage directory.
func prepare(dir string) (*Registry, error) {
	certs, err := NewCertificates()
	if err != nil {
		return nil, err
	}
	r := &Registry{
		dir:             dir,
		Username:        "ocisource",
		Password:        randomHex(16),
		CAFile:          filepath.Join(dir, "ca.pem"),
		CAPool:          x509.NewCertPool(),
		DockerConfigDir: filepath.Join(dir, "docker"),
		ConfigFile:      filepath.Join(dir, "config.yml"),
		RootDirectory:   filepath.Join(dir, "storage"),
	}
	if !r.CAPool.AppendCertsFromPEM(certs.CAPEM) {
		return nil, errors.New("realregistry: the generated CA certificate does not parse")
	}
	line, err := HtpasswdLine(r.Username, r.Password)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{r.DockerConfigDir, r.RootDirectory} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("realregistry: %w", err)
		}
	}
	files := []struct {
		name string
		data []byte
	}{
		{"ca.pem", certs.CAPEM},
		{"server.pem", certs.ServerCertPEM},
		{"server-key.pem", certs.ServerKeyPEM},
		{"htpasswd", []byte(line)},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o600); err != nil {
			return nil, fmt.Errorf("realregistry: %w", err)
		}
	}
	return r, nil
}

// writeHostFiles writes the files that name the listen address: the registry
// config and the Docker config.
func writeHostFiles(r *Registry, cfg Config) error {
	if err := os.WriteFile(r.ConfigFile, cfg.YAML(), 0o600); err != nil {
		return fmt.Errorf("realregistry: %w", err)
	}
	dockerCfg, err := DockerConfigJSON(r.Host, r.Username, r.Password)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.DockerConfigDir, "config.json"), dockerCfg, 0o600); err != nil {
		return fmt.Errorf("realregistry: %w", err)
	}
	return nil
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("realregistry: finding a free port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("realregistry: releasing port %s: %w", addr, err)
	}
	return addr, nil
}

// process is a running registry binary.
type process struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's result, valid after done
	logs   *OutputBuffer
}

// childEnv is the environment for the registry: ours, minus the variables
// that distribution reads as config overrides (REGISTRY_*) or as tracing
// settings (OTEL_*), and with trace export off (the default would try to send
// spans to an OTLP collector on localhost).
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "REGISTRY_") || strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none")
}

func launch(bin, dir, configFile string) (*process, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", configFile)
	cmd.Dir = dir
	cmd.Env = childEnv()
	logs := NewOutputBuffer(1 << 20)
	cmd.Stdout = logs
	cmd.Stderr = logs
	cmd.WaitDelay = 5 * time.Second
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	p := &process{cmd: cmd, cancel: cancel, done: make(chan struct{}), logs: logs}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// kill stops the process and waits for it.
func (p *process) kill() {
	p.cancel()
	<-p.done
}

// stop is the t.Cleanup of a started registry: it reports a registry that
// died during the test, kills it, and shows its output if the test failed.
func (p *process) stop(t testing.TB, r *Registry) {
	select {
	case <-p.done:
		t.Errorf("registry %s exited during the test: %v\nregistry output:\n%s", r.Host, p.err, r.Logs())
		return
	default:
	}
	p.kill()
	if t.Failed() {
		if out := r.Logs(); out != "" {
			t.Logf("registry %s output:\n%s", r.Host, out)
		}
	}
}

// waitReady polls GET /v2/ until the registry answers 401 with a basic-auth
// challenge, the process exits, or timeout passes.
func waitReady(p *process, r *Registry, timeout time.Duration) error {
	client := &http.Client{Transport: r.Transport(), Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	delay := 10 * time.Millisecond
	var last error
	for {
		status, err := probe(client, r.URL()+"/v2/")
		switch {
		case err == nil && status == http.StatusUnauthorized:
			return nil
		case err == nil:
			last = fmt.Errorf("GET %s/v2/ answered %d, want 401", r.URL(), status)
		default:
			last = err
		}
		select {
		case <-p.done:
			return fmt.Errorf("the registry exited: %v (last probe: %v)", p.err, last)
		case <-time.After(delay):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no 401 from GET %s/v2/ within %s (last probe: %v)", r.URL(), timeout, last)
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

func probe(client *http.Client, url string) (int, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if ch := resp.Header.Get("WWW-Authenticate"); resp.StatusCode == http.StatusUnauthorized && !strings.HasPrefix(ch, "Basic ") && !strings.HasPrefix(ch, "Bearer ") {
		return 0, fmt.Errorf("GET %s answered 401 without a Basic or Bearer challenge (WWW-Authenticate %q)", url, ch)
	}
	return resp.StatusCode, nil
}

// randomHex returns n random bytes, hex encoded.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error (Go 1.24+).
	return hex.EncodeToString(b)
}

// NewOutputBuffer returns an OutputBuffer that keeps max bytes.
func NewOutputBuffer(max int) *OutputBuffer { return &OutputBuffer{max: max} }

// OutputBuffer is a goroutine-safe buffer that keeps the first bytes
// written to it, up to a cap, and counts the rest: the captured output of a
// child process (the registry's here, the Sigstore services' in
// sigstorestack). The zero value keeps nothing; use NewOutputBuffer.
type OutputBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	max     int
	dropped int
}

func (b *OutputBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.max - b.buf.Len()
	if room >= len(p) {
		b.buf.Write(p)
	} else {
		b.buf.Write(p[:max(room, 0)])
		b.dropped += len(p) - max(room, 0)
	}
	return len(p), nil
}

func (b *OutputBuffer) String() string {
	if b == nil {
		return ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped > 0 {
		return fmt.Sprintf("%s\n[%d more bytes dropped]\n", b.buf.String(), b.dropped)
	}
	return b.buf.String()
}
