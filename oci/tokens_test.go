package oci_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
)

// tokenSpy sits under a client and sees (and may change) its token
// requests: those whose URL path ends in /token.
type tokenSpy struct {
	inner  http.RoundTripper
	mu     sync.Mutex
	scopes [][]string // the scopes of each token request
	// rewrite, if set, may answer a token request itself.
	rewrite func(req *http.Request, scopes []string) (*http.Response, *http.Request)
}

func (s *tokenSpy) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/token") {
		scopes := req.URL.Query()["scope"]
		s.mu.Lock()
		s.scopes = append(s.scopes, scopes)
		s.mu.Unlock()
		if s.rewrite != nil {
			resp, r := s.rewrite(req, scopes)
			if resp != nil {
				return resp, nil
			}
			req = r
		}
	}
	return s.inner.RoundTrip(req)
}

func (s *tokenSpy) requests() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.scopes...)
}

func tokenFleet(t *testing.T, n int) (*ocitest.Registry, []string) {
	t.Helper()
	reg := ocitest.NewT(t, ocitest.WithTokenAuth("fleet", "secret"), ocitest.WithLatency(5*time.Millisecond))
	repos := make([]string, n)
	for i := range repos {
		repos[i] = fmt.Sprintf("fleet/app%02d", i)
	}
	pushMany(t, reg, repos)
	reg.ResetRequests()
	return reg, repos
}

func resolveAll(t *testing.T, c *oci.Client, reg *ocitest.Registry, repos []string) {
	t.Helper()
	noErrors(t, run(len(repos), func(i int) error {
		_, err := c.Resolve(context.Background(), reg.Ref(repos[i]+":v1"))
		return err
	}))
}

// Token exchanges asked for together go out as one request of several
// scopes, each repository's scope in it.
func TestTokenExchangesMerged(t *testing.T) {
	reg, repos := tokenFleet(t, 20)
	spy := &tokenSpy{inner: http.DefaultTransport}
	resolveAll(t, reg.Client(oci.WithTransport(spy)), reg, repos)
	reqs := spy.requests()
	if len(reqs) > 2 {
		t.Errorf("%d token requests for %d repositories, want at most 2", len(reqs), len(repos))
	}
	asked := map[string]bool{}
	for _, scopes := range reqs {
		for _, s := range scopes {
			asked[s] = true
		}
	}
	for _, r := range repos {
		if !asked["repository:"+r+":pull"] {
			t.Errorf("no token request asked for %s", r)
		}
	}
}

// A token service that refuses a request of several scopes is asked for
// each scope alone.
func TestTokenExchangeFallsBackToOneScope(t *testing.T) {
	reg, repos := tokenFleet(t, 8)
	spy := &tokenSpy{inner: http.DefaultTransport}
	spy.rewrite = func(req *http.Request, scopes []string) (*http.Response, *http.Request) {
		if len(scopes) > 1 {
			return &http.Response{StatusCode: http.StatusBadRequest, Status: "400 Bad Request", Header: http.Header{},
				Body: io.NopCloser(strings.NewReader(`{"errors":[{"code":"UNSUPPORTED","message":"one scope per request"}]}`)), Request: req}, nil
		}
		return nil, req
	}
	resolveAll(t, reg.Client(oci.WithTransport(spy)), reg, repos)
	singles := 0
	for _, scopes := range spy.requests() {
		if len(scopes) == 1 {
			singles++
		}
	}
	if singles < len(repos) {
		t.Errorf("%d single-scope token requests, want at least %d (one per repository after the refusal)", singles, len(repos))
	}
}

// A token service that grants only the first scope it is asked for: the
// repositories it left out get a 401 and a token of their own.
func TestTokenExchangeFirstScopeOnly(t *testing.T) {
	reg, repos := tokenFleet(t, 8)
	spy := &tokenSpy{inner: http.DefaultTransport}
	spy.rewrite = func(req *http.Request, scopes []string) (*http.Response, *http.Request) {
		if len(scopes) > 1 {
			r := req.Clone(req.Context())
			q := r.URL.Query()
			q["scope"] = scopes[:1]
			r.URL.RawQuery = q.Encode()
			return nil, r
		}
		return nil, req
	}
	resolveAll(t, reg.Client(oci.WithTransport(spy)), reg, repos)
}

// When every caller waiting for a token exchange has left, the exchange is
// cancelled, and the next caller gets a new one.
func TestTokenExchangeCancelledWhenAllLeave(t *testing.T) {
	reg, repos := tokenFleet(t, 4)
	var hung atomic.Bool
	hung.Store(true)
	cancelled := make(chan struct{}, 8)
	spy := &tokenSpy{inner: http.DefaultTransport}
	spy.rewrite = func(req *http.Request, scopes []string) (*http.Response, *http.Request) {
		if hung.Load() {
			<-req.Context().Done()
			cancelled <- struct{}{}
			return &http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("")), Request: req}, nil
		}
		return nil, req
	}
	c := reg.Client(oci.WithTransport(spy))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	errs := run(len(repos), func(i int) error {
		_, err := c.Resolve(ctx, reg.Ref(repos[i]+":v1"))
		return err
	})
	for i, err := range errs {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("caller %d: err = %v, want its deadline", i, err)
		}
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the token request was not cancelled when every caller had left")
	}
	hung.Store(false)
	resolveAll(t, c, reg, repos)
}

// Authorize sets up many repositories at once with a few merged token
// requests; their first requests then need no token request of their own.
func TestAuthorize(t *testing.T) {
	reg, repos := tokenFleet(t, 40)
	c := reg.Client()
	ctx := context.Background()
	refs := make([]oci.Reference, 0, len(repos)+1)
	for _, r := range repos {
		refs = append(refs, reg.Ref(r+":v1"))
	}
	refs = append(refs, oci.Reference{Layout: "/nonexistent/layout"}) // skipped
	if err := c.Authorize(ctx, refs...); err != nil {
		t.Fatal(err)
	}
	if p, tk := reg.Pings(), reg.TokenRequests(); p != 1 || tk > 3 {
		t.Errorf("Authorize of %d repositories: %d pings, %d token requests; want 1 and at most 3", len(repos), p, tk)
	}
	reg.ResetRequests()
	resolveAll(t, c, reg, repos)
	if tk := reg.TokenRequests(); tk != 0 {
		t.Errorf("%d token requests after Authorize, want 0", tk)
	}
	// A registry that cannot be reached is an error, naming it.
	bad := oci.Reference{Registry: "127.0.0.1:1", Repository: "app"}
	if err := c.Authorize(ctx, bad); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("unreachable registry: err = %v", err)
	}
}
