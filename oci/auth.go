package oci

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Token lifetimes. A token is exchanged again a little before it expires
// (a tenth of its lifetime earlier, at most renewMargin), so that no request
// is sent with a token the registry is about to refuse.
const (
	// defaultTokenLifetime is what the token spec says a lifetime left out
	// of the answer means.
	defaultTokenLifetime = 60 * time.Second
	// maxTokenLifetime bounds a lifetime from the network before it is
	// multiplied into a duration.
	maxTokenLifetime = 24 * time.Hour
	renewMargin      = 30 * time.Second
)

// repoAuth is the authenticated transport of one repository and scope.
type repoAuth struct {
	rt      http.RoundTripper // a *transport.Wrapper: go-containerregistry adds no auth of its own
	renewAt time.Time         // zero: kept for the Client's life
}

func (a *repoAuth) fresh() bool {
	return a.renewAt.IsZero() || time.Now().Before(a.renewAt)
}

// transport returns the authenticated transport for ref's repository,
// setting it up on first use and again when its token is due to expire.
// Calls for the same repository and scope share one set-up; see [group].
func (c *Client) transport(ctx context.Context, ref Reference, push bool) (http.RoundTripper, name.Repository, error) {
	repo, err := c.repository(ref)
	if err != nil {
		return nil, repo, err
	}
	if ref.Layout != "" {
		// An OCI image layout: no ping, no credentials, no network.
		if push {
			return nil, repo, fmt.Errorf("%w: %s: an OCI image layout is read-only", ErrInvalidReference, ref.displayRepo())
		}
		return c.layoutTransport(ref, repo), repo, nil
	}
	scope := transport.PullScope
	if push {
		scope = transport.PushScope
	}
	a, err := c.auths.do(ctx, repo.Name()+"|"+scope, (*repoAuth).fresh, func(ctx context.Context) (*repoAuth, error) {
		return c.setUp(ctx, repo, scope)
	})
	if err != nil {
		return nil, repo, err
	}
	return a.rt, repo, nil
}

// plainTransport is the unauthenticated stack to reg: the guard, retries and
// the user agent, in the order go-containerregistry's auth layers expect.
func (c *Client) plainTransport(reg name.Registry) http.RoundTripper {
	var rt http.RoundTripper = &guardTransport{
		inner:           c.base,
		registry:        reg.RegistryStr(),
		insecure:        c.opts.insecure,
		maxManifestSize: c.opts.maxManifestSize,
		maxErrorBody:    c.opts.maxErrorBody,
		logger:          c.opts.logger,
	}
	if c.opts.retries > 0 {
		rt = &retryTransport{inner: rt, retries: c.opts.retries, backoff: c.opts.backoff, logger: c.opts.logger}
	}
	return transport.NewUserAgent(rt, c.opts.userAgent)
}

// challenge returns reg's answer to the ping (GET /v2/): how to
// authenticate, or that no auth is needed. One ping per registry: the answer
// is kept for the Client's life and shared by all its repositories, unless a
// token exchange it led to fails for want of the token service (see setUp).
func (c *Client) challenge(ctx context.Context, reg name.Registry) (*transport.Challenge, error) {
	return c.challenges.do(ctx, reg.RegistryStr(), nil, func(ctx context.Context) (*transport.Challenge, error) {
		pr, err := transport.Ping(withoutOp(ctx), reg, c.plainTransport(reg))
		if err != nil {
			return nil, c.connectError(reg.RegistryStr(), err)
		}
		return pr, nil
	})
}

// setUp builds the authenticated transport of repo for scope: credentials
// from the keychain, the registry's cached challenge, and for a Bearer
// challenge one token exchange. It is what transport.NewWithContext does,
// minus its ping, with the token's lifetime kept.
//
// The ping and the token exchange belong to no operation: their answers get
// the small cap, whatever the operation that needed them.
func (c *Client) setUp(ctx context.Context, repo name.Repository, scope string) (*repoAuth, error) {
	ctx = withoutOp(ctx)
	auth, err := c.authenticator(ctx, repo)
	if err != nil {
		return nil, err
	}
	pr, err := c.challenge(ctx, repo.Registry)
	if err != nil {
		return nil, err
	}
	registry := repo.RegistryStr()
	scheme := "https"
	if pr.Insecure {
		scheme = "http"
	}
	var t http.RoundTripper = &schemeTransport{scheme: scheme, registry: registry, inner: c.plainTransport(repo.Registry)}
	if !strings.EqualFold(pr.Scheme, "bearer") {
		// Basic auth, or none: go-containerregistry's basic transport,
		// which transport.FromToken returns for any other challenge.
		rt, err := transport.FromToken(repo.Registry, auth, t, pr, &transport.Token{})
		if err != nil {
			return nil, c.connectError(registry, err)
		}
		return &repoAuth{rt: rt}, nil
	}
	start := time.Now()
	tok, renew, err := c.exchange(ctx, repo, auth, t, scope, pr)
	if err != nil {
		var te *transport.Error
		if ctx.Err() == nil && !errors.As(err, &te) {
			// The token service did not answer (or the realm is unusable):
			// the challenge may be out of date; ping again next time.
			c.challenges.forget(registry, pr)
		}
		return nil, c.connectError(registry, err)
	}
	if tok.RefreshToken != "" {
		// The OAuth2 flow: renew with the refresh token, as
		// go-containerregistry's bearer transport does.
		auth = authn.FromConfig(authn.AuthConfig{IdentityToken: tok.RefreshToken})
	}
	// The bearer transport sends the token, and on a 401 exchanges a new one
	// itself for the scope the 401's challenge names, then retries once.
	// (transport.FromToken keeps no scope of its own: a registry whose 401
	// names none gets its full-scope token back from us at renewAt.)
	rt, err := transport.FromToken(repo.Registry, auth, t, pr, tok)
	if err != nil {
		return nil, c.connectError(registry, err)
	}
	a := &repoAuth{rt: rt}
	if renew > 0 {
		a.renewAt = start.Add(renew)
	}
	return a, nil
}

// exchange gets a token for repo's scope from the challenge's realm, and how
// long it may be used before being exchanged again (0: as long as the
// Client lives, for a registry token given as a credential). Exchanges for
// repositories of one registry asked for at the same time are merged into
// one request for all their scopes; see [tokenBatcher].
func (c *Client) exchange(ctx context.Context, repo name.Repository, auth authn.Authenticator, t http.RoundTripper, scope string, pr *transport.Challenge) (*transport.Token, time.Duration, error) {
	cfg, err := authn.Authorization(ctx, auth)
	if err != nil {
		return nil, 0, err
	}
	if cfg.RegistryToken != "" {
		// A registry token is sent as it is, never exchanged.
		return &transport.Token{Token: cfg.RegistryToken}, 0, nil
	}
	key, err := tokenKey(repo.RegistryStr(), scope, cfg)
	if err != nil {
		return nil, 0, err
	}
	return c.tokens.get(ctx, key, repo.Scope(scope), func(ctx context.Context, scopes []string) (*transport.Token, time.Duration, error) {
		tok, err := transport.Exchange(ctx, repo.Registry, auth, t, scopes, pr)
		if err != nil {
			return nil, 0, err
		}
		if tok.Token == "" {
			// Some token services answer access_token only.
			tok.Token = tok.AccessToken
		}
		return tok, renewAfter(tok.ExpiresIn), nil
	})
}

// renewAfter is how long a token of expiresIn seconds is used.
func renewAfter(expiresIn int) time.Duration {
	life := defaultTokenLifetime
	if expiresIn > 0 {
		life = maxTokenLifetime
		if int64(expiresIn) < int64(maxTokenLifetime/time.Second) {
			life = time.Duration(expiresIn) * time.Second
		}
	}
	return life - min(life/10, renewMargin)
}

// schemeTransport sends requests for the registry with the scheme its ping
// answered on: go-containerregistry's remote package builds URLs with
// name.Registry.Scheme, which says http for loopback and private addresses,
// and relies on the same layer inside transport.NewWithContext (not
// exported) to correct it. Other hosts (token service, storage) keep theirs.
type schemeTransport struct {
	scheme   string
	registry string // host[:port]
	inner    http.RoundTripper
}

func (s *schemeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != s.scheme && sameHost(req.URL, s.registry) {
		// A RoundTripper must not modify the request it is given.
		r := req.Clone(req.Context())
		r.URL.Scheme = s.scheme
		return s.inner.RoundTrip(r)
	}
	return s.inner.RoundTrip(req)
}
