package ocitest

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// WithLatency holds back the answer to every request (pings, tokens and the
// registry API alike) for d, as a registry d away would, or until the client
// gives up. The default is none.
func WithLatency(d time.Duration) Option {
	return func(r *Registry) { r.latency = d }
}

// Pings counts the pings (GET /v2/) in the request log: what a client pays
// once per registry to learn how to authenticate.
func (r *Registry) Pings() int {
	n := 0
	for _, q := range r.Requests() {
		if q.Method == http.MethodGet && q.Path == "/v2/" {
			n++
		}
	}
	return n
}

// TokenRequests counts the requests to the token endpoint ([TokenPath]) in
// the request log.
func (r *Registry) TokenRequests() int {
	n := 0
	for _, q := range r.Requests() {
		if q.Path == TokenPath {
			n++
		}
	}
	return n
}

// Connections counts the TCP connections the registry accepted since it
// started or since the last [Registry.ResetRequests].
func (r *Registry) Connections() int { return int(r.conns.Load()) }

func (r *Registry) connState(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		r.conns.Add(1)
	}
}

// Stall holds back pings for a while: see [Registry.StallPing].
type Stall struct {
	holding  chan struct{}
	done     chan struct{}
	holdOnce sync.Once
	doneOnce sync.Once
	held     atomic.Int64
}

// StallPing holds every ping (GET /v2/) that arrives in the next d, or
// until [Stall.Release], unanswered until the stall ends or the client
// gives up on it; then pings are answered as usual again. Nothing else is
// held: the token endpoint and the rest of the API answer at once, so a
// test can watch a client go on with other registries, or other calls,
// while one set-up hangs. It replaces a stall still in progress, which
// goes on holding what it holds.
//
// [Fault.Delay] is the way to delay other requests; a Fault cannot single
// out the ping, as its PathContains "/v2/" matches every request.
func (r *Registry) StallPing(d time.Duration) *Stall {
	s := &Stall{holding: make(chan struct{}), done: make(chan struct{})}
	time.AfterFunc(d, s.Release) // a no-op if released before
	r.mu.Lock()
	r.stall = s
	r.mu.Unlock()
	return s
}

// Holding returns a channel closed once the stall holds its first ping.
func (s *Stall) Holding() <-chan struct{} { return s.holding }

// Done returns a channel closed when the stall ends.
func (s *Stall) Done() <-chan struct{} { return s.done }

// Held returns how many pings the stall holds right now: each leaves when
// the stall ends or when its client gives up (cancels the request).
func (s *Stall) Held() int { return int(s.held.Load()) }

// Release ends the stall now: the pings it holds are answered.
func (s *Stall) Release() {
	s.doneOnce.Do(func() { close(s.done) })
}

// hold keeps a ping until the stall ends or ctx does, and reports whether
// the stall ended (false: the client gave up).
func (s *Stall) hold(ctx context.Context) bool {
	select {
	case <-s.done:
		return true
	default:
	}
	s.held.Add(1)
	defer s.held.Add(-1)
	s.holdOnce.Do(func() { close(s.holding) })
	select {
	case <-s.done:
		return true
	case <-ctx.Done():
		return false
	}
}

// currentStall returns the stall in progress, if any.
func (r *Registry) currentStall() *Stall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stall
}

// wait sleeps d or until ctx ends, and reports whether d passed.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
