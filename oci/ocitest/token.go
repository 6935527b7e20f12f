package ocitest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTokenLifetime is how long a token of a registry made
// [WithTokenAuth] stays valid unless [WithTokenLifetime] says otherwise.
const DefaultTokenLifetime = 5 * time.Minute

// TokenPath is the path of the token endpoint of a registry made
// [WithTokenAuth]: the realm of its Bearer challenge.
const TokenPath = "/token"

// tokenService is the service the challenge names and tokens are for.
const tokenService = "ocitest"

// WithTokenAuth makes the registry authenticate as Distribution with a
// token server does. Every /v2/ request needs an "Authorization: Bearer
// <token>" header with a token that grants its repository the action it
// needs (pull for GET and HEAD, push for anything else; the ping GET /v2/
// needs any valid token). Otherwise it is answered 401 with a challenge
// such as
//
//	WWW-Authenticate: Bearer realm="http://127.0.0.1:port/token",service="ocitest",scope="repository:app:pull"
//
// (the scope left out for the ping, error="invalid_token" added for an
// expired or unknown token). Faults ([Registry.Inject]) apply to the token
// endpoint too, but not to the challenge. The token endpoint, GET [TokenPath] with
// ?service=ocitest&scope=repository:<name>:<actions> (several scopes may be
// asked at once), takes HTTP basic auth with username and password, and
// answers {"token", "access_token", "expires_in", "issued_at"} with a token
// valid for the lifetime set by [WithTokenLifetime]. [Registry.Client]
// authenticates with username and password. It replaces [WithBasicAuth].
// The default is no auth.
func WithTokenAuth(username, password string) Option {
	return func(r *Registry) {
		r.user, r.pass = username, password
		r.tokenAuth = true
	}
}

// WithTokenLifetime sets how long the tokens of a registry made
// [WithTokenAuth] are valid. The token endpoint announces it in whole
// seconds (expires_in, at least 1); the registry refuses a token the moment
// d has passed since it was issued. The default is [DefaultTokenLifetime].
func WithTokenLifetime(d time.Duration) Option {
	return func(r *Registry) { r.tokenLife = d }
}

// RevokeTokens forgets every token the registry issued: the next request
// with one is answered 401 with error="invalid_token", as after a token
// service restarted or a token was revoked before it expired.
func (r *Registry) RevokeTokens() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.tokens)
}

// grant is what a token allows: actions by repository name, until expires.
type grant struct {
	access  map[string]map[string]bool
	expires time.Time
}

func (g grant) allows(repo, action string) bool {
	a := g.access[repo]
	return a[action] || a["*"]
}

// serveToken answers the token endpoint.
func (r *Registry) serveToken(w http.ResponseWriter, req *http.Request) {
	u, p, ok := req.BasicAuth()
	if !ok || u != r.user || p != r.pass {
		w.Header().Set("WWW-Authenticate", `Basic realm="ocitest token service"`)
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "token service: wrong or missing credentials")
		return
	}
	if s := req.URL.Query().Get("service"); s != tokenService {
		writeError(w, http.StatusBadRequest, "DENIED", fmt.Sprintf("token service: service %q, want %q", s, tokenService))
		return
	}
	g := grant{access: map[string]map[string]bool{}, expires: time.Now().Add(r.tokenLife)}
	for _, v := range req.URL.Query()["scope"] {
		for _, scope := range strings.Fields(v) {
			rest, ok := strings.CutPrefix(scope, "repository:")
			i := strings.LastIndexByte(rest, ':')
			if !ok || i <= 0 {
				continue // not a repository scope: granted nothing
			}
			repo := rest[:i]
			if g.access[repo] == nil {
				g.access[repo] = map[string]bool{}
			}
			for _, a := range strings.Split(rest[i+1:], ",") {
				g.access[repo][a] = true
			}
		}
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	r.mu.Lock()
	now := time.Now()
	for k, old := range r.tokens {
		if now.After(old.expires) {
			delete(r.tokens, k) // expired tokens are refused either way
		}
	}
	r.tokens[tok] = g
	r.mu.Unlock()

	secs := int((r.tokenLife + time.Second - 1) / time.Second)
	body, _ := json.Marshal(map[string]any{
		"token":        tok,
		"access_token": tok,
		"expires_in":   max(secs, 1),
		"issued_at":    time.Now().UTC().Format(time.RFC3339),
	})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// checkToken reports whether req carries a token that allows it, and
// answers 401 with a challenge when it does not.
func (r *Registry) checkToken(w http.ResponseWriter, req *http.Request) bool {
	repo, action := access(req)
	tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	r.mu.Lock()
	g, known := r.tokens[tok]
	r.mu.Unlock()
	valid := ok && known && time.Now().Before(g.expires)
	if valid && (repo == "" || g.allows(repo, action)) {
		return true
	}
	challenge := fmt.Sprintf(`Bearer realm="http://%s%s",service="%s"`, req.Host, TokenPath, tokenService)
	if repo != "" {
		actions := "pull"
		if action == "push" {
			actions = "pull,push"
		}
		challenge += fmt.Sprintf(`,scope="repository:%s:%s"`, repo, actions)
	}
	if ok && !valid {
		challenge += `,error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
	return false
}

// access returns the repository a /v2/ request is about ("" for the ping
// and other registry-wide paths) and the action it needs.
func access(req *http.Request) (repo, action string) {
	action = "pull"
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		action = "push"
	}
	p := strings.TrimPrefix(req.URL.Path, "/v2/")
	// The last marker ends the name: a repository may be named "org/blobs".
	end := -1
	for _, m := range []string{"/manifests/", "/blobs/", "/tags/", "/referrers/"} {
		end = max(end, strings.LastIndex(p, m))
	}
	if end <= 0 {
		return "", action
	}
	return p[:end], action
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	body, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
