package realregistry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Token auth (WithTokenAuth): the registry is put behind a front of ours, on
// the address clients use, which answers /token itself and passes every
// other request to the registry. The token service has to share the
// registry's host and port: clients refuse a token realm on another
// loopback port (go-containerregistry treats it as a server-side request
// forgery).
const (
	tokenService = "ocisource-realregistry"
	tokenIssuer  = "ocisource-realregistry-token-issuer"
)

// tokenServer issues the JWTs distribution's token access controller
// verifies: ES256, the signing certificate in the x5c header (the same
// certificate is the root bundle the registry trusts), every repository
// scope asked for granted with the actions asked for, to the one user.
type tokenServer struct {
	user, pass string
	key        *ecdsa.PrivateKey
	certDER    []byte
	certPEM    []byte

	mu     sync.Mutex
	scopes [][]string // the scope parameters of each token request
}

func newTokenServer(user, pass string) (*tokenServer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "ocisource realregistry token signer"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tokenServer{user: user, pass: pass, key: key, certDER: der,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

type accessEntry struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

func (s *tokenServer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	user, pass, ok := req.BasicAuth()
	if !ok || user != s.user || pass != s.pass {
		w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}`, http.StatusUnauthorized)
		return
	}
	params := req.URL.Query()["scope"]
	s.mu.Lock()
	s.scopes = append(s.scopes, append([]string(nil), params...))
	s.mu.Unlock()
	var access []accessEntry
	for _, p := range params {
		for _, scope := range strings.Fields(p) {
			parts := strings.Split(scope, ":")
			if len(parts) != 3 || parts[0] != "repository" {
				continue
			}
			access = append(access, accessEntry{Type: "repository", Name: parts[1], Actions: strings.Split(parts[2], ",")})
		}
	}
	tok, err := s.sign(access)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_in": 300, "issued_at": time.Now().UTC().Format(time.RFC3339)})
}

func (s *tokenServer) sign(access []accessEntry) (string, error) {
	if access == nil {
		access = []accessEntry{}
	}
	now := time.Now()
	header, err := json.Marshal(map[string]any{"typ": "JWT", "alg": "ES256", "x5c": []string{base64.StdEncoding.EncodeToString(s.certDER)}})
	if err != nil {
		return "", err
	}
	claims, err := json.Marshal(map[string]any{
		"iss": tokenIssuer, "sub": s.user, "aud": tokenService,
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
		"jti": randomHex(8), "access": access,
	})
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	r, sg, err := ecdsa.Sign(rand.Reader, s.key, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	sg.FillBytes(sig[32:])
	return signing + "." + enc.EncodeToString(sig), nil
}

// front serves the address clients use: /token itself, the rest passed to
// the registry at backend over TLS.
type front struct {
	srv *http.Server
	ln  net.Listener
}

func startFront(addr, backend string, cert tls.Certificate, roots *x509.CertPool, tokens *tokenServer) (*front, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	target := &url.URL{Scheme: "https", Host: backend}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: false}
	// Until the registry is up the front answers 502, which the readiness
	// probe waits out: nothing to log.
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	mux := http.NewServeMux()
	mux.Handle("/token", tokens)
	mux.Handle("/", proxy)
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	return &front{srv: srv, ln: ln}, nil
}

func (f *front) close() { _ = f.srv.Close() }

// TokenRequests returns the scope parameters of each token request the
// registry's token service answered, in order (WithTokenAuth only).
func (r *Registry) TokenRequests() [][]string {
	if r.tokens == nil {
		return nil
	}
	r.tokens.mu.Lock()
	defer r.tokens.mu.Unlock()
	out := make([][]string, len(r.tokens.scopes))
	copy(out, r.tokens.scopes)
	return out
}

// ResetTokenRequests forgets the token requests seen so far.
func (r *Registry) ResetTokenRequests() {
	if r.tokens == nil {
		return
	}
	r.tokens.mu.Lock()
	defer r.tokens.mu.Unlock()
	r.tokens.scopes = nil
}

func (s *tokenServer) String() string { return fmt.Sprintf("token service for %s", s.user) }
