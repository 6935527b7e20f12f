// Package sigstorestack runs a real private Sigstore for integration tests:
// an OpenID Connect issuer of ours, Fulcio v1.8.8 with an ephemeral CA, and
// the timestamp authority v2.1.3 with an in-memory signer, all on
// 127.0.0.1, plus the trusted_root.json and signing config that the real
// cosign v3 CLI (cosign3) makes for them. There is no Rekor and no CT log:
// signatures carry an RFC 3161 timestamp instead of a transparency-log entry,
// and certificates no SCT. The registry is realregistry's.
//
// # A private network namespace per test
//
// The timestamp authority binds its metrics server on all interfaces at
// :2112 (hard-coded in v2.1.3), and so does Fulcio on --metrics-port; test
// servers must listen on loopback only, and two stacks would fight over the
// port. So each test that uses the stack runs in a network namespace of its
// own: [Isolate] re-executes the test binary for that one test in a new
// network namespace (clone with CLONE_NEWNET, and CLONE_NEWUSER when not
// root), where the test brings lo up and starts the stack, the registry,
// cosign and the verification: they all share the namespace, which has
// nothing but loopback, so nothing is reachable from outside and nothing
// leaves (cosign cannot reach the public-good TUF repository or Rekor even
// by mistake). Re-executing the whole test, rather than putting each server
// in a namespace, is what lets in-process code (the OIDC issuer, the
// Fetcher, our verifiers) and the CLI tools reach the servers at all. The
// namespace is made with the clone flags of os/exec and lo is raised with an
// ioctl, so neither unshare (util-linux) nor ip (iproute2) is needed. In the
// private namespace a port found free stays free: only the test's own
// processes bind there.
//
//	func TestIntegrationSomething(t *testing.T) {
//		if !sigstorestack.Isolate(t) {
//			return // the test ran in its own namespace; its result is ours
//		}
//		st := sigstorestack.Start(t)
//		reg := realregistry.Start(t)
//		...
//	}
//
// # The OIDC issuer
//
// The issuer is written here (about a hundred lines: discovery documents,
// a JWKS, RS256 ID tokens, with the standard library) rather than taken
// from a library, since it only mints tokens for Fulcio to check and needs
// no login flow, and no OIDC provider library is a dependency of the module.
// It serves two issuer URLs: an "email" one (the certificate's SAN is the
// email) and a "ci-provider" one with GitHub Actions' claim mapping (the SAN
// is the workflow URI, and the Fulcio extensions carry repository, ref,
// trigger, runner ...), so identities and cosign.Identity.Extensions are
// checked against certificates made by the real Fulcio.
//
// The tools are installed by `make tools` into <repo>/.cache/bin. As in
// realregistry, with OCISOURCE_INTEGRATION=1 a missing tool or a stack that
// does not come up fails the test; under a plain `go test` it skips.
package sigstorestack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ocisource/ocisource/internal/realregistry"
)

// stackTools are the tools the stack needs, besides the registry's.
var stackTools = []string{"fulcio", "timestamp-server", "cosign3"}

// StartTimeout bounds how long Start waits for each server to answer.
const StartTimeout = 30 * time.Second

// Stack is a running private Sigstore. All fields are set by Start.
type Stack struct {
	Issuer *Issuer

	FulcioURL string // http://127.0.0.1:port, Fulcio's HTTP API
	TSAURL    string // http://127.0.0.1:port/api/v1/timestamp, the RFC 3161 endpoint

	FulcioChainFile string // PEM of Fulcio's certificate chain (the ephemeral root)
	TSAChainFile    string // PEM of the timestamp authority's chain, leaf first

	// TrustedRootFile is the trusted_root.json `cosign3 trusted-root create`
	// made: Fulcio's CA and the timestamp authority, no Rekor, no CT log.
	TrustedRootFile string
	// SigningConfigFile is the signing config `cosign3 signing-config
	// create` made: Fulcio, the timestamp authority and the email issuer,
	// no Rekor.
	SigningConfigFile string

	dir   string
	procs []*process
}

// Start starts the issuer, Fulcio and the timestamp authority, writes the
// trusted root and signing config, and stops everything in t.Cleanup. It
// must run inside [Isolate]. It returns once both servers answer (each
// within StartTimeout); when a tool is missing or a server does not come up,
// the test fails if realregistry.IntegrationEnv is set and skips otherwise.
func Start(t *testing.T) *Stack {
	t.Helper()
	if !inNamespace() {
		t.Fatal("sigstorestack.Start outside sigstorestack.Isolate: the timestamp authority would bind :2112 on every interface of this machine")
	}
	fulcioBin := tool(t, "fulcio")
	tsaBin := tool(t, "timestamp-server")
	tool(t, "cosign3")

	started := time.Now()
	dir := t.TempDir()
	iss, err := newIssuer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(iss.Close)
	s := &Stack{
		Issuer:            iss,
		FulcioChainFile:   filepath.Join(dir, "fulcio-chain.pem"),
		TSAChainFile:      filepath.Join(dir, "tsa-chain.pem"),
		TrustedRootFile:   filepath.Join(dir, "trusted_root.json"),
		SigningConfigFile: filepath.Join(dir, "signing_config.json"),
		dir:               dir,
	}
	t.Cleanup(func() { s.stop(t) })

	if err := s.startFulcio(fulcioBin); err != nil {
		unavailable(t, "%v%s", err, s.logs())
	}
	if err := s.startTSA(tsaBin); err != nil {
		unavailable(t, "%v%s", err, s.logs())
	}
	if err := fetchTo(s.FulcioURL+"/api/v1/rootCert", s.FulcioChainFile); err != nil {
		unavailable(t, "%v%s", err, s.logs())
	}
	if err := fetchTo(strings.TrimSuffix(s.TSAURL, "/timestamp")+"/timestamp/certchain", s.TSAChainFile); err != nil {
		unavailable(t, "%v%s", err, s.logs())
	}
	s.mustCosign(t, "trusted-root", "create",
		"--fulcio", "url="+s.FulcioURL+",certificate-chain="+s.FulcioChainFile,
		"--tsa", "url="+s.TSAURL+",certificate-chain="+s.TSAChainFile,
		"--out", s.TrustedRootFile)
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	service := func(url string) string {
		return "url=" + url + ",api-version=1,start-time=" + since + ",operator=ocisource-test"
	}
	s.mustCosign(t, "signing-config", "create",
		"--fulcio", service(s.FulcioURL),
		"--tsa", service(s.TSAURL), "--tsa-config", "ANY",
		"--oidc-provider", service(iss.EmailIssuer()),
		"--out", s.SigningConfigFile)
	t.Logf("sigstorestack: issuer %s, Fulcio %s, timestamp authority %s, up in %s",
		iss.URL(), s.FulcioURL, s.TSAURL, time.Since(started).Round(time.Millisecond))
	return s
}

// fulcioConfig is Fulcio's configuration for the issuer: the email issuer,
// and the workflow issuer mapped as GitHub Actions' is in Fulcio's own
// config/identity/config.yaml.
func fulcioConfig(iss *Issuer) ([]byte, error) {
	type issuer struct {
		IssuerURL  string `json:"IssuerURL"`
		ClientID   string `json:"ClientID"`
		Type       string `json:"Type"`
		CIProvider string `json:"CIProvider,omitempty"`
	}
	cfg := map[string]any{
		"OIDCIssuers": map[string]issuer{
			iss.EmailIssuer():    {IssuerURL: iss.EmailIssuer(), ClientID: Audience, Type: "email"},
			iss.WorkflowIssuer(): {IssuerURL: iss.WorkflowIssuer(), ClientID: Audience, Type: "ci-provider", CIProvider: "github-workflow"},
		},
		"CIIssuerMetadata": map[string]any{
			"github-workflow": map[string]any{
				"DefaultTemplateValues": map[string]string{"url": "https://github.com"},
				"ExtensionTemplates": map[string]string{
					"GithubWorkflowTrigger":               "event_name",
					"GithubWorkflowSHA":                   "sha",
					"GithubWorkflowName":                  "workflow",
					"GithubWorkflowRepository":            "repository",
					"GithubWorkflowRef":                   "ref",
					"BuildSignerURI":                      "{{ .url }}/{{ .job_workflow_ref }}",
					"BuildSignerDigest":                   "job_workflow_sha",
					"RunnerEnvironment":                   "runner_environment",
					"SourceRepositoryURI":                 "{{ .url }}/{{ .repository }}",
					"SourceRepositoryDigest":              "sha",
					"SourceRepositoryRef":                 "ref",
					"SourceRepositoryIdentifier":          "repository_id",
					"SourceRepositoryOwnerURI":            "{{ .url }}/{{ .repository_owner }}",
					"SourceRepositoryOwnerIdentifier":     "repository_owner_id",
					"BuildConfigURI":                      "{{ .url }}/{{ .workflow_ref }}",
					"BuildConfigDigest":                   "workflow_sha",
					"BuildTrigger":                        "event_name",
					"RunInvocationURI":                    "{{ .url }}/{{ .repository }}/actions/runs/{{ .run_id }}/attempts/{{ .run_attempt }}",
					"SourceRepositoryVisibilityAtSigning": "repository_visibility",
				},
				"SubjectAlternativeNameTemplate": "{{ .url }}/{{ .job_workflow_ref }}",
			},
		},
	}
	return json.MarshalIndent(cfg, "", "  ")
}

func (s *Stack) startFulcio(bin string) error {
	cfg, err := fulcioConfig(s.Issuer)
	if err != nil {
		return err
	}
	cfgFile := filepath.Join(s.dir, "fulcio-config.json")
	if err := os.WriteFile(cfgFile, cfg, 0o600); err != nil {
		return fmt.Errorf("sigstorestack: %w", err)
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	s.FulcioURL = "http://127.0.0.1:" + ports[0]
	p, err := s.launch("fulcio", bin, nil, "serve",
		"--ca", "ephemeralca",
		"--ct-log-url=", // no CT log: certificates carry no SCT
		"--config-path", cfgFile,
		"--host", "127.0.0.1", "--port", ports[0],
		"--grpc-host", "127.0.0.1", "--grpc-port", ports[1],
		"--metrics-port", ports[2],
		// An abstract socket, private to the namespace like the ports.
		"--legacy-unix-domain-socket", "@ocisource-fulcio-"+randomHex(8),
		"--log_type", "prod")
	if err != nil {
		return err
	}
	return p.waitReady(s.FulcioURL + "/api/v1/rootCert")
}

func (s *Stack) startTSA(bin string) error {
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	// v2.1.3 has no --host and --port flags: viper reads them from the
	// config file and from HOST and PORT in the environment (which win).
	cfgFile := filepath.Join(s.dir, "timestamp-server.yaml")
	if err := os.WriteFile(cfgFile, []byte("host: 127.0.0.1\nport: "+ports[0]+"\n"), 0o600); err != nil {
		return fmt.Errorf("sigstorestack: %w", err)
	}
	base := "http://127.0.0.1:" + ports[0]
	s.TSAURL = base + "/api/v1/timestamp"
	p, err := s.launch("timestamp-server", bin, []string{"HOST=127.0.0.1", "PORT=" + ports[0]}, "serve",
		"--config", cfgFile,
		"--timestamp-signer", "memory",
		"--disable-ntp-monitoring", // it would query public NTP servers
		"--log-type", "prod")
	if err != nil {
		return err
	}
	return p.waitReady(base + "/ping")
}

// CosignEnv is the environment for cosign3 run against the stack and reg (nil
// for none): reg's CLIEnv (credentials, its CA, TUF kept off the network),
// or without a registry the test's environment with TUF kept off the
// network the same way, and COSIGN_PASSWORD set for keys cosign generates.
func (s *Stack) CosignEnv(reg *realregistry.Registry) []string {
	var env []string
	if reg != nil {
		env = reg.CLIEnv()
	} else {
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "TUF_") {
				env = append(env, kv)
			}
		}
		env = append(env, "TUF_ROOT="+filepath.Join(s.dir, "tuf"), "TUF_MIRROR=http://127.0.0.1:1")
	}
	env = slices.DeleteFunc(env, func(kv string) bool {
		return strings.HasPrefix(kv, "COSIGN_") || strings.HasPrefix(kv, "SIGSTORE_")
	})
	return append(env, "COSIGN_PASSWORD="+CosignPassword, "HOME="+s.dir)
}

// CosignPassword is the password of the keys cosign generates with CosignEnv.
const CosignPassword = "sigstorestack-password"

// Cosign runs cosign3 with args in dir (the test's working directory if
// ""), with CosignEnv(reg), and returns its combined output.
func (s *Stack) Cosign(t testing.TB, reg *realregistry.Registry, dir string, args ...string) (string, error) {
	t.Helper()
	return s.Run(t, reg, dir, "cosign3", args...)
}

// Run runs the tool name ("cosign3", or "cosign" for v2) like Cosign does.
func (s *Stack) Run(t testing.TB, reg *realregistry.Registry, dir, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool(t, name), args...)
	cmd.Dir = dir
	cmd.Env = s.CosignEnv(reg)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// MustCosign is Cosign that fails the test when cosign3 does.
func (s *Stack) MustCosign(t testing.TB, reg *realregistry.Registry, dir string, args ...string) string {
	t.Helper()
	out, err := s.Cosign(t, reg, dir, args...)
	if err != nil {
		t.Fatalf("cosign3 %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (s *Stack) mustCosign(t *testing.T, args ...string) {
	t.Helper()
	if out, err := s.Cosign(t, nil, s.dir, args...); err != nil {
		unavailable(t, "sigstorestack: cosign3 %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Logs returns what Fulcio and the timestamp authority printed so far.
func (s *Stack) Logs() string { return s.logs() }

func (s *Stack) logs() string {
	var b strings.Builder
	for _, p := range s.procs {
		fmt.Fprintf(&b, "\n%s output:\n%s", p.name, p.logs.String())
	}
	return b.String()
}

// stop is the stack's t.Cleanup: it reports a server that died during the
// test, stops them all, and shows their output if the test failed.
func (s *Stack) stop(t *testing.T) {
	for _, p := range s.procs {
		select {
		case <-p.done:
			if !t.Failed() && !t.Skipped() {
				t.Errorf("sigstorestack: %s exited during the test: %v", p.name, p.err)
			}
		default:
		}
		p.kill()
	}
	if t.Failed() {
		t.Logf("sigstorestack logs:%s", s.logs())
	}
}

// fetchTo GETs url and writes the body to path.
func fetchTo(url, path string) error {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("sigstorestack: GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("sigstorestack: GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK || len(body) == 0 {
		return fmt.Errorf("sigstorestack: GET %s answered %d with %d bytes, want 200 and a PEM chain", url, resp.StatusCode, len(body))
	}
	if err := os.WriteFile(path, body, 0o600); err != nil {
		return fmt.Errorf("sigstorestack: %w", err)
	}
	return nil
}

// freePorts returns n ports on 127.0.0.1 that were free a moment ago. In the
// private namespace nothing but the test's own processes binds, so they
// stay free.
func freePorts(n int) ([]string, error) {
	var ports []string
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("sigstorestack: finding a free port: %w", err)
		}
		ls = append(ls, l)
		_, port, _ := net.SplitHostPort(l.Addr().String())
		ports = append(ports, port)
	}
	return ports, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error (Go 1.24+).
	return hex.EncodeToString(b)
}

// tool is realregistry.Tool: the tool's path, or the test fails or skips.
func tool(t testing.TB, name string) string {
	t.Helper()
	return realregistry.Tool(t, name)
}

// unavailable fails the test in integration mode and skips it otherwise,
// as realregistry does.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if realregistry.Integration() {
		t.Fatalf("%s (%s is set, so this fails instead of skipping)", msg, realregistry.IntegrationEnv)
	}
	t.Skipf("%s; run `make test` (it installs the tools and sets %s=1) to run this test", msg, realregistry.IntegrationEnv)
}
