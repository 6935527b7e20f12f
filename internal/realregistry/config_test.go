package realregistry_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/ocisource/ocisource/internal/realregistry"
)

func TestConfigYAMLParses(t *testing.T) {
	tests := []struct {
		name string
		cfg  realregistry.Config
	}{
		{
			name: "plain paths",
			cfg: realregistry.Config{
				Addr: "127.0.0.1:5000", RootDirectory: "/tmp/x/storage", Certificate: "/tmp/x/server.pem",
				Key: "/tmp/x/server-key.pem", HtpasswdPath: "/tmp/x/htpasswd",
			},
		},
		{
			name: "paths YAML would misread unquoted",
			cfg: realregistry.Config{
				Addr: "127.0.0.1:5000", RootDirectory: `/tmp/a: b/#c/"d"/\e/ünï/`, Certificate: "- [x]",
				Key: "{k}: v", HtpasswdPath: "yes", Realm: "realm with 'quotes' & \"more\"\t", Secret: "null",
				MaxTags: 7, AccessLog: true,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got map[string]any
			if err := yaml.Unmarshal(tc.cfg.YAML(), &got); err != nil {
				t.Fatalf("YAML does not parse: %v\n%s", err, tc.cfg.YAML())
			}
			realm, secret := tc.cfg.Realm, tc.cfg.Secret
			if realm == "" {
				realm = realregistry.DefaultRealm
			}
			if secret == "" {
				secret = "ocisource-realregistry-secret"
			}
			want := map[string]any{
				"version": 0.1,
				"log":     map[string]any{"level": "warn", "accesslog": map[string]any{"disabled": !tc.cfg.AccessLog}},
				"storage": map[string]any{
					"filesystem":  map[string]any{"rootdirectory": tc.cfg.RootDirectory},
					"delete":      map[string]any{"enabled": true},
					"maintenance": map[string]any{"uploadpurging": map[string]any{"enabled": false}},
				},
				"http": map[string]any{
					"addr":   tc.cfg.Addr,
					"secret": secret,
					"tls":    map[string]any{"certificate": tc.cfg.Certificate, "key": tc.cfg.Key, "minimumtls": "tls1.2"},
				},
				"auth": map[string]any{"htpasswd": map[string]any{"realm": realm, "path": tc.cfg.HtpasswdPath}},
			}
			if tc.cfg.MaxTags > 0 {
				want["tags"] = map[string]any{"maxtags": tc.cfg.MaxTags}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("parsed config (-want +got):\n%s\nYAML:\n%s", diff, tc.cfg.YAML())
			}
		})
	}
}

func TestHtpasswdLine(t *testing.T) {
	line, err := realregistry.HtpasswdLine("ci-user", "s3cret:with:colons")
	if err != nil {
		t.Fatal(err)
	}
	user, hash, ok := strings.Cut(strings.TrimSuffix(line, "\n"), ":")
	if !ok || user != "ci-user" || !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 {
		t.Fatalf("HtpasswdLine = %q, want one line \"ci-user:<hash>\\n\"", line)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret:with:colons")); err != nil {
		t.Errorf("hash %q does not match the password: %v", hash, err)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret")); err == nil {
		t.Errorf("hash %q matches a wrong password", hash)
	}
}

func TestCredentialsRejected(t *testing.T) {
	tests := []struct {
		name, user, pass string
	}{
		{"empty user", "", "p"},
		{"colon in user", "a:b", "p"},
		{"newline in user", "a\nb", "p"},
		{"comment user", "#a", "p"},
		{"padded user", " a", "p"},
		{"empty password", "a", ""},
		{"newline in password", "a", "p\nq"},
		{"password over 72 bytes", "a", strings.Repeat("p", 73)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := realregistry.HtpasswdLine(tc.user, tc.pass); !errors.Is(err, realregistry.ErrInvalidCredentials) {
				t.Errorf("HtpasswdLine(%q, %q) err = %v, want ErrInvalidCredentials", tc.user, tc.pass, err)
			}
			if _, err := realregistry.DockerConfigJSON("127.0.0.1:5000", tc.user, tc.pass); !errors.Is(err, realregistry.ErrInvalidCredentials) {
				t.Errorf("DockerConfigJSON(_, %q, %q) err = %v, want ErrInvalidCredentials", tc.user, tc.pass, err)
			}
		})
	}
	for _, host := range []string{"", "https://127.0.0.1", "127.0.0.1/repo", "a b"} {
		if _, err := realregistry.DockerConfigJSON(host, "u", "p"); !errors.Is(err, realregistry.ErrInvalidCredentials) {
			t.Errorf("DockerConfigJSON(%q, ...) err = %v, want ErrInvalidCredentials", host, err)
		}
	}
}

func TestDockerConfigJSON(t *testing.T) {
	out, err := realregistry.DockerConfigJSON("127.0.0.1:5000", "u", "p:w")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Auths map[string]struct {
			Auth string `json:"auth"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	raw, err := base64.StdEncoding.DecodeString(cfg.Auths["127.0.0.1:5000"].Auth)
	if err != nil {
		t.Fatalf("auth of 127.0.0.1:5000 in %s: %v", out, err)
	}
	if got, want := string(raw), "u:p:w"; got != want {
		t.Errorf("decoded auth = %q, want %q", got, want)
	}
	if len(cfg.Auths) != 1 {
		t.Errorf("config has %d hosts, want 1: %s", len(cfg.Auths), out)
	}
}

func TestNewCertificates(t *testing.T) {
	certs, err := realregistry.NewCertificates()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certs.CAPEM) {
		t.Fatalf("CA PEM does not parse:\n%s", certs.CAPEM)
	}
	pair, err := tls.X509KeyPair(certs.ServerCertPEM, certs.ServerKeyPEM)
	if err != nil {
		t.Fatalf("server certificate and key do not pair: %v", err)
	}
	leaf := pair.Leaf
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		opts := x509.VerifyOptions{Roots: pool, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := leaf.Verify(opts); err != nil {
			t.Errorf("server certificate for %s does not verify against the CA: %v", host, err)
		}
	}
	if err := leaf.VerifyHostname("127.0.0.2"); err == nil {
		t.Error("server certificate is valid for 127.0.0.2, want only loopback names")
	}
	if !leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("first IP SAN = %v, want 127.0.0.1", leaf.IPAddresses[0])
	}
	if block, _ := pem.Decode(certs.ServerKeyPEM); block == nil || block.Type != "PRIVATE KEY" {
		t.Errorf("server key is not a PKCS #8 PEM block")
	}

	other, err := realregistry.NewCertificates()
	if err != nil {
		t.Fatal(err)
	}
	if string(other.CAPEM) == string(certs.CAPEM) {
		t.Error("two calls returned the same CA")
	}
}

// fakeTB records how Tool and Start end a test, without ending the real one.
type fakeTB struct {
	testing.TB
	mu      sync.Mutex
	skipped string
	fatal   string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.mu.Lock()
	f.skipped = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// runOnFake runs fn on a fakeTB in its own goroutine (Skipf/Fatalf end it
// with runtime.Goexit, as testing does) and returns how it ended.
func runOnFake(t *testing.T, fn func(tb testing.TB)) (skipped, fatal bool) {
	f := runFake(t, fn)
	return f.skipped != "", f.fatal != ""
}

func runFake(t *testing.T, fn func(tb testing.TB)) *fakeTB {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

func TestToolMissing(t *testing.T) {
	tests := []struct {
		name        string
		integration string
		wantSkip    bool
		wantFatal   bool
	}{
		{name: "plain go test skips", integration: "", wantSkip: true},
		{name: "integration 0 skips", integration: "0", wantSkip: true},
		{name: "integration false skips", integration: "false", wantSkip: true},
		{name: "integration 1 fails", integration: "1", wantFatal: true},
		{name: "integration true fails", integration: "true", wantFatal: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(realregistry.ToolsDirEnv, t.TempDir())
			t.Setenv(realregistry.IntegrationEnv, tc.integration)
			for _, fn := range []func(testing.TB){
				func(tb testing.TB) { realregistry.Tool(tb, "registry") },
				func(tb testing.TB) { realregistry.Start(tb) },
			} {
				skipped, fatal := runOnFake(t, fn)
				if skipped != tc.wantSkip || fatal != tc.wantFatal {
					t.Errorf("skipped=%t fatal=%t, want skipped=%t fatal=%t", skipped, fatal, tc.wantSkip, tc.wantFatal)
				}
			}
		})
	}
}

func TestToolFound(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(realregistry.ToolsDirEnv, dir)
	t.Setenv(realregistry.IntegrationEnv, "1")
	bin := filepath.Join(dir, "cosign")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := realregistry.Tool(t, "cosign"); got != bin {
		t.Errorf("Tool(cosign) = %q, want %q", got, bin)
	}
	// A file without the executable bit is not a tool.
	if err := os.WriteFile(filepath.Join(dir, "registry"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, fatal := runOnFake(t, func(tb testing.TB) { realregistry.Tool(tb, "registry") }); !fatal {
		t.Error("Tool accepted a non-executable file")
	}
	if _, fatal := runOnFake(t, func(tb testing.TB) { realregistry.Tool(tb, "../registry") }); !fatal {
		t.Error("Tool accepted a path instead of a tool name")
	}
}

func TestToolsDirFindsModuleRoot(t *testing.T) {
	t.Setenv(realregistry.ToolsDirEnv, "")
	got, err := realregistry.ToolsDir()
	if err != nil {
		t.Fatal(err)
	}
	// go test runs in internal/realregistry, two levels below the module root.
	want, err := filepath.Abs(filepath.Join("..", "..", ".cache", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("ToolsDir() = %q, want %q", got, want)
	}
}

func TestStartReportsRegistryOutput(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(realregistry.ToolsDirEnv, dir)
	script := "#!/bin/sh\necho \"configuration error: boom\" >&2\nexit 3\n"
	if err := os.WriteFile(filepath.Join(dir, "registry"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, integration := range []string{"1", ""} {
		t.Setenv(realregistry.IntegrationEnv, integration)
		f := runFake(t, func(tb testing.TB) { realregistry.Start(tb) })
		msg := f.fatal + f.skipped
		if (f.fatal != "") != (integration == "1") {
			t.Errorf("integration=%q: fatal=%q skipped=%q, want it to fail only in integration mode", integration, f.fatal, f.skipped)
		}
		for _, want := range []string{"did not come up", "exit status 3", "configuration error: boom"} {
			if !strings.Contains(msg, want) {
				t.Errorf("integration=%q: message %q lacks %q", integration, msg, want)
			}
		}
	}
}

// With a token realm, htpasswd gives way to the token access controller and
// URLs become relative (for the front the harness puts before the registry).
func TestConfigYAMLTokenAuth(t *testing.T) {
	cfg := realregistry.Config{
		Addr: "127.0.0.1:5000", RootDirectory: "/tmp/x/storage", Certificate: "/tmp/x/server.pem", Key: "/tmp/x/server-key.pem",
		HtpasswdPath: "/tmp/x/htpasswd", TokenRealm: "https://127.0.0.1:5001/token", TokenService: "svc", TokenIssuer: "iss",
		TokenRootCertBundle: "/tmp/x/token-root.pem",
	}
	var got map[string]any
	if err := yaml.Unmarshal(cfg.YAML(), &got); err != nil {
		t.Fatalf("YAML does not parse: %v\n%s", err, cfg.YAML())
	}
	want := map[string]any{"token": map[string]any{"realm": cfg.TokenRealm, "service": "svc", "issuer": "iss", "rootcertbundle": cfg.TokenRootCertBundle}}
	if diff := cmp.Diff(want, got["auth"]); diff != "" {
		t.Errorf("auth (-want +got):\n%s", diff)
	}
	if rel := got["http"].(map[string]any)["relativeurls"]; rel != true {
		t.Errorf("http.relativeurls = %v, want true", rel)
	}
}
