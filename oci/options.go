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
	// DefaultMaxManifestSize caps manifests, indexes, tag-list pages and other
	// JSON documents read from a registry (4 MiB, as in the distribution
	// spec's recommendation and containerd's limit).
	DefaultMaxManifestSize = 4 << 20
	// DefaultMaxErrorBodySize caps error response bodies, token responses and
	// any other response that is not the answer to the operation's own request
	// (1 MiB).
	DefaultMaxErrorBodySize = 1 << 20
	// DefaultMaxTagPages caps how many pages a tag listing may span.
	DefaultMaxTagPages = 100
	// DefaultMaxTags caps how many tags a whole tag listing may hold, over
	// all its pages.
	DefaultMaxTags = 100_000
	// DefaultMaxTagListBytes caps the bytes a whole tag listing may take on
	// the wire, over all its pages (16 MiB).
	DefaultMaxTagListBytes = 16 << 20
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
	// DefaultMaxIdleConnsPerHost is how many idle connections the default
	// transport keeps open per registry host, so that a [Client] shared by
	// up to this many concurrent workers reuses its connections instead of
	// dialling anew. Connections per host are not capped unless
	// [WithMaxConnsPerHost] says so.
	DefaultMaxIdleConnsPerHost = 64
)

// Option configures a [Client]. Each option may be given once: a second
// option for the same setting (two auth options, two CA options, WithRetries
// twice ...) is an [*OptionConflictError], as are options that contradict
// each other (see [NewClient]).
type Option func(*options) error

type options struct {
	keychain        authn.Keychain
	auth            authn.Authenticator
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
	maxTags         int
	maxTagListBytes int64
	maxConnsPerHost int
	logger          *slog.Logger

	// given maps each setting made so far to the option that made it.
	given map[string]string
}

func defaultOptions() options {
	return options{
		retries:         DefaultRetries,
		backoff:         DefaultRetryBackoff,
		userAgent:       DefaultUserAgent,
		maxManifestSize: DefaultMaxManifestSize,
		maxErrorBody:    DefaultMaxErrorBodySize,
		maxTagPages:     DefaultMaxTagPages,
		maxTags:         DefaultMaxTags,
		maxTagListBytes: DefaultMaxTagListBytes,
		given:           map[string]string{},
	}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidOption, fmt.Sprintf(format, args...))
}

// Settings, as OptionConflictError.Setting names them.
const (
	settingAuth       = "credentials"
	settingCA         = "CA roots"
	settingClientCert = "client certificate"
	settingInsecure   = "plain HTTP"
	settingProxy      = "proxy"
	settingTransport  = "transport"
	settingRetries    = "retries"
	settingUserAgent  = "user agent"
	settingManifest   = "manifest size limit"
	settingErrorBody  = "error body size limit"
	settingTagPages   = "tag page limit"
	settingTags       = "tag count limit"
	settingTagBytes   = "tag list size limit"
	settingLogger     = "logger"
	settingConns      = "connections per host"
)

// claim records that option name makes setting, and refuses a second option
// for a setting already made: it would silently override the first.
func (o *options) claim(setting, name string) error {
	if first, ok := o.given[setting]; ok {
		reason := fmt.Sprintf("both set the %s; pass one", setting)
		if setting == settingAuth {
			reason = "both set the credentials; choose one way to authenticate"
		}
		return &OptionConflictError{Setting: setting, First: first, Second: name, Reason: reason}
	}
	o.given[setting] = name
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
		o.keychain = k
		return o.claim(settingAuth, "WithKeychain")
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
		o.keychain = dockerConfigKeychain{dir: dir}
		return o.claim(settingAuth, "WithDockerConfig")
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
		o.auth = authn.FromConfig(authn.AuthConfig{Username: username, Password: password})
		return o.claim(settingAuth, "WithBasicAuth")
	}
}

// WithBearerToken authenticates with a registry bearer token. The default is
// the docker config. It conflicts with the other auth options.
func WithBearerToken(token string) Option {
	return func(o *options) error {
		if token == "" {
			return invalid("WithBearerToken: empty token")
		}
		o.auth = authn.FromConfig(authn.AuthConfig{RegistryToken: token})
		return o.claim(settingAuth, "WithBearerToken")
	}
}

// WithAnonymous sends no credentials. The default is the docker config. It
// conflicts with the other auth options.
func WithAnonymous() Option {
	return func(o *options) error {
		o.auth = authn.Anonymous
		return o.claim(settingAuth, "WithAnonymous")
	}
}

// WithCACertPool trusts exactly the certificates in pool: it replaces the
// system roots, for a registry (and token service) under a private CA only.
// To trust a private CA as well as the public ones, use [WithCAFile]. The
// default is the system roots. It conflicts with [WithCAFile],
// [WithTransport] and [WithInsecure].
func WithCACertPool(pool *x509.CertPool) Option {
	return func(o *options) error {
		if pool == nil {
			return invalid("WithCACertPool: nil pool")
		}
		o.caPool = pool
		return o.claim(settingCA, "WithCACertPool")
	}
}

// WithCAFile trusts the PEM certificates in file in addition to the system
// roots (as Flux's certSecretRef ca.crt does). To trust only a given set of
// roots, use [WithCACertPool]. The default is the system roots. It conflicts
// with [WithCACertPool], [WithTransport] and [WithInsecure].
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
		return o.claim(settingCA, "WithCAFile")
	}
}

// WithClientCertificate presents the PEM certificate and key for mutual TLS.
// The default is no client certificate. It conflicts with [WithTransport]
// and [WithInsecure].
func WithClientCertificate(certFile, keyFile string) Option {
	return func(o *options) error {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return invalid("WithClientCertificate: %v", err)
		}
		o.clientCerts = []tls.Certificate{cert}
		return o.claim(settingClientCert, "WithClientCertificate")
	}
}

// WithInsecure speaks plain HTTP to the registry (the meaning of Flux's
// `insecure: true`). Credentials are still never sent over plain HTTP to any
// other host. The default is HTTPS only: a registry not marked insecure is
// never contacted over plain HTTP, even on loopback or private addresses.
// Since the registry is then never spoken to over TLS, it conflicts with the
// TLS options ([WithCAFile], [WithCACertPool], [WithClientCertificate]).
func WithInsecure() Option {
	return func(o *options) error {
		o.insecure = true
		return o.claim(settingInsecure, "WithInsecure")
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
		return o.claim(settingProxy, "WithProxy")
	}
}

// WithTransport sends requests through rt, under the client's own auth,
// retry, limit and credential-guard layers. The default is a clone of
// http.DefaultTransport configured by the TLS, proxy and connection options,
// which therefore conflict with this one: configure TLS, proxy and
// connection limits on rt (size its idle pool for the workers that share
// the Client, as [DefaultMaxIdleConnsPerHost] does).
func WithTransport(rt http.RoundTripper) Option {
	return func(o *options) error {
		if rt == nil {
			return invalid("WithTransport: nil transport")
		}
		o.transport = rt
		return o.claim(settingTransport, "WithTransport")
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
		return o.claim(settingRetries, "WithRetries")
	}
}

// WithUserAgent sets the User-Agent header. The default is [DefaultUserAgent].
func WithUserAgent(ua string) Option {
	return func(o *options) error {
		o.userAgent = ua
		return o.claim(settingUserAgent, "WithUserAgent")
	}
}

// WithMaxManifestSize caps manifests, indexes, tag-list pages and other JSON
// documents read from the registry. The default is [DefaultMaxManifestSize].
func WithMaxManifestSize(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return invalid("WithMaxManifestSize: %d, want > 0", n)
		}
		o.maxManifestSize = n
		return o.claim(settingManifest, "WithMaxManifestSize")
	}
}

// WithMaxErrorBodySize caps error response bodies, token responses and any
// other response that is not the answer to the operation's own request. The
// default is [DefaultMaxErrorBodySize].
func WithMaxErrorBodySize(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return invalid("WithMaxErrorBodySize: %d, want > 0", n)
		}
		o.maxErrorBody = n
		return o.claim(settingErrorBody, "WithMaxErrorBodySize")
	}
}

// WithMaxTagPages caps the number of pages a tag listing may span; more is
// an error wrapping [ErrTooManyPages]. The default is [DefaultMaxTagPages].
func WithMaxTagPages(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return invalid("WithMaxTagPages: %d, want > 0", n)
		}
		o.maxTagPages = n
		return o.claim(settingTagPages, "WithMaxTagPages")
	}
}

// WithMaxTags caps the number of tags a whole listing may hold, over all its
// pages; more is a [*TagListLimitError]. The default is [DefaultMaxTags].
func WithMaxTags(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return invalid("WithMaxTags: %d, want > 0", n)
		}
		o.maxTags = n
		return o.claim(settingTags, "WithMaxTags")
	}
}

// WithMaxTagListBytes caps the bytes a whole tag listing may take on the
// wire, over all its pages; more is a [*TagListLimitError]. Each page is
// also capped like a manifest ([WithMaxManifestSize]). The default is
// [DefaultMaxTagListBytes].
func WithMaxTagListBytes(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return invalid("WithMaxTagListBytes: %d, want > 0", n)
		}
		o.maxTagListBytes = n
		return o.claim(settingTagBytes, "WithMaxTagListBytes")
	}
}

// WithMaxConnsPerHost caps the connections to each registry host (being
// dialled, in use or idle) at n; a request beyond that waits for one to be
// free. Up to n idle connections are kept per host. The default is no cap,
// with up to [DefaultMaxIdleConnsPerHost] idle connections kept per host. It
// conflicts with [WithTransport], whose transport is used as it is.
func WithMaxConnsPerHost(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return invalid("WithMaxConnsPerHost: %d, want > 0", n)
		}
		o.maxConnsPerHost = n
		return o.claim(settingConns, "WithMaxConnsPerHost")
	}
}

// WithLogger logs each request (method, host, path, operation, status,
// response cap, duration) at debug level, and retries at info level.
// Credentials, query strings and bodies are never logged. The default is no
// logging.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		o.logger = l
		return o.claim(settingLogger, "WithLogger")
	}
}

// validate refuses settings that contradict each other, whatever their order.
func (o *options) validate() error {
	conflicts := []struct {
		a, b   string // settings
		reason string
	}{
		{settingTransport, settingCA, "the transport you pass is used as it is: configure its TLS roots on it"},
		{settingTransport, settingClientCert, "the transport you pass is used as it is: configure its client certificate on it"},
		{settingTransport, settingProxy, "the transport you pass is used as it is: configure its proxy on it"},
		{settingTransport, settingConns, "the transport you pass is used as it is: set MaxConnsPerHost on it"},
		{settingInsecure, settingCA, "an insecure registry is spoken to in plain HTTP, never TLS: drop WithInsecure for a registry under a private CA"},
		{settingInsecure, settingClientCert, "an insecure registry is spoken to in plain HTTP, never TLS: drop WithInsecure for a registry that wants mutual TLS"},
	}
	for _, c := range conflicts {
		first, okA := o.given[c.a]
		second, okB := o.given[c.b]
		if okA && okB {
			return &OptionConflictError{First: first, Second: second, Reason: c.reason}
		}
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
