package oci

import (
	"context"
	"sync"
)

// group shares set-ups by key, as go-containerregistry's remote.Puller does
// with its readers (a sync.Map of entries, each run once, dropped on
// failure), with two differences: a caller waits for an entry with its own
// context and leaves when that context ends, and a finished entry can go
// stale (an expired token) and is then set up again.
//
// A set-up runs in a goroutine of its own, owned by the [Client], on a
// context that keeps the values of the call that started it but not its
// cancellation: callers that join it do not depend on the first one staying.
// It is cancelled when every caller waiting for it has left, and the entry
// is dropped then, so the next call starts afresh. Failures are never kept:
// the next call for the key runs the set-up again.
//
// No lock is held across a set-up: the map is a sync.Map and each entry's
// mutex guards only its count of waiters.
type group[T comparable] struct {
	m sync.Map // key -> *flight[T]
}

// flight is one set-up, running or finished.
type flight[T comparable] struct {
	done chan struct{} // closed when val and err are set
	val  T
	err  error

	cancel context.CancelFunc

	mu        sync.Mutex
	waiters   int  // callers waiting for done
	abandoned bool // every waiter left before done; the set-up was cancelled
}

// do returns the value of key's set-up, running run for it unless a set-up
// of key is already running or finished with a value fresh reports as
// usable (nil fresh: any value is). It returns ctx.Err() as soon as ctx
// ends, whatever the set-up is doing.
func (g *group[T]) do(ctx context.Context, key string, fresh func(T) bool, run func(context.Context) (T, error)) (T, error) {
	for {
		if err := ctx.Err(); err != nil {
			var zero T
			return zero, err
		}
		if v, ok := g.m.Load(key); ok {
			f := v.(*flight[T])
			select {
			case <-f.done:
				if f.err == nil && (fresh == nil || fresh(f.val)) {
					return f.val, nil
				}
				// Stale, or failed (a failed entry is dropped before done
				// is closed): set up again.
				g.m.CompareAndDelete(key, f)
				continue
			default:
			}
			if !f.join() {
				g.m.CompareAndDelete(key, f)
				continue
			}
			return g.wait(ctx, key, f)
		}
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f := &flight[T]{done: make(chan struct{}), cancel: cancel, waiters: 1}
		if _, loaded := g.m.LoadOrStore(key, f); loaded {
			cancel()
			continue
		}
		go func() {
			defer cancel()
			val, err := run(sctx)
			f.val, f.err = val, err
			if err != nil {
				g.m.CompareAndDelete(key, f)
			}
			close(f.done)
		}()
		return g.wait(ctx, key, f)
	}
}

// forget drops key's entry if it is finished and holds val, so the next
// call sets it up again.
func (g *group[T]) forget(key string, val T) {
	v, ok := g.m.Load(key)
	if !ok {
		return
	}
	f := v.(*flight[T])
	select {
	case <-f.done:
		if f.err == nil && f.val == val {
			g.m.CompareAndDelete(key, f)
		}
	default:
	}
}

// join counts one more waiter, unless every waiter has already left and the
// set-up was cancelled.
func (f *flight[T]) join() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.abandoned {
		return false
	}
	f.waiters++
	return true
}

func (g *group[T]) wait(ctx context.Context, key string, f *flight[T]) (T, error) {
	select {
	case <-f.done:
		f.leave()
		return f.val, f.err
	case <-ctx.Done():
		if f.leave() {
			g.m.CompareAndDelete(key, f)
			f.cancel()
		}
		var zero T
		return zero, ctx.Err()
	}
}

// leave counts one waiter less and reports whether it was the last one of a
// set-up still running, which is then abandoned.
func (f *flight[T]) leave() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waiters--
	if f.waiters > 0 {
		return false
	}
	select {
	case <-f.done:
		return false
	default:
	}
	f.abandoned = true
	return true
}
