package oci

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestGroupRunsOncePerKey(t *testing.T) {
	var g group[*int]
	var runs atomic.Int32
	release := make(chan struct{})
	v := new(int)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := g.do(context.Background(), "k", nil, func(context.Context) (*int, error) {
				runs.Add(1)
				<-release
				return v, nil
			})
			if err != nil || got != v {
				t.Errorf("do = %v, %v", got, err)
			}
		}()
	}
	time.Sleep(10 * time.Millisecond) // let them pile up on the one set-up
	close(release)
	wg.Wait()
	if n := runs.Load(); n != 1 {
		t.Errorf("%d set-ups, want 1", n)
	}
}

func TestGroupForgetsFailuresAndStaleValues(t *testing.T) {
	var g group[*int]
	boom := errors.New("boom")
	runs := 0
	set := func(err error) func(context.Context) (*int, error) {
		return func(context.Context) (*int, error) { runs++; return new(int), err }
	}
	ctx := context.Background()
	if _, err := g.do(ctx, "k", nil, set(boom)); !errors.Is(err, boom) {
		t.Fatalf("do = %v, want boom", err)
	}
	first, err := g.do(ctx, "k", nil, set(nil))
	if err != nil || runs != 2 {
		t.Fatalf("after a failure: %v, %d runs, want a second run", err, runs)
	}
	if again, _ := g.do(ctx, "k", nil, set(nil)); again != first || runs != 2 {
		t.Errorf("a finished set-up ran again")
	}
	stale := func(*int) bool { return false }
	if again, _ := g.do(ctx, "k", stale, set(nil)); again == first || runs != 3 {
		t.Errorf("a stale value was kept")
	}
	latest, _ := g.do(ctx, "k", nil, set(nil))
	g.forget("k", first) // not the current value: nothing happens
	if again, _ := g.do(ctx, "k", nil, set(nil)); again != latest {
		t.Errorf("forget dropped another value")
	}
	g.forget("k", latest)
	if again, _ := g.do(ctx, "k", nil, set(nil)); again == latest || runs != 4 {
		t.Errorf("forget kept the value")
	}
}

func TestGroupCancelsWhenTheLastWaiterLeaves(t *testing.T) {
	var g group[*int]
	started, cancelled := make(chan struct{}), make(chan struct{})
	run := func(ctx context.Context) (*int, error) {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return nil, ctx.Err()
	}
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { _, err := g.do(ctx1, "k", nil, run); errs <- err }()
	<-started
	go func() {
		_, err := g.do(ctx2, "k", nil, func(context.Context) (*int, error) { panic("second set-up") })
		errs <- err
	}()
	for {
		v, _ := g.m.Load("k")
		f := v.(*flight[*int])
		f.mu.Lock()
		n := f.waiters
		f.mu.Unlock()
		if n == 2 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel1()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Errorf("first waiter: %v", err)
	}
	select {
	case <-cancelled:
		t.Fatal("set-up cancelled while a waiter remained")
	case <-time.After(20 * time.Millisecond):
	}
	cancel2()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Errorf("second waiter: %v", err)
	}
	<-cancelled
	// The abandoned entry is gone: the next call sets up afresh.
	v := new(int)
	if got, err := g.do(context.Background(), "k", nil, func(context.Context) (*int, error) { return v, nil }); err != nil || got != v {
		t.Errorf("after abandonment: %v, %v", got, err)
	}
}

func TestRenewAfter(t *testing.T) {
	for _, tc := range []struct {
		in   int
		want time.Duration
	}{
		{0, 54 * time.Second},
		{-5, 54 * time.Second},
		{1, 900 * time.Millisecond},
		{300, 270 * time.Second},
		{3600, 3570 * time.Second},
		{math.MaxInt, 24*time.Hour - 30*time.Second},
	} {
		if got := renewAfter(tc.in); got != tc.want {
			t.Errorf("renewAfter(%d) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
