package oci_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
)

// pushMany pushes one small artifact tagged v1 to each of repos, a few at a
// time through the registry's shared pusher.
func pushMany(t *testing.T, reg *ocitest.Registry, repos []string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(repos))
	sem := make(chan struct{}, 8)
	for _, repo := range repos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, err := reg.PushBytes(context.Background(), repo+":v1", oci.MediaTypeFluxContent, []byte("content of "+repo)); err != nil {
				errs <- fmt.Errorf("push %s: %w", repo, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// run calls f(i) for i in [0, n) in n goroutines released at once, and
// returns their errors.
func run(n int, f func(i int) error) []error {
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

func noErrors(t *testing.T, errs []error) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
}

// One shared client, 64 workers, 64 repositories of one token-auth registry
// 5 ms away: one ping for the registry, a few token requests for all the
// repositories (exchanges asked for together are merged, at most 32 scopes
// each), and connections bounded by the workers, not by the requests.
func TestSharedClientManyRepositories(t *testing.T) {
	const workers = 64
	reg := ocitest.NewT(t, ocitest.WithTokenAuth("fleet", "secret"), ocitest.WithLatency(5*time.Millisecond))
	repos := make([]string, workers)
	for i := range repos {
		repos[i] = fmt.Sprintf("fleet/app%02d", i)
	}
	pushMany(t, reg, repos)
	reg.ResetRequests()

	c := reg.Client()
	ctx := context.Background()
	noErrors(t, run(workers, func(i int) error {
		m, err := c.Manifest(ctx, reg.Ref(repos[i]+":v1"))
		if err == nil && len(m.Layers) != 1 {
			err = fmt.Errorf("%d layers, want 1", len(m.Layers))
		}
		return err
	}))
	pings, tokens, conns := reg.Pings(), reg.TokenRequests(), reg.Connections()
	t.Logf("%d workers, %d repositories: %d pings, %d token requests, %d connections", workers, len(repos), pings, tokens, conns)
	if pings != 1 {
		t.Errorf("pings = %d, want 1 (one per registry)", pings)
	}
	if tokens < workers/32 || tokens > workers/32+2 {
		t.Errorf("token requests = %d, want %d to %d (merged, 32 scopes at most each)", tokens, workers/32, workers/32+2)
	}
	if conns > 2*workers {
		t.Errorf("connections = %d, want at most %d", conns, 2*workers)
	}

	// A second round reuses everything: no ping, no token, and at most a
	// connection per worker in all (the first round, its start staggered by
	// the ping and the tokens, may have needed fewer at once).
	reg.ResetRequests()
	noErrors(t, run(workers, func(i int) error {
		_, err := c.Resolve(ctx, reg.Ref(repos[i]+":v1"))
		return err
	}))
	if p, tk, n := reg.Pings(), reg.TokenRequests(), reg.Connections(); p != 0 || tk != 0 || conns+n > workers+1 {
		t.Errorf("second round: %d pings, %d token requests, %d new connections (%d before); want none, none, at most %d in all", p, tk, n, conns, workers+1)
	}
}

// Concurrent first uses of one repository share one set-up.
func TestConcurrentFirstUseSharesOneSetUp(t *testing.T) {
	reg := ocitest.NewT(t, ocitest.WithTokenAuth("fleet", "secret"), ocitest.WithLatency(2*time.Millisecond))
	pushMany(t, reg, []string{"app"})
	reg.ResetRequests()

	c := reg.Client()
	noErrors(t, run(32, func(int) error {
		_, err := c.Resolve(context.Background(), reg.Ref("app:v1"))
		return err
	}))
	if p, tk := reg.Pings(), reg.TokenRequests(); p != 1 || tk != 1 {
		t.Errorf("%d pings and %d token requests, want 1 and 1", p, tk)
	}
}

// A registry whose ping hangs costs the other registries of the client
// nothing: while its ping is provably held, 20 fetches from another
// registry, set-up included, complete.
func TestStalledPingDoesNotDelayOtherRegistries(t *testing.T) {
	healthy := ocitest.NewT(t)
	sick := ocitest.NewT(t)
	pushMany(t, healthy, []string{"app"})
	pushMany(t, sick, []string{"app"})
	c := healthy.Client() // anonymous and insecure: good for both

	stall := sick.StallPing(3 * time.Second)
	sickDone := make(chan error, 1)
	go func() {
		_, err := c.Resolve(context.Background(), sick.Ref("app:v1"))
		sickDone <- err
	}()
	select {
	case <-stall.Holding():
	case <-time.After(10 * time.Second):
		t.Fatal("the ping of the sick registry never arrived")
	}

	healthyDone := make(chan []error, 1)
	go func() {
		healthyDone <- run(20, func(int) error {
			_, err := c.Manifest(context.Background(), healthy.Ref("app:v1"))
			return err
		})
	}()
	select {
	case errs := <-healthyDone:
		noErrors(t, errs)
	case <-stall.Done():
		t.Fatal("the fetches from the healthy registry waited for the stalled ping of the other")
	}
	if n := stall.Held(); n != 1 {
		t.Errorf("stall holds %d pings after the healthy fetches, want 1", n)
	}
	select {
	case err := <-sickDone:
		t.Fatalf("the fetch from the sick registry returned during the stall: %v", err)
	default:
	}

	stall.Release()
	if err := <-sickDone; err != nil {
		t.Errorf("sick registry after the stall: %v", err)
	}
	if p := sick.Pings(); p != 1+1 { // its pusher's, and the client's
		t.Errorf("sick registry: %d pings, want 2", p)
	}
}

// A caller waiting for another caller's set-up leaves when its own context
// ends; the set-up goes on for those still waiting.
func TestWaiterLeavesWithItsContext(t *testing.T) {
	reg := ocitest.NewT(t)
	pushMany(t, reg, []string{"app"})
	reg.ResetRequests()
	c := reg.Client()
	stall := reg.StallPing(3 * time.Second)

	first := make(chan error, 1)
	go func() {
		_, err := c.Resolve(context.Background(), reg.Ref("app:v1"))
		first <- err
	}()
	<-stall.Holding()

	second := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := c.Resolve(ctx, reg.Ref("app:v1"))
		second <- err
	}()
	select {
	case err := <-second:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("waiter: %v, want its context's deadline", err)
		}
	case <-stall.Done():
		t.Fatal("the waiter stayed until the set-up it waited for ended, past its deadline")
	}
	if n := stall.Held(); n != 1 {
		t.Errorf("after the waiter left the stall holds %d pings, want 1: the set-up goes on for the first caller", n)
	}

	stall.Release()
	if err := <-first; err != nil {
		t.Errorf("first caller: %v", err)
	}
	if p := reg.Pings(); p != 1 {
		t.Errorf("%d pings, want 1", p)
	}

	// An already ended context returns at once, set-up done or not.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Resolve(ctx, reg.Ref("app:v1")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v, want context.Canceled", err)
	}
}

// When the last caller waiting for a set-up leaves, the set-up is cancelled
// (the held ping is abandoned) and forgotten: the next call starts afresh.
func TestAbandonedSetUpIsCancelled(t *testing.T) {
	reg := ocitest.NewT(t)
	pushMany(t, reg, []string{"app"})
	reg.ResetRequests()
	c := reg.Client()
	stall := reg.StallPing(30 * time.Second)
	defer stall.Release()

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Resolve(ctx, reg.Ref("app:v1")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Resolve: %v, want its context's deadline", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for stall.Held() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the ping of an abandoned set-up is still held")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stall.Release()
	if _, err := c.Resolve(context.Background(), reg.Ref("app:v1")); err != nil {
		t.Fatalf("after the stall: %v", err)
	}
	if p := reg.Pings(); p != 2 {
		t.Errorf("%d pings, want 2 (the abandoned one and a fresh one)", p)
	}
}

// A set-up that failed is not remembered: with the registry down (the
// fault), then up again, the next call sets up again.
func TestFailedSetUpIsRetried(t *testing.T) {
	for _, tc := range []struct {
		name  string
		token bool
		fault ocitest.Fault
		// pings and token requests over both calls; net/http sends a GET
		// again once when a reused connection is reset, so with Reset the
		// token requests are at least tokens.
		pings, tokens int
	}{
		{name: "ping 503", fault: ocitest.Fault{Method: http.MethodGet, PathContains: "/v2/", Status: http.StatusServiceUnavailable}, pings: 2},
		{name: "ping reset", fault: ocitest.Fault{Method: http.MethodGet, PathContains: "/v2/", Reset: true}, pings: 2},
		{name: "token service 503", token: true, fault: ocitest.Fault{PathContains: ocitest.TokenPath, Status: http.StatusServiceUnavailable}, pings: 1, tokens: 2},
		{name: "token service down", token: true, fault: ocitest.Fault{PathContains: ocitest.TokenPath, Reset: true}, pings: 2, tokens: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []ocitest.Option
			if tc.token {
				opts = append(opts, ocitest.WithTokenAuth("u", "p"))
			}
			reg := ocitest.NewT(t, opts...)
			pushMany(t, reg, []string{"app"})
			reg.ResetRequests()
			c := reg.Client()

			reg.Inject(tc.fault)
			if _, err := c.Resolve(context.Background(), reg.Ref("app:v1")); err == nil {
				t.Fatal("first call succeeded despite the fault")
			}
			reg.ClearFaults()
			if _, err := c.Resolve(context.Background(), reg.Ref("app:v1")); err != nil {
				t.Fatalf("second call: %v", err)
			}
			p, tk := reg.Pings(), reg.TokenRequests()
			if p != tc.pings || tk != tc.tokens && !(tc.fault.Reset && tk > tc.tokens) {
				t.Errorf("%d pings and %d token requests, want %d and %d", p, tk, tc.pings, tc.tokens)
			}
		})
	}
}

// A token is exchanged again before it expires, so no request is refused
// for an expired token; a token the registry forgot is replaced on the 401
// (go-containerregistry's bearer transport, with the challenge's scope).
func TestTokenRenewal(t *testing.T) {
	t.Run("expiry", func(t *testing.T) {
		reg := ocitest.NewT(t, ocitest.WithTokenAuth("u", "p"), ocitest.WithTokenLifetime(time.Second))
		pushMany(t, reg, []string{"app"})
		c := reg.Client()
		if _, err := c.Resolve(context.Background(), reg.Ref("app:v1")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond)
		reg.ResetRequests()
		if _, err := c.Resolve(context.Background(), reg.Ref("app:v1")); err != nil {
			t.Fatalf("after expiry: %v", err)
		}
		if p, tk := reg.Pings(), reg.TokenRequests(); p != 0 || tk != 1 {
			t.Errorf("after expiry: %d pings and %d token requests, want 0 and 1", p, tk)
		}
		if n := reg.CountRequests("", "") - reg.CountRequests("", ocitest.TokenPath); n != 1 {
			t.Errorf("after expiry: %d registry requests, want 1", n)
		}
		for _, q := range reg.Requests() {
			if q.Status == http.StatusUnauthorized {
				t.Errorf("%s %s refused with 401: the expired token was sent", q.Method, q.Path)
			}
		}
	})
	t.Run("revoked", func(t *testing.T) {
		reg := ocitest.NewT(t, ocitest.WithTokenAuth("u", "p"))
		pushMany(t, reg, []string{"app"})
		c := reg.Client()
		if _, err := c.Resolve(context.Background(), reg.Ref("app:v1")); err != nil {
			t.Fatal(err)
		}
		reg.RevokeTokens()
		reg.ResetRequests()
		if _, err := c.Resolve(context.Background(), reg.Ref("app:v1")); err != nil {
			t.Fatalf("after revocation: %v", err)
		}
		if p, tk := reg.Pings(), reg.TokenRequests(); p != 0 || tk != 1 {
			t.Errorf("after revocation: %d pings and %d token requests, want 0 and 1", p, tk)
		}
	})
}

// WithMaxConnsPerHost caps the connections of 32 concurrent workers.
func TestMaxConnsPerHost(t *testing.T) {
	reg := ocitest.NewT(t, ocitest.WithLatency(2*time.Millisecond))
	repos := make([]string, 8)
	for i := range repos {
		repos[i] = fmt.Sprintf("app%d", i)
	}
	pushMany(t, reg, repos)
	reg.ResetRequests()
	c := reg.Client(oci.WithMaxConnsPerHost(4))
	noErrors(t, run(32, func(i int) error {
		_, err := c.Manifest(context.Background(), reg.Ref(repos[i%len(repos)]+":v1"))
		return err
	}))
	if n := reg.Connections(); n > 4 || n == 0 {
		t.Errorf("%d connections, want 1..4", n)
	}
}

func TestMaxConnsPerHostOption(t *testing.T) {
	if _, err := oci.NewClient(oci.WithMaxConnsPerHost(0)); !errors.Is(err, oci.ErrInvalidOption) {
		t.Errorf("WithMaxConnsPerHost(0): %v, want ErrInvalidOption", err)
	}
	_, err := oci.NewClient(oci.WithMaxConnsPerHost(8), oci.WithTransport(http.DefaultTransport))
	var conflict *oci.OptionConflictError
	if !errors.As(err, &conflict) {
		t.Errorf("WithMaxConnsPerHost with WithTransport: %v, want an OptionConflictError", err)
	}
	if _, err := oci.NewClient(oci.WithMaxConnsPerHost(8), oci.WithMaxConnsPerHost(8)); !errors.As(err, &conflict) {
		t.Errorf("WithMaxConnsPerHost twice: %v, want an OptionConflictError", err)
	}
}
