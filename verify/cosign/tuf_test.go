package cosign_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// fakeTUF serves trusted roots in place of the network and counts fetches.
type fakeTUF struct {
	mu      sync.Mutex
	root    root.TrustedMaterial
	err     error
	fetches atomic.Int64
	now     time.Time
}

func (f *fakeTUF) fetch() (root.TrustedMaterial, error) {
	f.fetches.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.root, f.err
}

func (f *fakeTUF) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeTUF) set(tm root.TrustedMaterial, err error, advance time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.root, f.err = tm, err
	f.now = f.now.Add(advance)
}

func trustedRoot(t *testing.T, ss *verifytest.Sigstore) root.TrustedMaterial {
	t.Helper()
	b, err := ss.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := root.NewTrustedRootFromJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// waitFetches waits for the background refresh to have run n fetches.
func waitFetches(t *testing.T, f *fakeTUF, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for f.fetches.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d TUF fetches, want %d", f.fetches.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond) // and for its result to be stored
}

// A long-running verifier with the public-good root refreshes it: once a
// day by default (WithTUFRefresh here), in the background, keeping the old
// root while a refresh fails, and following a rotation once one succeeds.
func TestTUFRefresh(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	old, _ := mustSigstore(t)
	rotated, _ := mustSigstore(t)
	if _, err := verifytest.SignBundle(ctx, e.client, e.ref, old.Keyless(issuer, subject), verifytest.WithTransparencyLog(old)); err != nil {
		t.Fatal(err)
	}
	f := &fakeTUF{now: time.Unix(1_800_000_000, 0)}
	f.set(nil, errors.New("network down"), 0)
	defer cosign.SetTUF(f.fetch, f.clock)()
	v := mustVerifier(t, cosign.WithClient(e.client), cosign.WithPublicGoodTUF(t.TempDir()), cosign.WithTUFRefresh(time.Hour),
		cosign.WithIdentities(cosign.Identity{Issuer: issuer, Subject: subject}))

	// No root yet and the fetch fails: unavailable, not a verdict; the
	// next verification tries again.
	if _, err := v.Verify(ctx, e.ref); !errors.Is(err, verify.ErrUnavailable) {
		t.Fatalf("first fetch failing: err = %v, want ErrUnavailable", err)
	}
	f.set(trustedRoot(t, old), nil, 0)
	if _, err := v.Verify(ctx, e.ref); err != nil {
		t.Fatalf("with the root: %v", err)
	}
	if n := f.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	// Within the hour: no fetch.
	f.set(trustedRoot(t, old), nil, 59*time.Minute)
	if _, err := v.Verify(ctx, e.ref); err != nil {
		t.Fatal(err)
	}
	if n := f.fetches.Load(); n != 2 {
		t.Errorf("%d fetches within the refresh interval, want 2", n)
	}
	// Past it, with the network down: the verification goes on with the
	// root it has, the failed refresh is retried five minutes later.
	f.set(nil, errors.New("network down"), 2*time.Minute)
	if _, err := v.Verify(ctx, e.ref); err != nil {
		t.Fatalf("refresh failing: %v, want the old root still used", err)
	}
	waitFetches(t, f, 3)
	if _, err := v.Verify(ctx, e.ref); err != nil {
		t.Fatal(err)
	}
	if n := f.fetches.Load(); n != 3 {
		t.Errorf("%d fetches right after a failed refresh, want 3 (retried later)", n)
	}
	// Rotated: the refresh brings the new root, and what only the old one
	// trusts is refused from then on.
	f.set(trustedRoot(t, rotated), nil, 6*time.Minute)
	if _, err := v.Verify(ctx, e.ref); err != nil {
		t.Fatalf("the verification that starts the refresh is judged by the old root: %v", err)
	}
	waitFetches(t, f, 4)
	if _, err := v.Verify(ctx, e.ref); !errors.Is(err, verify.ErrVerificationFailed) {
		t.Errorf("after the rotation: err = %v, want ErrVerificationFailed", err)
	}
}

func TestTUFRefreshOptions(t *testing.T) {
	ident := cosign.WithIdentities(cosign.Identity{Issuer: issuer, Subject: subject})
	for name, opts := range map[string][]cosign.Option{
		"without TUF": {cosign.WithTrustedRootJSON([]byte("{}")), cosign.WithTUFRefresh(time.Hour), ident},
		"too short":   {cosign.WithPublicGoodTUF(""), cosign.WithTUFRefresh(time.Second), ident},
		"given twice": {cosign.WithPublicGoodTUF(""), cosign.WithTUFRefresh(time.Hour), cosign.WithTUFRefresh(2 * time.Hour), ident},
	} {
		if _, err := cosign.New(opts...); !errors.Is(err, cosign.ErrInvalidOption) {
			t.Errorf("%s: err = %v, want ErrInvalidOption", name, err)
		}
	}
}
