package oci

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Client talks to OCI registries. It is safe for concurrent use, and meant
// to be shared: create one with [NewClient] and reuse it for every source.
//
// A Client pings each registry once and keeps its answer (the auth
// challenge) for all repositories of that registry, and keeps one
// authenticated transport per repository and access scope, holding one
// token, which it exchanges again shortly before the token expires.
// Credentials are resolved from the keychain when that transport is set up:
// once per repository for a registry without tokens, again at each token
// renewal for one with them. Concurrent first uses of a repository share one
// set-up, and each caller waits for it only as long as its own context
// lets it; a failed set-up is not remembered, so the next call tries again.
// No lock is held across network I/O or credential resolution, and the
// state is per registry and per repository, so a registry that hangs delays
// only the calls made to it.
type Client struct {
	opts options
	base http.RoundTripper

	challenges group[*transport.Challenge] // by registry host
	auths      group[*repoAuth]            // by repository and scope
	tars       tarIndexCache               // indexes of layout tars
	tokens     tokenBatcher                // token exchanges in flight, merged
}

// NewClient returns a Client configured by opts. Options that are malformed
// give an error wrapping [ErrInvalidOption]; options that contradict each
// other give an [*OptionConflictError] (which wraps it too). These conflict:
//
//   - any two options for the same setting, including one option given
//     twice: two auth options ([WithKeychain], [WithDockerConfig],
//     [WithBasicAuth], [WithBearerToken], [WithAnonymous]), two CA options
//     ([WithCAFile], [WithCACertPool]), WithRetries twice, and so on;
//   - [WithTransport] with [WithCAFile], [WithCACertPool],
//     [WithClientCertificate], [WithProxy] or [WithMaxConnsPerHost], which
//     configure the default transport and would be ignored;
//   - [WithInsecure] with [WithCAFile], [WithCACertPool] or
//     [WithClientCertificate]: an insecure registry is never spoken to over TLS.
func NewClient(opts ...Option) (*Client, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	base := o.transport
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: o.caPool, Certificates: o.clientCerts}
		if o.proxy != nil {
			t.Proxy = o.proxy
		}
		// Large reads from one registry connection are the hot path, but a
		// read larger than the buffer bypasses it (the extractor reads in
		// 256 KiB), and a fleet keeps dozens of connections open: 32 KiB
		// each is enough for headers and small documents.
		t.ReadBufferSize = 32 << 10
		// A shared client serves many workers at once: keep enough idle
		// connections per registry for all of them, or each burst dials
		// anew. The per-host cap bounds the total; IdleConnTimeout closes
		// what a registry no longer uses.
		t.MaxIdleConns = 0
		t.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
		if o.maxConnsPerHost > 0 {
			t.MaxConnsPerHost = o.maxConnsPerHost
			t.MaxIdleConnsPerHost = o.maxConnsPerHost
		}
		base = t
	}
	return &Client{opts: o, base: base}, nil
}

func (c *Client) nameOptions() []name.Option {
	opts := []name.Option{name.StrictValidation}
	if c.opts.insecure {
		opts = append(opts, name.Insecure)
	}
	return opts
}

func (c *Client) repository(ref Reference) (name.Repository, error) {
	host, path := ref.Registry, ref.Repository
	if ref.Layout != "" {
		host, path = layoutHost(ref.Layout), layoutRepository
	}
	// The registry is named on its own: parsed from "host/repo", a host
	// with no dot or port ("registry/app") would be read as a Docker Hub
	// repository and the request sent there.
	reg, err := name.NewRegistry(host, c.nameOptions()...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("%w %q: %v", ErrInvalidReference, ref.Repo(), err)
	}
	// The repository path was checked by Reference.Validate.
	return reg.Repo(path), nil
}

func (c *Client) authenticator(ctx context.Context, repo name.Repository) (authn.Authenticator, error) {
	if c.opts.auth != nil {
		return c.opts.auth, nil
	}
	kc := c.opts.keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	a, err := authn.Resolve(ctx, kc, repo)
	if err != nil {
		return nil, fmt.Errorf("%w: resolving credentials for %s: %v", ErrUnauthorized, repo.RegistryStr(), scrubAuthError(err))
	}
	return a, nil
}

// connectError turns a failed ping or first token exchange into one error
// that names the registry. go-containerregistry pings loopback and private
// addresses over both HTTPS and plain HTTP, and an insecure registry always
// both ways; the guard refuses one of the two at once, so the failure of the
// other is the one that counts.
func (c *Client) connectError(registry string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return mapError(te)
	}
	if c.opts.insecure && errors.Is(err, errHTTPSProbe) {
		// The HTTPS probe was answered by the guard; what counts is the
		// failure of the plain HTTP attempt.
		var oe *net.OpError
		if errors.As(err, &oe) {
			return fmt.Errorf("cannot connect to registry %s over plain HTTP: %w", registry, oe)
		}
		for _, target := range []error{syscall.ECONNRESET, io.ErrUnexpectedEOF, io.EOF} {
			if errors.Is(err, target) {
				return fmt.Errorf("cannot connect to registry %s over plain HTTP: %w", registry, target)
			}
		}
		return fmt.Errorf("cannot connect to registry %s over plain HTTP", registry)
	}
	// Secure: when the plain HTTP fallback was refused, the HTTPS attempt's
	// failure is the first *url.Error in go-containerregistry's list.
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			switch {
			case !sameHost(u, registry):
				return fmt.Errorf("cannot reach the token service of registry %s at %s: %w", registry, u.Host, redactError(ue.Err))
			case c.opts.insecure:
			case u.Scheme == "https" && strings.Contains(ue.Err.Error(), "server gave HTTP response to HTTPS client"):
				return fmt.Errorf("%w: registry %s answers only in plain HTTP (mark it insecure if it really speaks plain HTTP)", ErrPlainHTTP, registry)
			case u.Scheme == "https":
				return fmt.Errorf("cannot connect to registry %s over HTTPS: %w", registry, ue.Err)
			}
		}
	}
	if errors.Is(err, ErrPlainHTTP) || errors.Is(err, ErrInsecureAuth) {
		return redactError(err)
	}
	// The rest are failures of the token exchange go-containerregistry
	// reports in its own words (no token, an invalid realm ...).
	return fmt.Errorf("%w: authenticating to registry %s: %w", ErrUnauthorized, registry, redactError(scrubAuthError(err)))
}

// remoteOptions are the go-containerregistry options for calls made through it.
func (c *Client) remoteOptions(ctx context.Context, rt http.RoundTripper) []remote.Option {
	return []remote.Option{remote.WithTransport(rt), remote.WithContext(ctx)}
}

func (c *Client) scheme() string {
	if c.opts.insecure {
		return "http"
	}
	return "https"
}

func (c *Client) url(repo name.Repository, kind, id string) string {
	u := url.URL{Scheme: c.scheme(), Host: repo.RegistryStr(), Path: "/v2/" + repo.RepositoryStr() + "/" + kind + "/" + id}
	return u.String()
}

// do sends one request and turns a failure status into a [*StatusError].
func (c *Client) do(ctx context.Context, rt http.RoundTripper, method, u string, header http.Header, ok ...int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return nil, mapError(err)
	}
	for _, code := range ok {
		if resp.StatusCode == code {
			return resp, nil
		}
	}
	defer resp.Body.Close()
	return nil, statusFromResponse(resp)
}

func statusFromResponse(resp *http.Response) error {
	var body struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	var codes []string
	var msg string
	if resp.Request == nil || resp.Request.Method != http.MethodHead {
		b, err := io.ReadAll(resp.Body)
		if err != nil && errors.Is(err, ErrTooLarge) {
			return fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
		}
		if json.Unmarshal(b, &body) == nil {
			secrets := requestSecrets(resp.Request)
			for _, e := range body.Errors {
				codes = append(codes, truncate(scrub(e.Code, secrets)))
				if msg == "" {
					msg = truncate(scrub(e.Message, secrets))
				}
			}
		}
	}
	return newStatusError(resp.StatusCode, codes, msg)
}

// mapError turns go-containerregistry's errors into this package's.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	var te *transport.Error
	if errors.As(err, &te) {
		var codes []string
		var msg string
		secrets := requestSecrets(te.Request)
		for _, d := range te.Errors {
			codes = append(codes, truncate(scrub(string(d.Code), secrets)))
			if msg == "" {
				msg = truncate(scrub(d.Message, secrets))
			}
		}
		return newStatusError(te.StatusCode, codes, msg)
	}
	if le := layoutError(err); le != nil {
		return le
	}
	return redactError(scrubAuthError(err))
}
