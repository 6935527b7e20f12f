package realregistry

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// ErrInvalidCredentials reports a user name or password that cannot be
// written to an htpasswd file or a Docker config.
var ErrInvalidCredentials = errors.New("realregistry: invalid credentials")

// DefaultRealm is the basic-auth realm the registry announces in its
// WWW-Authenticate challenge unless Config.Realm says otherwise.
const DefaultRealm = "ocisource-test"

// Config is the part of a CNCF Distribution v3 configuration the harness
// controls. Its YAML method renders a complete config file for
// `registry serve`. The keys were taken from the configuration package of
// distribution v3.1.2.
type Config struct {
	// Addr is the host:port the registry listens on, for example "127.0.0.1:5000".
	Addr string
	// RootDirectory is the directory of the filesystem storage driver.
	RootDirectory string
	// Certificate and Key are PEM files for the TLS listener.
	Certificate string
	Key         string
	// HtpasswdPath is the htpasswd file (bcrypt entries only) for basic auth.
	HtpasswdPath string
	// Realm is the basic-auth realm. The default is DefaultRealm.
	Realm string
	// Secret signs upload state between requests. The default is a fixed
	// string, which is fine for a single test registry; Start sets a random one.
	Secret string
	// MaxTags caps the page size of GET /v2/<name>/tags/list?n=.. (the
	// registry clamps n to it and sends a Link header for the rest).
	// The default (0) is distribution's own default, 1000.
	MaxTags int
	// AccessLog turns on the registry's per-request access log (to its
	// stdout, which the harness captures). The default is off.
	AccessLog bool
	// TokenRealm, when set, replaces htpasswd with distribution's token
	// access controller: clients are sent to this realm for a JWT of
	// TokenService, issued by TokenIssuer and signed by a certificate of
	// TokenRootCertBundle. URLs in responses are then relative, for the
	// front the harness puts before the registry.
	TokenRealm, TokenService, TokenIssuer, TokenRootCertBundle string
}

// YAML renders c as a distribution configuration file (version 0.1): log
// level warn, filesystem storage with deletes enabled and upload purging off,
// an HTTPS listener, and htpasswd basic auth. String values are double-quoted,
// so paths may hold any character.
func (c Config) YAML() []byte {
	realm := c.Realm
	if realm == "" {
		realm = DefaultRealm
	}
	secret := c.Secret
	if secret == "" {
		secret = "ocisource-realregistry-secret"
	}
	q := strconv.Quote // Go's escapes are a subset of YAML double-quoted escapes.

	var b strings.Builder
	b.WriteString("version: 0.1\n")
	b.WriteString("log:\n  level: warn\n  accesslog:\n")
	fmt.Fprintf(&b, "    disabled: %t\n", !c.AccessLog)
	b.WriteString("storage:\n")
	fmt.Fprintf(&b, "  filesystem:\n    rootdirectory: %s\n", q(c.RootDirectory))
	b.WriteString("  delete:\n    enabled: true\n")
	b.WriteString("  maintenance:\n    uploadpurging:\n      enabled: false\n")
	b.WriteString("http:\n")
	fmt.Fprintf(&b, "  addr: %s\n", q(c.Addr))
	fmt.Fprintf(&b, "  secret: %s\n", q(secret))
	b.WriteString("  tls:\n")
	fmt.Fprintf(&b, "    certificate: %s\n", q(c.Certificate))
	fmt.Fprintf(&b, "    key: %s\n", q(c.Key))
	b.WriteString("    minimumtls: tls1.2\n")
	if c.TokenRealm != "" {
		b.WriteString("  relativeurls: true\n")
		b.WriteString("auth:\n  token:\n")
		fmt.Fprintf(&b, "    realm: %s\n", q(c.TokenRealm))
		fmt.Fprintf(&b, "    service: %s\n", q(c.TokenService))
		fmt.Fprintf(&b, "    issuer: %s\n", q(c.TokenIssuer))
		fmt.Fprintf(&b, "    rootcertbundle: %s\n", q(c.TokenRootCertBundle))
	} else {
		b.WriteString("auth:\n  htpasswd:\n")
		fmt.Fprintf(&b, "    realm: %s\n", q(realm))
		fmt.Fprintf(&b, "    path: %s\n", q(c.HtpasswdPath))
	}
	if c.MaxTags > 0 {
		fmt.Fprintf(&b, "tags:\n  maxtags: %d\n", c.MaxTags)
	}
	return []byte(b.String())
}

// HtpasswdLine returns one htpasswd line "user:<bcrypt hash>\n" for
// distribution's htpasswd access controller, which accepts bcrypt only.
// It uses bcrypt's minimum cost: these are throw-away test credentials, and
// the registry checks the hash on every request.
func HtpasswdLine(username, password string) (string, error) {
	if err := checkCredentials(username, password); err != nil {
		return "", err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		return "", fmt.Errorf("realregistry: hashing the password of %q: %w", username, err)
	}
	return username + ":" + string(hash) + "\n", nil
}

// DockerConfigJSON returns a Docker CLI config.json that holds basic-auth
// credentials for host (host[:port], no scheme), as docker login would write
// them. Tools that read DOCKER_CONFIG (cosign, crane, oras, go-containerregistry's
// default keychain) pick them up.
func DockerConfigJSON(host, username, password string) ([]byte, error) {
	if host == "" || strings.ContainsAny(host, "/ \t\r\n") {
		return nil, fmt.Errorf("%w: host %q must be host[:port] without scheme or path", ErrInvalidCredentials, host)
	}
	if err := checkCredentials(username, password); err != nil {
		return nil, err
	}
	type authEntry struct {
		Auth string `json:"auth"`
	}
	cfg := struct {
		Auths map[string]authEntry `json:"auths"`
	}{Auths: map[string]authEntry{
		host: {Auth: base64.StdEncoding.EncodeToString([]byte(username + ":" + password))},
	}}
	out, err := json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		return nil, fmt.Errorf("realregistry: encoding docker config for %s: %w", host, err)
	}
	return append(out, '\n'), nil
}

// checkCredentials rejects what htpasswd or the basic-auth header cannot
// carry: an empty or ':'-containing user name, one htpasswd would read as a
// comment or trim, line breaks, and passwords
// longer than bcrypt's 72-byte limit.
func checkCredentials(username, password string) error {
	switch {
	case username == "":
		return fmt.Errorf("%w: empty user name", ErrInvalidCredentials)
	case strings.ContainsAny(username, ":\r\n"):
		return fmt.Errorf("%w: user name %q holds ':' or a line break", ErrInvalidCredentials, username)
	case username[0] == '#' || strings.TrimSpace(username) != username:
		return fmt.Errorf("%w: user name %q starts with '#' or has surrounding spaces (htpasswd would misread it)", ErrInvalidCredentials, username)
	case password == "":
		return fmt.Errorf("%w: empty password for user %q", ErrInvalidCredentials, username)
	case strings.ContainsAny(password, "\r\n"):
		return fmt.Errorf("%w: password for user %q holds a line break", ErrInvalidCredentials, username)
	case len(password) > 72:
		return fmt.Errorf("%w: password for user %q is %d bytes, bcrypt takes at most 72", ErrInvalidCredentials, username, len(password))
	}
	return nil
}
