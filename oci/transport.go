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

// guardTransport sits directly above the network transport, below
// go-containerregistry's auth layers, so it sees every request exactly as it
// leaves: the registry's own, token realm requests and redirects.
//
//   - It refuses plain HTTP to the registry unless the client is insecure, so
//     a failed TLS handshake never silently downgrades (go-containerregistry
//     falls back to HTTP for loopback and private addresses).
//   - It refuses to send an Authorization header over plain HTTP to any host
//     other than the registry (a token realm or redirect target elsewhere).
//   - It caps response bodies: error and token bodies (1 MiB) and JSON
//     documents (the manifest limit), so a body that never ends cannot
//     exhaust memory. Blob bodies, also after a redirect to storage, are not
//     capped here; they are checked against their descriptor's size and digest.
type guardTransport struct {
	inner           http.RoundTripper
	registry        string // host[:port]
	insecure        bool
	maxManifestSize int64
	maxErrorBody    int64
	logger          *slog.Logger
}

func (g *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	sameHost := sameHost(req.URL, g.registry)
	if g.insecure && sameHost && req.URL.Scheme == "https" {
		// An insecure registry speaks plain HTTP: answer go-containerregistry's
		// HTTPS probe at once instead of dialling a TLS handshake that fails.
		return nil, fmt.Errorf("registry %s is marked insecure: plain HTTP only", g.registry)
	}
	if req.URL.Scheme == "http" {
		if sameHost && !g.insecure {
			return nil, fmt.Errorf("%w: registry %s is not marked insecure, refusing plain HTTP (use HTTPS, or mark the registry insecure)", ErrInsecureAuth, g.registry)
		}
		if !sameHost && req.Header.Get("Authorization") != "" {
			return nil, fmt.Errorf("%w: credentials for %s would go over plain HTTP to %s; refused", ErrInsecureAuth, g.registry, req.URL.Host)
		}
	}
	start := time.Now()
	resp, err := g.inner.RoundTrip(req)
	if g.logger != nil {
		attrs := []any{"method", req.Method, "host", req.URL.Host, "path", req.URL.Path, "duration", time.Since(start)}
		if err != nil {
			g.logger.LogAttrs(req.Context(), slog.LevelDebug, "registry request failed", slog.Any("error", err), slog.Group("request", attrs...))
		} else {
			g.logger.LogAttrs(req.Context(), slog.LevelDebug, "registry request", slog.Int("status", resp.StatusCode), slog.Group("request", attrs...))
		}
	}
	if err != nil {
		return nil, err
	}
	// Judge the body by the request that started it all: a blob GET
	// redirected to storage on another host is still a blob.
	orig := req
	for orig.Response != nil && orig.Response.Request != nil {
		orig = orig.Response.Request
	}
	switch {
	case resp.StatusCode >= 300:
		resp.Body = capBody(resp.Body, g.maxErrorBody, "error response body")
	case strings.Contains(orig.URL.Path, "/blobs/"):
		// Streamed; checked against the descriptor's size and digest.
	case strings.HasPrefix(orig.URL.Path, "/v2/"):
		resp.Body = capBody(resp.Body, g.maxManifestSize, "response body")
	default:
		// A token realm, or anything else off the registry API.
		resp.Body = capBody(resp.Body, g.maxErrorBody, "token response body")
	}
	return resp, nil
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
				slog.Int("attempt", attempt+1), slog.Int("status", status), slog.Any("error", err), slog.Duration("wait", wait))
		}
		if err := sleepCtx(req.Context(), wait); err != nil {
			return nil, err
		}
		pause = min(pause*2, MaxRetryBackoff)
	}
}

func retryable(resp *http.Response, err error) bool {
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrInsecureAuth) {
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
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
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
