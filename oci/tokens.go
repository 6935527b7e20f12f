package oci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// maxTokenScopes caps the repository scopes one token request asks for.
const maxTokenScopes = 32

// tokenBatcher merges token exchanges. Repositories of one registry that
// need a token while an exchange with the same credentials and actions is
// in flight wait for it to end, then share one exchange that asks for all
// their scopes at once (the token spec lets a request name several). A
// controller that starts a thousand sources of one registry thus makes a
// few dozen token requests, not a thousand.
//
// A token service that refuses a request of several scopes is asked again
// for each scope alone. One that answers with fewer scopes than asked (some
// read only the first) costs the repositories it left out one 401, after
// which go-containerregistry's bearer transport exchanges a token for the
// scope the challenge names.
//
// No lock is held across an exchange. Each exchange runs in a goroutine of
// the Client, on a context that is cancelled when every caller waiting for
// it has left, and each caller leaves when its own context ends.
type tokenBatcher struct {
	mu     sync.Mutex
	queues map[string]*tokenQueue
}

// tokenQueue holds the requests of one key waiting for the next exchange.
type tokenQueue struct {
	waiting []*tokenRequest
	running bool // a goroutine is exchanging, and takes the waiting next
}

// tokenExchange asks the token service for a token for scopes.
type tokenExchange func(ctx context.Context, scopes []string) (*transport.Token, time.Duration, error)

type tokenRequest struct {
	scope    string
	exchange tokenExchange
	done     chan struct{} // closed when tok, renew and err are set
	tok      *transport.Token
	renew    time.Duration
	err      error

	batch *tokenBatch // set (under the batcher's lock) when taken
	left  bool        // the caller left (under the batcher's lock)
}

// tokenBatch is one exchange for several requests.
type tokenBatch struct {
	live   int // requests whose caller still waits (under the batcher's lock)
	cancel context.CancelFunc
}

// tokenKey identifies the exchanges that may be merged: one registry, one
// set of actions, one set of credentials (hashed: no secret is kept in it).
func tokenKey(registry, action string, cfg *authn.AuthConfig) (string, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return registry + "|" + action + "|" + hex.EncodeToString(sum[:]), nil
}

// get returns a token for scope, exchanged alone or with the scopes of
// other repositories asked for at the same time.
func (b *tokenBatcher) get(ctx context.Context, key, scope string, exchange tokenExchange) (*transport.Token, time.Duration, error) {
	r := &tokenRequest{scope: scope, exchange: exchange, done: make(chan struct{})}
	b.mu.Lock()
	if b.queues == nil {
		b.queues = map[string]*tokenQueue{}
	}
	q := b.queues[key]
	if q == nil {
		q = &tokenQueue{}
		b.queues[key] = q
	}
	q.waiting = append(q.waiting, r)
	start := !q.running
	q.running = true
	b.mu.Unlock()
	if start {
		go b.run(context.WithoutCancel(ctx), key, q)
	}
	select {
	case <-r.done:
		return r.tok, r.renew, r.err
	case <-ctx.Done():
		b.leave(r)
		return nil, 0, ctx.Err()
	}
}

// leave marks r's caller gone; the last one of a batch cancels it.
func (b *tokenBatcher) leave(r *tokenRequest) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r.left {
		return
	}
	r.left = true
	if r.batch != nil {
		if r.batch.live--; r.batch.live == 0 {
			r.batch.cancel()
		}
	}
}

// run exchanges tokens for key's queue, batch after batch, until it is
// empty.
func (b *tokenBatcher) run(base context.Context, key string, q *tokenQueue) {
	for {
		b.mu.Lock()
		// Everything waiting goes now, in batches of maxTokenScopes sent
		// side by side.
		var batches [][]*tokenRequest
		for _, r := range q.waiting {
			if r.left {
				continue
			}
			if n := len(batches); n == 0 || len(batches[n-1]) == maxTokenScopes {
				batches = append(batches, nil)
			}
			batches[len(batches)-1] = append(batches[len(batches)-1], r)
		}
		clear(q.waiting)
		q.waiting = q.waiting[:0]
		if len(batches) == 0 {
			q.running = false
			delete(b.queues, key)
			b.mu.Unlock()
			return
		}
		var wg sync.WaitGroup
		for _, batch := range batches {
			ctx, cancel := context.WithCancel(base)
			tb := &tokenBatch{live: len(batch), cancel: cancel}
			for _, r := range batch {
				r.batch = tb
			}
			wg.Go(func() {
				defer cancel()
				exchangeBatch(ctx, batch)
			})
		}
		b.mu.Unlock()
		wg.Wait()
	}
}

// exchangeBatch gets the tokens of batch: one exchange for all its scopes,
// or, when the token service refuses that, one per scope.
func exchangeBatch(ctx context.Context, batch []*tokenRequest) {
	var scopes []string
	for _, r := range batch {
		if !slices.Contains(scopes, r.scope) {
			scopes = append(scopes, r.scope)
		}
	}
	tok, renew, err := batch[0].exchange(ctx, scopes)
	var te *transport.Error
	if err != nil && len(scopes) > 1 && ctx.Err() == nil && errors.As(err, &te) {
		// The token service answered, and refused: perhaps the request,
		// not the scopes. Each alone, then.
		for _, r := range batch {
			r.tok, r.renew, r.err = r.exchange(ctx, []string{r.scope})
			close(r.done)
		}
		return
	}
	for _, r := range batch {
		if tok != nil {
			t := *tok // each repository's transport gets its own copy
			r.tok = &t
		}
		r.renew, r.err = renew, err
		close(r.done)
	}
}

// Authorize sets up, for each repository refs name, what its first request
// needs: the registry's answer to the ping and a token to pull (credentials
// from the Client's options). It does so for all of them at once, so a
// token service is asked for several repositories in one request where it
// allows it, and returns when they are all set up or ctx ends. A controller
// calls it for the sources it is about to fetch, so that their first
// requests go out without waiting for a token. It is only ever an
// optimisation: what fails to set up is set up again by the request that
// needs it. Layout references need nothing and are skipped; the errors of
// the others are joined.
func (c *Client) Authorize(ctx context.Context, refs ...Reference) error {
	seen := map[string]bool{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, ref := range refs {
		if ref.Layout != "" {
			continue
		}
		ref = ref.WithTag("")
		if key := ref.Repo(); seen[key] {
			continue
		} else {
			seen[key] = true
		}
		wg.Go(func() {
			if _, _, err := c.transport(ctx, ref, false); err != nil {
				mu.Lock()
				errs = append(errs, opError("authorize", ref.displayRepo(), err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
