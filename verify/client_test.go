package verify_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/verify"
)

// reader is a verifier that reads from a registry: it reports, as the
// candidate of the signature it accepts, the name of the client it used.
type reader struct {
	key    string
	client *oci.Client
	own    bool // configured with a client of its own
	names  map[*oci.Client]string
}

func (r *reader) Verify(_ context.Context, ref oci.Reference) (*verify.Result, error) {
	name, ok := r.names[r.client]
	if !ok {
		name = "default client"
	}
	return &verify.Result{Ref: ref, Signatures: []verify.Signature{{Format: verify.FormatLegacy, KeyID: r.key, Candidate: name}}}, nil
}

func (r *reader) BindClient(c *oci.Client) verify.Verifier {
	if r.own {
		return r
	}
	cp := *r
	cp.client = c
	return &cp
}

func (r *reader) Fingerprint() string { return "reader:" + r.key }

func newClient(t *testing.T) *oci.Client {
	t.Helper()
	c, err := oci.NewClient(oci.WithAnonymous())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBindClient(t *testing.T) {
	fetcherClient, ownClient := newClient(t), newClient(t)
	names := map[*oci.Client]string{fetcherClient: "fetcher's client", ownClient: "own client"}
	r1 := &reader{key: "k1", names: names}
	r2 := &reader{key: "k2", names: names}
	r3 := &reader{key: "k3", names: names, own: true, client: ownClient}
	plain := fingerprinted{name: "plain"}
	inner := mustT(t)(verify.AnyOf(r2))
	policy := mustT(t)(verify.AllOf(r1, inner, mustT(t)(verify.Threshold(1, r3)), mustT(t)(verify.AnyOf(plain, r1))))

	candidates := func(v verify.Verifier) []string {
		t.Helper()
		res, err := v.Verify(context.Background(), pinned)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range res.Signatures {
			out = append(out, s.KeyID+" via "+s.Candidate)
		}
		return out
	}
	before := candidates(policy)
	fp := verify.FingerprintOf(policy)

	bound := verify.BindClient(policy, fetcherClient)
	want := []string{"k1 via fetcher's client", "k2 via fetcher's client", "k3 via own client", "k1 via fetcher's client"}
	if diff := cmp.Diff(want, candidates(bound)); diff != "" {
		t.Errorf("bound policy (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, candidates(policy)); diff != "" {
		t.Errorf("binding changed the caller's policy (-before +after):\n%s", diff)
	}
	if r1.client != nil || r2.client != nil {
		t.Error("binding modified the caller's verifiers")
	}
	if got := verify.FingerprintOf(bound); got != fp || got == "" {
		t.Errorf("fingerprint after binding = %q, want %q", got, fp)
	}
	if got := verify.FingerprintOf(verify.BindClient(r1, fetcherClient)); got != verify.FingerprintOf(r1) {
		t.Errorf("binding changed a verifier's fingerprint to %q", got)
	}

	if got := verify.BindClient(policy, nil); got != verify.Verifier(policy) {
		t.Errorf("BindClient(v, nil) = %v, want v", got)
	}
	if got := verify.BindClient(plain, fetcherClient); got != verify.Verifier(plain) {
		t.Errorf("BindClient of a verifier that reads no registry = %v, want it unchanged", got)
	}
	if got := verify.BindClient(r3, fetcherClient); got != verify.Verifier(r3) {
		t.Errorf("a verifier with a client of its own was rebound: %v", got)
	}
	if got := verify.BindClient(nil, fetcherClient); got != nil {
		t.Errorf("BindClient(nil) = %v", got)
	}
}

// TestBindClientConcurrent binds one policy to many clients at once while
// it verifies: each binding sees its own client (run with -race).
func TestBindClientConcurrent(t *testing.T) {
	names := map[*oci.Client]string{}
	clients := make([]*oci.Client, 8)
	for i := range clients {
		clients[i] = newClient(t)
		names[clients[i]] = fmt.Sprintf("client %d", i)
	}
	policy := mustT(t)(verify.AnyOf(&reader{key: "k", names: names}))
	var wg sync.WaitGroup
	errs := make(chan error, len(clients))
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := verify.BindClient(policy, c).Verify(context.Background(), pinned)
			if err != nil {
				errs <- err
				return
			}
			if got, want := res.Signatures[0].Candidate, fmt.Sprintf("client %d", i); got != want {
				errs <- fmt.Errorf("verified via %s, want %s", got, want)
			}
		}()
		go func() { _, _ = policy.Verify(context.Background(), pinned) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestIsUnavailable(t *testing.T) {
	refused := &oci.Error{Op: "manifest", Ref: "registry.example/org/app:sha256-ab.sig",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	status := func(code int, sentinel error) error {
		return &oci.Error{Op: "manifest", Ref: "registry.example/org/app:sha256-ab.sig", StatusCode: code, Err: fmt.Errorf("%w (HTTP %d)", sentinel, code)}
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"ErrUnavailable", verify.Unavailable(pinned, refused), true},
		{"connection refused", refused, true},
		{"503", status(503, oci.ErrRegistry), true},
		{"401", status(401, oci.ErrUnauthorized), true},
		{"403", status(403, oci.ErrUnauthorized), true},
		{"bare ErrRegistry", fmt.Errorf("listing: %w", oci.ErrRegistry), true},
		{"timeout", &oci.Error{Op: "blob", Err: context.DeadlineExceeded}, true},
		{"not found", status(404, oci.ErrNotFound), false},
		{"digest mismatch", &oci.Error{Op: "manifest", Err: oci.ErrDigestMismatch}, false},
		{"too large", &oci.Error{Op: "manifest", Err: oci.ErrTooLarge}, false},
		{"invalid descriptor", &oci.Error{Op: "blob", Err: fmt.Errorf("%w: negative size -1", oci.ErrInvalidDescriptor)}, false},
		{"no signatures", verify.NoSignatures(pinned, "tag"), false},
		{"verification failed", &verify.VerificationError{Ref: pinned, Failures: []verify.Failure{{Err: refused}}}, false},
		{"cancelled", context.Canceled, false},
		{"other", errors.New("bug"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := verify.IsUnavailable(tt.err); got != tt.want {
				t.Errorf("IsUnavailable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}

	err := verify.Unavailable(pinned, refused)
	var oe *oci.Error
	if !errors.Is(err, verify.ErrUnavailable) || !errors.As(err, &oe) || oe != refused {
		t.Errorf("Unavailable(%v) = %v: does not wrap both ErrUnavailable and the *oci.Error", refused, err)
	}
	if errors.Is(err, verify.ErrNoSignatures) || errors.Is(err, verify.ErrVerificationFailed) {
		t.Errorf("Unavailable error %v matches a verdict", err)
	}
	if !strings.Contains(err.Error(), "org/app") || !strings.Contains(err.Error(), "retry") {
		t.Errorf("message %q does not name the reference and say to retry", err)
	}
	if again := verify.Unavailable(pinned, err); strings.Count(again.Error(), verify.ErrUnavailable.Error()) != 1 {
		t.Errorf("wrapping twice repeats the sentinel: %v", again)
	}
}
