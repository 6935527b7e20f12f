package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// opKind is the kind of operation a request was sent for. Each [Client]
// operation puts its kind in the context of the requests it sends, and the
// guard caps a response by it, never by the text of the URL: a repository
// named "org/blobs" or "x/manifests/y" gets the same caps as any other.
type opKind int

const (
	opManifest  opKind = iota + 1 // manifests and indexes (resolve, manifest, tag)
	opTags                        // tag-list pages
	opReferrers                   // the referrers index, or its fallback tag
	opBlob                        // blob downloads: streamed, checked by size and digest
	opPush                        // uploads of blobs and manifests
)

func (k opKind) String() string {
	switch k {
	case opManifest:
		return "manifest"
	case opTags:
		return "tags"
	case opReferrers:
		return "referrers"
	case opBlob:
		return "blob"
	case opPush:
		return "push"
	}
	return "none"
}

// opContext is the context of the requests an operation sends itself. The
// guard recognises them by the context's identity (a type assertion on
// req.Context()), which net/http keeps across redirects and
// go-containerregistry keeps when it retries a request after refreshing a
// token. A request made on a context derived from it (go-containerregistry's
// token exchanges, its push internals) or without one (the ping) is not the
// operation's own and gets the small cap.
type opContext struct {
	context.Context
	kind opKind
}

type opKey struct{}

// Value lets the guard find the operation of requests sent on derived
// contexts too, for its log.
func (c *opContext) Value(key any) any {
	if key == (opKey{}) {
		return c.kind
	}
	return c.Context.Value(key)
}

// withOp returns ctx marked as the context of kind's own requests.
func withOp(ctx context.Context, kind opKind) context.Context {
	return &opContext{Context: ctx, kind: kind}
}

// withoutOp returns ctx with no operation: what the ping and the first token
// exchange of a repository's transport are sent with.
func withoutOp(ctx context.Context) context.Context {
	return context.WithValue(ctx, opKey{}, opKind(0))
}

// guardTransport sits directly above the network transport, below
// go-containerregistry's auth layers, so it sees every request exactly as it
// leaves: the registry's own, token realm requests and redirects.
//
//   - It refuses plain HTTP to the registry unless the client is insecure, so
//     a failed TLS handshake never silently downgrades (go-containerregistry
//     falls back to HTTP for loopback and private addresses).
//   - It refuses to send an Authorization header over plain HTTP to any host
//     other than the registry (a token realm or redirect target elsewhere).
//   - It caps response bodies by the operation that sent the request (see
//     [opContext]): error bodies and the answers to requests that are not
//     the operation's own, such as token responses, at maxErrorBody; the
//     answers to an operation's own requests at the manifest limit, except
//     blobs, which are streamed (also after a redirect to storage) and
//     checked against their descriptor's size and digest instead. So a body
//     that never ends cannot exhaust memory. One consequence: when a
//     registry lacks the referrers API, go-containerregistry reads the
//     referrers fallback index during a push on a derived context, so that
//     index is capped at maxErrorBody there.
type guardTransport struct {
	inner           http.RoundTripper
	registry        string // host[:port]
	insecure        bool
	maxManifestSize int64
	maxErrorBody    int64
	logger          *slog.Logger
}

// errHTTPSProbe answers go-containerregistry's HTTPS probe of an insecure
// registry. It never reaches the caller alone (see [Client.connectError]).
var errHTTPSProbe = errors.New("registry is marked insecure: plain HTTP only")

func (g *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	sameHost := sameHost(req.URL, g.registry)
	if g.insecure && sameHost && req.URL.Scheme == "https" {
		// An insecure registry speaks plain HTTP: answer go-containerregistry's
		// HTTPS probe at once instead of dialling a TLS handshake that fails.
		return nil, fmt.Errorf("registry %s: %w", g.registry, errHTTPSProbe)
	}
	if req.URL.Scheme == "http" {
		if sameHost && !g.insecure {
			return nil, fmt.Errorf("%w: registry %s would be spoken to over plain HTTP (use HTTPS, or mark the registry insecure if it speaks plain HTTP)", ErrPlainHTTP, g.registry)
		}
		if !sameHost && req.Header.Get("Authorization") != "" {
			return nil, fmt.Errorf("%w: credentials for %s would go over plain HTTP to %s; refused", ErrInsecureAuth, g.registry, req.URL.Host)
		}
	}
	start := time.Now()
	resp, err := g.inner.RoundTrip(req)
	if err != nil {
		g.log(req, nil, 0, "", time.Since(start), err)
		return nil, err
	}
	limit, what := g.limitFor(req, resp)
	g.log(req, resp, limit, what, time.Since(start), nil)
	if limit > 0 {
		resp.Body = capBody(resp.Body, limit, what)
	}
	return resp, nil
}

// limitFor returns the cap for resp's body (0 for none) and what to call
// the body in an error.
func (g *guardTransport) limitFor(req *http.Request, resp *http.Response) (int64, string) {
	if resp.StatusCode >= 300 {
		return g.maxErrorBody, "error response body"
	}
	oc, own := req.Context().(*opContext)
	switch {
	case !own:
		// A token response, the ping, or a request go-containerregistry
		// made on a context of its own.
		return g.maxErrorBody, "token or auxiliary response body"
	case oc.kind == opBlob:
		return 0, "blob"
	default:
		return g.maxManifestSize, oc.kind.String() + " response body"
	}
}

func (g *guardTransport) log(req *http.Request, resp *http.Response, limit int64, what string, d time.Duration, err error) {
	if g.logger == nil || !g.logger.Enabled(req.Context(), slog.LevelDebug) {
		return
	}
	op, _ := req.Context().Value(opKey{}).(opKind)
	_, own := req.Context().(*opContext)
	attrs := []any{"method", req.Method, "host", req.URL.Host, "path", req.URL.Path, "op", op.String(), "own", own, "duration", d}
	if err != nil {
		g.logger.LogAttrs(req.Context(), slog.LevelDebug, "registry request failed", slog.Any("error", redactError(err)), slog.Group("request", attrs...))
		return
	}
	capAttr := slog.Int64("limit", limit)
	if limit == 0 {
		capAttr = slog.String("limit", "streamed")
	}
	g.logger.LogAttrs(req.Context(), slog.LevelDebug, "registry request", slog.Int("status", resp.StatusCode), capAttr, slog.Group("request", attrs...))
}

// sameHost reports whether u points at registry, with default ports
// made explicit on both sides.
func sameHost(u *url.URL, registry string) bool {
	host, port, err := net.SplitHostPort(registry)
	if err != nil {
		host, port = registry, ""
	}
	uport := u.Port()
	if !strings.EqualFold(u.Hostname(), strings.Trim(host, "[]")) {
		return false
	}
	if port == "" || uport == "" {
		return port == uport || port == "443" || uport == "443" || port == "80" || uport == "80"
	}
	return port == uport
}

// cappedBody fails the read that would take the body past max bytes.
type cappedBody struct {
	rc   io.ReadCloser
	left int64
	max  int64
	what string
}

func capBody(rc io.ReadCloser, max int64, what string) io.ReadCloser {
	return &cappedBody{rc: rc, left: max, max: max, what: what}
}

func (c *cappedBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// Allow a clean EOF exactly at the cap; anything more is too large.
		var one [1]byte
		n, err := c.rc.Read(one[:])
		if n == 0 && err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("%w: %s exceeds the limit of %d bytes", ErrTooLarge, c.what, c.max)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *cappedBody) Close() error { return c.rc.Close() }

// retryTransport retries idempotent-safe requests after transient failures:
// 408, 429, 500, 502, 503, 504, or a connection reset. Pauses double from
// backoff, honour Retry-After within [MaxRetryBackoff], and end early when the
// request's context is done. A request whose body cannot be replayed is
// never retried.
type retryTransport struct {
	inner   http.RoundTripper
	retries int
	backoff time.Duration
	logger  *slog.Logger
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	pause := t.backoff
	for attempt := 0; ; attempt++ {
		r := req
		if attempt > 0 && req.Body != nil && req.Body != http.NoBody {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r = req.Clone(req.Context())
			r.Body = body
		}
		resp, err := t.inner.RoundTrip(r)
		canReplay := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
		if attempt >= t.retries || !canReplay || !retryable(resp, err) || req.Context().Err() != nil {
			return resp, err
		}
		wait := pause
		if resp != nil {
			if ra, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
				wait = ra
			}
			// Drain a little so the connection can be reused, then discard.
			_, _ = io.CopyN(io.Discard, resp.Body, 4096)
			resp.Body.Close()
		}
		wait = min(wait, MaxRetryBackoff)
		if t.logger != nil {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.logger.LogAttrs(req.Context(), slog.LevelInfo, "retrying registry request",
				slog.String("method", req.Method), slog.String("host", req.URL.Host), slog.String("path", req.URL.Path),
				slog.Int("attempt", attempt+1), slog.Int("status", status), slog.Any("error", redactError(err)), slog.Duration("wait", wait))
		}
		if err := sleepCtx(req.Context(), wait); err != nil {
			return nil, err
		}
		pause = min(pause*2, MaxRetryBackoff)
	}
}

func retryable(resp *http.Response, err error) bool {
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
			errors.Is(err, ErrInsecureAuth) || errors.Is(err, ErrPlainHTTP) || errors.Is(err, errHTTPSProbe) {
			return false
		}
		if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return true
		}
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout()
	}
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func retryAfter(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		// Bounded before multiplying: a huge value must not overflow.
		if s > int64(MaxRetryBackoff/time.Second) {
			return MaxRetryBackoff, true
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
