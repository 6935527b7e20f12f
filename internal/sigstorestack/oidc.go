package sigstorestack

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"
)

// Audience is the audience of the ID tokens the Issuer mints: the client ID
// Fulcio is configured to accept, and the one cosign uses by default.
const Audience = "sigstore"

// Paths of the two issuers the Issuer serves, appended to its URL.
const (
	emailPath    = "/email"
	workflowPath = "/github-actions"
)

// Issuer is a minimal OpenID Connect provider on 127.0.0.1: a discovery
// document and a JWKS for each of two issuer URLs (EmailIssuer,
// WorkflowIssuer), and ID tokens signed with RS256, minted in process by
// EmailToken and WorkflowToken. Fulcio fetches the discovery document and the
// keys; cosign is handed a token with --identity-token, so no login flow is
// needed.
type Issuer struct {
	srv *httptest.Server
	key *rsa.PrivateKey
	kid string
}

// newIssuer starts an Issuer; Close stops it.
func newIssuer() (*Issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("sigstorestack: generating the OIDC signing key: %w", err)
	}
	sum := sha256.Sum256(key.PublicKey.N.Bytes())
	iss := &Issuer{key: key, kid: base64.RawURLEncoding.EncodeToString(sum[:8])}
	mux := http.NewServeMux()
	for _, p := range []string{emailPath, workflowPath} {
		mux.HandleFunc("GET "+p+"/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, map[string]any{
				"issuer":                                iss.URL() + p,
				"jwks_uri":                              iss.URL() + p + "/keys",
				"authorization_endpoint":                iss.URL() + p + "/auth",
				"token_endpoint":                        iss.URL() + p + "/token",
				"response_types_supported":              []string{"id_token"},
				"subject_types_supported":               []string{"public"},
				"id_token_signing_alg_values_supported": []string{"RS256"},
			})
		})
		mux.HandleFunc("GET "+p+"/keys", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, map[string]any{"keys": []map[string]string{{
				"kty": "RSA", "alg": "RS256", "use": "sig", "kid": iss.kid,
				"n": base64.RawURLEncoding.EncodeToString(key.PublicKey.N.Bytes()),
				"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.PublicKey.E)).Bytes()),
			}}})
		})
	}
	iss.srv = httptest.NewServer(mux) // 127.0.0.1 on a free port
	return iss, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// URL is the server's base URL, http://127.0.0.1:port.
func (i *Issuer) URL() string { return i.srv.URL }

// EmailIssuer is the issuer URL of email identities: Fulcio knows it as an
// "email" issuer and puts the token's email claim in the certificate's SAN.
func (i *Issuer) EmailIssuer() string { return i.srv.URL + emailPath }

// WorkflowIssuer is the issuer URL of CI workflow identities: Fulcio knows it
// as a "ci-provider" issuer with GitHub Actions' claim mapping, so the
// certificate's SAN is the workflow URI and its Fulcio extensions (OIDs
// 1.3.6.1.4.1.57264.1.*) carry the repository, ref, trigger, ...
func (i *Issuer) WorkflowIssuer() string { return i.srv.URL + workflowPath }

// Close stops the server.
func (i *Issuer) Close() { i.srv.Close() }

// EmailToken mints an ID token of EmailIssuer for a verified email address,
// valid for ten minutes.
func (i *Issuer) EmailToken(email string) (string, error) {
	return i.token(i.EmailIssuer(), map[string]any{
		"sub":            email,
		"email":          email,
		"email_verified": true,
	})
}

// Workflow describes a GitHub Actions run, as the claims of its ID token.
// The zero value of each field but Repository, Workflow and Ref has a
// default (see WorkflowToken).
type Workflow struct {
	Repository   string // "org/app"
	WorkflowPath string // ".github/workflows/release.yml"
	Ref          string // "refs/heads/main"
	SHA          string // default: 40 times "a"
	EventName    string // default "push"
	RunnerEnv    string // default "github-hosted"
	RunID        string // default "1234"
}

// withDefaults fills the fields WorkflowToken defaults.
func (w Workflow) withDefaults() Workflow {
	if w.SHA == "" {
		w.SHA = strings.Repeat("a", 40)
	}
	if w.EventName == "" {
		w.EventName = "push"
	}
	if w.RunnerEnv == "" {
		w.RunnerEnv = "github-hosted"
	}
	if w.RunID == "" {
		w.RunID = "1234"
	}
	return w
}

// WorkflowURI is the identity Fulcio certifies for w: the certificate's SAN
// and its BuildSignerURI, https://github.com/<repo>/<path>@<ref>.
func (w Workflow) WorkflowURI() string {
	return "https://github.com/" + w.Repository + "/" + w.WorkflowPath + "@" + w.Ref
}

// RepositoryURI is https://github.com/<repo>, the certificate's
// SourceRepositoryURI.
func (w Workflow) RepositoryURI() string { return "https://github.com/" + w.Repository }

// WorkflowToken mints an ID token of WorkflowIssuer shaped like GitHub
// Actions' (https://token.actions.githubusercontent.com), valid for ten
// minutes.
func (i *Issuer) WorkflowToken(w Workflow) (string, error) {
	if w.Repository == "" || w.WorkflowPath == "" || w.Ref == "" {
		return "", fmt.Errorf("sigstorestack: WorkflowToken(%+v): Repository, WorkflowPath and Ref are required", w)
	}
	w = w.withDefaults()
	owner, _, _ := strings.Cut(w.Repository, "/")
	jobWorkflowRef := w.Repository + "/" + w.WorkflowPath + "@" + w.Ref
	return i.token(i.WorkflowIssuer(), map[string]any{
		"sub":                   "repo:" + w.Repository + ":ref:" + w.Ref,
		"repository":            w.Repository,
		"repository_id":         "100",
		"repository_owner":      owner,
		"repository_owner_id":   "200",
		"repository_visibility": "public",
		"ref":                   w.Ref,
		"sha":                   w.SHA,
		"event_name":            w.EventName,
		"workflow":              "release",
		"workflow_ref":          jobWorkflowRef,
		"workflow_sha":          w.SHA,
		"job_workflow_ref":      jobWorkflowRef,
		"job_workflow_sha":      w.SHA,
		"runner_environment":    w.RunnerEnv,
		"run_id":                w.RunID,
		"run_attempt":           "1",
	})
}

// token signs claims, with the registered claims of issuer added, as a
// compact JWS (RS256).
func (i *Issuer) token(issuer string, claims map[string]any) (string, error) {
	now := time.Now()
	claims["iss"] = issuer
	claims["aud"] = Audience
	claims["iat"] = now.Unix()
	claims["nbf"] = now.Add(-time.Minute).Unix()
	claims["exp"] = now.Add(10 * time.Minute).Unix()
	header, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": i.kid})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signingInput := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	digest := sha256.Sum256([]byte(signingInput))
	sig, err := rsa.SignPKCS1v15(rand.Reader, i.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("sigstorestack: signing an ID token: %w", err)
	}
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
