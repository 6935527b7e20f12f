package oci

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/docker/cli/cli/config"
	"github.com/google/go-containerregistry/pkg/authn"
)

// Default limits. Each can be changed with an [Option].
const (
	// DefaultMaxManifestSize caps manifests, indexes, tag lists and other JSON
	// documents read from a registry (4 MiB, as in the distribution spec's
	// recommendation and containerd's limit).
	DefaultMaxManifestSize = 4 << 20
	// DefaultMaxErrorBodySize caps error and token response bodies (1 MiB).
	DefaultMaxErrorBodySize = 1 << 20
	// DefaultMaxTagPages caps how many pages a tag listing may span.
	DefaultMaxTagPages = 100
	// DefaultRetries is how many times a request is retried after a
	// transient failure (408, 429, 5xx, connection reset).
	DefaultRetries = 3
	// DefaultRetryBackoff is the first pause between retries; it doubles on
	// each attempt up to [MaxRetryBackoff].
	DefaultRetryBackoff = 200 * time.Millisecond
	// MaxRetryBackoff bounds any single pause between retries, including one
	// asked for by a Retry-After header.
	MaxRetryBackoff = 10 * time.Second
	// DefaultUserAgent is sent unless [WithUserAgent] says otherwise.
	DefaultUserAgent = "ocisource"
)

// Option configures a [Client].
type Option func(*options) error

type options struct {
	keychain        authn.Keychain
	auth            authn.Authenticator
	authName        string
	caPool          *x509.CertPool
	clientCerts     []tls.Certificate
	insecure        bool
	proxy           func(*http.Request) (*url.URL, error)
	transport       http.RoundTripper
	retries         int
	backoff         time.Duration
	userAgent       string
	maxManifestSize int64
	maxErrorBody    int64
	maxTagPages     int
	logger          *slog.Logger
}

func defaultOptions() options {
	return options{
		retries:         DefaultRetries,
		backoff:         DefaultRetryBackoff,
		userAgent:       DefaultUserAgent,
		maxManifestSize: DefaultMaxManifestSize,
		maxErrorBody:    DefaultMaxErrorBodySize,
		maxTagPages:     DefaultMaxTagPages,
	}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidOption, fmt.Sprintf(format, args...))
}

func (o *options) setAuth(name string, a authn.Authenticator, k authn.Keychain) error {
	if o.authName != "" && o.authName != name {
		return invalid("%s conflicts with %s: choose one way to authenticate", name, o.authName)
	}
	o.authName, o.auth, o.keychain = name, a, k
	return nil
}

// WithKeychain resolves credentials per registry from k (for example
// authn.DefaultKeychain or a cloud provider's keychain). The default is the
// docker config (authn.DefaultKeychain: $DOCKER_CONFIG/config.json, with its
// credential helpers). It conflicts with the other auth options.
func WithKeychain(k authn.Keychain) Option {
	return func(o *options) error {
		if k == nil {
			return invalid("WithKeychain: nil keychain")
		}
		return o.setAuth("WithKeychain", nil, k)
	}
}

// WithDockerConfig reads credentials from the config.json in dir, as
// DOCKER_CONFIG=dir would. The default is the docker config of the
// environment. It conflicts with the other auth options.
func WithDockerConfig(dir string) Option {
	return func(o *options) error {
		if _, err := os.Stat(dir); err != nil {
			return invalid("WithDockerConfig: %v", err)
		}
		return o.setAuth("WithDockerConfig", nil, dockerConfigKeychain{dir: dir})
	}
}

// WithBasicAuth authenticates with a username and password (or token as
// password). The default is the docker config. It conflicts with the other
// auth options.
func WithBasicAuth(username, password string) Option {
	return func(o *options) error {
		if username == "" {
			return invalid("WithBasicAuth: empty username")
		}
		return o.setAuth("WithBasicAuth", authn.FromConfig(authn.AuthConfig{Username: username, Password: password}), nil)
	}
}

// WithBearerToken authenticates with a registry bearer token. The default is
// the docker config. It conflicts with the other auth options.
func WithBearerToken(token string) Option {
	return func(o *options) error {
		if token == "" {
			return invalid("WithBearerToken: empty token")
		}
		return o.setAuth("WithBearerToken", authn.FromConfig(authn.AuthConfig{RegistryToken: token}), nil)
	}
}

// WithAnonymous sends no credentials. The default is the docker config. It
// conflicts with the other auth options.
func WithAnonymous() Option {
	return func(o *options) error {
		return o.setAuth("WithAnonymous", authn.Anonymous, nil)
	}
}

// WithCACertPool trusts the certificates in pool in addition to the system
// roots. The default is the system roots only. It conflicts with [WithTransport].
func WithCACertPool(pool *x509.CertPool) Option {
	return func(o *options) error {
		if pool == nil {
			return invalid("WithCACertPool: nil pool")
		}
		o.caPool = pool
		return nil
	}
}

// WithCAFile trusts the PEM certificates in file in addition to the system
// roots. The default is the system roots only. It conflicts with [WithTransport].
func WithCAFile(file string) Option {
	return func(o *options) error {
		pem, err := os.ReadFile(file)
		if err != nil {
			return invalid("WithCAFile: %v", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return invalid("WithCAFile: no PEM certificate in %s", file)
		}
		o.caPool = pool
		return nil
	}
}

// WithClientCertificate presents the PEM certificate and key for mutual TLS.
// The default is no client certificate. It conflicts with [WithTransport].
func WithClientCertificate(certFile, keyFile string) Option {
	return func(o *options) error {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return invalid("WithClientCertificate: %v", err)
		}
		o.clientCerts = append(o.clientCerts, cert)
		return nil
	}
}

// WithInsecure speaks plain HTTP to the registry (the meaning of Flux's
// `insecure: true`). Credentials are still never sent over plain HTTP to any
// other host. The default is HTTPS only: a registry not marked insecure is
// never contacted over plain HTTP, even on loopback or private addresses.
func WithInsecure() Option {
	return func(o *options) error {
		o.insecure = true
		return nil
	}
}

// WithProxy routes requests through the proxy chosen by f. The default is
// http.ProxyFromEnvironment. It conflicts with [WithTransport].
func WithProxy(f func(*http.Request) (*url.URL, error)) Option {
	return func(o *options) error {
		if f == nil {
			return invalid("WithProxy: nil function")
		}
		o.proxy = f
		return nil
	}
}

// WithTransport sends requests through rt, under the client's own auth,
// retry, limit and credential-guard layers. The default is a clone of
// http.DefaultTransport configured by the TLS and proxy options, which
// therefore conflict with this one.
func WithTransport(rt http.RoundTripper) Option {
	return func(o *options) error {
		if rt == nil {
			return invalid("WithTransport: nil transport")
		}
		o.transport = rt
		return nil
	}
}

// WithRetries retries a request up to n times after 408, 429, 5xx responses
// or a connection reset, pausing backoff, then twice as long each time (at
// most [MaxRetryBackoff]; a Retry-After header is honoured within that bound).
// n = 0 disables retries. The default is [DefaultRetries] and [DefaultRetryBackoff].
func WithRetries(n int, backoff time.Duration) Option {
	return func(o *options) error {
		if n < 0 || n > 20 {
			return invalid("WithRetries: n = %d, want 0..20", n)
		}
		if backoff < 0 {
			return invalid("WithRetries: negative backoff")
		}
		o.retries, o.backoff = n, backoff
		return nil
	}
}

// WithUserAgent sets the User-Agent header. The default is [DefaultUserAgent].
func WithUserAgent(ua string) Option {
	return func(o *options) error {
		o.userAgent = ua
		return nil
	}
}

// WithMaxManifestSize caps manifests and other JSON documents read from the
// registry. The default is [DefaultMaxManifestSize].
func WithMaxManifestSize(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return invalid("WithMaxManifestSize: %d, want > 0", n)
		}
		o.maxManifestSize = n
		return nil
	}
}

// WithMaxTagPages caps the number of pages a tag listing may span. The
// default is [DefaultMaxTagPages].
func WithMaxTagPages(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return invalid("WithMaxTagPages: %d, want > 0", n)
		}
		o.maxTagPages = n
		return nil
	}
}

// WithLogger logs each request (method, host, path, status, duration) at
// debug level, and retries at info level. Credentials are never logged. The
// default is no logging.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		o.logger = l
		return nil
	}
}

func (o *options) validate() error {
	if o.transport != nil && (o.caPool != nil || len(o.clientCerts) > 0 || o.proxy != nil) {
		return invalid("WithTransport conflicts with WithCAFile/WithCACertPool/WithClientCertificate/WithProxy: configure TLS and proxy on the transport you pass")
	}
	return nil
}

// dockerConfigKeychain resolves credentials from a docker config directory.
type dockerConfigKeychain struct{ dir string }

func (k dockerConfigKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	cf, err := config.Load(k.dir)
	if err != nil {
		return nil, fmt.Errorf("reading docker config in %s: %w", k.dir, err)
	}
	for _, key := range []string{r.String(), r.RegistryStr()} {
		cfg, err := cf.GetAuthConfig(key)
		if err != nil {
			return nil, fmt.Errorf("reading credentials for %s from docker config in %s: %w", key, k.dir, err)
		}
		if cfg.Username != "" || cfg.Password != "" || cfg.Auth != "" || cfg.IdentityToken != "" || cfg.RegistryToken != "" {
			return authn.FromConfig(authn.AuthConfig{
				Username:      cfg.Username,
				Password:      cfg.Password,
				Auth:          cfg.Auth,
				IdentityToken: cfg.IdentityToken,
				RegistryToken: cfg.RegistryToken,
			}), nil
		}
	}
	return authn.Anonymous, nil
}
