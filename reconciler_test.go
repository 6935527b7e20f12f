package ocisource_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/tarball"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// recEnv is a registry, a Fetcher and a running Reconciler.
type recEnv struct {
	*env
	r       *ocisource.Reconciler
	cancel  context.CancelFunc
	done    chan error
	mu      sync.Mutex
	changes map[string][]ocisource.Status
	obs     []ocisource.Observation
}

func newRecEnv(t *testing.T, opts ...ocisource.ReconcilerOption) *recEnv {
	t.Helper()
	e := &recEnv{env: newEnv(t), changes: map[string][]ocisource.Status{}}
	opts = append([]ocisource.ReconcilerOption{
		ocisource.WithStatusHandler(func(s ocisource.Status) {
			e.mu.Lock()
			e.changes[s.Name] = append(e.changes[s.Name], s)
			e.mu.Unlock()
		}),
		ocisource.WithObserver(func(o ocisource.Observation) {
			e.mu.Lock()
			e.obs = append(e.obs, o)
			e.mu.Unlock()
		}),
	}, opts...)
	r, err := ocisource.NewReconciler(e.f, opts...)
	if err != nil {
		t.Fatal(err)
	}
	e.r = r
	return e
}

func (e *recEnv) run() {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- e.r.Run(ctx) }()
	e.t.Cleanup(e.stop)
}

func (e *recEnv) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		e.t.Fatal("Run did not return after its context ended")
	}
	e.cancel = nil
}

// waitFor polls the status of name until ok holds.
func (e *recEnv) waitFor(name string, what string, ok func(ocisource.Status) bool) ocisource.Status {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _ := e.r.Status(name)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not %s; status %+v", name, what, st)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func ready(st ocisource.Status) bool { return st.IsTrue(ocisource.ConditionReady) }

func (e *recEnv) attempts(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, o := range e.obs {
		if o.Name == name {
			n++
		}
	}
	return n
}

func (e *recEnv) spec(ref ocisource.Ref, dir string) ocisource.Spec {
	return ocisource.Spec{Source: e.src(ref), Dir: dir, Interval: time.Hour, Timeout: 10 * time.Second}
}

// TestReconcilerKeepsSpecsInSync: several specs become Ready, with their
// conditions, revisions and observations; a second round is all cache hits.
func TestReconcilerKeepsSpecsInSync(t *testing.T) {
	e := newRecEnv(t, ocisource.WithWorkers(2))
	base := t.TempDir()
	for i := range 5 {
		e.push(fmt.Sprintf("app:v%d", i), map[string]string{"v": fmt.Sprint(i)})
		if err := e.r.Set(fmt.Sprintf("s%d", i), e.spec(ocisource.Ref{Tag: fmt.Sprintf("v%d", i)}, filepath.Join(base, fmt.Sprint(i)))); err != nil {
			t.Fatal(err)
		}
	}
	e.run()
	for i := range 5 {
		name := fmt.Sprintf("s%d", i)
		st := e.waitFor(name, "Ready", ready)
		if !strings.HasPrefix(st.ObservedRevision, fmt.Sprintf("v%d@sha256:", i)) || st.Failures != 0 || st.LastSuccess.IsZero() {
			t.Errorf("%s: %+v", name, st)
		}
		for _, c := range []string{ocisource.ConditionArtifactInStorage} {
			if !st.IsTrue(c) {
				t.Errorf("%s: %s is not True: %+v", name, c, st.Conditions)
			}
		}
		for _, c := range []string{ocisource.ConditionReconciling, ocisource.ConditionStalled, ocisource.ConditionFetchFailed} {
			if _, ok := st.Condition(c); ok {
				t.Errorf("%s: condition %s present after success: %+v", name, c, st.Conditions)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(base, fmt.Sprint(i), "v")); string(b) != fmt.Sprint(i) {
			t.Errorf("%s: content %q", name, b)
		}
	}
	e.mu.Lock()
	for _, o := range e.obs {
		if o.Reason != ocisource.ReasonSucceeded || o.FromCache || o.Bytes == 0 || o.Phases[ocisource.PhaseDownload] == 0 || o.Phases[ocisource.PhaseResolve] == 0 {
			t.Errorf("observation %+v: want a success with bytes and phase times", o)
		}
	}
	e.mu.Unlock()
	// Each spec's handler saw it start (Reconciling) and then succeed. The
	// handler is called after the status changes, so Status can be Ready a
	// moment before the handler hears of it: wait for the call.
	for i := range 5 {
		name := fmt.Sprintf("s%d", i)
		deadline := time.Now().Add(20 * time.Second)
		for {
			e.mu.Lock()
			ch := append([]ocisource.Status(nil), e.changes[name]...)
			e.mu.Unlock()
			if len(ch) >= 2 && ready(ch[len(ch)-1]) {
				if !ch[0].IsTrue(ocisource.ConditionReconciling) {
					t.Errorf("%s: first change %v, want Reconciling", name, ch[0])
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: changes %v", name, ch)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	// Trigger all: the second round downloads nothing.
	for i := range 5 {
		e.r.Trigger(fmt.Sprintf("s%d", i))
	}
	for i := range 5 {
		e.waitFor(fmt.Sprintf("s%d", i), "two attempts", func(ocisource.Status) bool { return e.attempts(fmt.Sprintf("s%d", i)) >= 2 })
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, o := range e.obs[5:] {
		if !o.FromCache || o.Bytes != 0 {
			t.Errorf("second round: %+v, want a cache hit", o)
		}
	}
}

// TestReconcilerBackoff: a retryable failure is retried after a delay that
// doubles, with FetchFailed and Reconciling set and the old content kept;
// when the registry heals the spec becomes Ready.
func TestReconcilerBackoff(t *testing.T) {
	e := newRecEnv(t, ocisource.WithBackoff(40*time.Millisecond, 160*time.Millisecond))
	e.push("app:v1", v1)
	if _, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), e.dir); err != nil {
		t.Fatal(err)
	}
	e.push("app:v2", v2)
	e.reg.Inject(ocitest.Fault{PathContains: "/manifests/v2", Status: http.StatusServiceUnavailable, Times: 1000})
	if err := e.r.Set("app", e.spec(ocisource.Ref{Tag: "v2"}, e.dir)); err != nil {
		t.Fatal(err)
	}
	e.run()
	st := e.waitFor("app", "failed 4 times", func(s ocisource.Status) bool { return s.Failures >= 4 })
	if !st.IsTrue(ocisource.ConditionFetchFailed) || !st.IsTrue(ocisource.ConditionReconciling) || st.IsTrue(ocisource.ConditionStalled) {
		t.Errorf("conditions after failures: %+v", st.Conditions)
	}
	c, _ := st.Condition(ocisource.ConditionReady)
	if c.Status != "False" || c.Reason != ocisource.ReasonOCIPullFailed || !strings.Contains(c.Message, "keeps revision v1@") {
		t.Errorf("Ready = %+v, want False, OCIArtifactPullFailed, naming the revision kept", c)
	}
	if !st.IsTrue(ocisource.ConditionArtifactInStorage) || !strings.HasPrefix(st.ObservedRevision, "v1@") {
		t.Errorf("the stored artifact is not reported: %+v", st)
	}
	// The gaps between attempts grow: at least 40, 80, 160 ms.
	e.mu.Lock()
	var ends []time.Time
	for _, s := range e.changes["app"] {
		if !s.LastAttempt.IsZero() && (len(ends) == 0 || !s.LastAttempt.Equal(ends[len(ends)-1])) {
			ends = append(ends, s.LastAttempt)
		}
	}
	e.mu.Unlock()
	for i, min := range []time.Duration{40, 80, 160} {
		if i+1 < len(ends) {
			if gap := ends[i+1].Sub(ends[i]); gap < min*time.Millisecond {
				t.Errorf("gap %d between attempts %v, want at least %v", i, gap, min*time.Millisecond)
			}
		}
	}
	if diff := cmp.Diff(v1, tree(t, e.dir)); diff != "" {
		t.Errorf("content changed (-want +got):\n%s", diff)
	}
	e.reg.ClearFaults()
	st = e.waitFor("app", "Ready", ready)
	if !strings.HasPrefix(st.ObservedRevision, "v2@") || st.Failures != 0 {
		t.Errorf("after healing: %+v", st)
	}
}

// TestReconcilerStalls: an invalid target is not retried until the spec
// changes (or a Trigger asks); a new spec proceeds.
func TestReconcilerStalls(t *testing.T) {
	e := newRecEnv(t, ocisource.WithBackoff(5*time.Millisecond, 10*time.Millisecond))
	e.push("app:v1", v1)
	dir := filepath.Join(t.TempDir(), "mine")
	spec := e.spec(ocisource.Ref{Tag: "v1"}, dir)
	spec.Interval = 5 * time.Millisecond
	if err := e.r.Set("app", spec); err != nil {
		t.Fatal(err)
	}
	// Someone else's files appear in the directory after Set.
	writeTree(t, dir, map[string]string{"notes.txt": "mine"})
	e.run()
	st := e.waitFor("app", "Stalled", func(s ocisource.Status) bool { return s.IsTrue(ocisource.ConditionStalled) })
	if c, _ := st.Condition(ocisource.ConditionReady); c.Reason != ocisource.ReasonInvalidPath || !st.NextAttempt.IsZero() {
		t.Errorf("stalled status: %+v", st)
	}
	time.Sleep(100 * time.Millisecond) // twenty intervals
	if n := e.attempts("app"); n != 1 {
		t.Errorf("a stalled spec was attempted %d times, want 1", n)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "notes.txt")); string(b) != "mine" {
		t.Error("the user's file is gone")
	}
	// A Trigger tries once more (and stalls again).
	e.r.Trigger("app")
	e.waitFor("app", "tried twice", func(ocisource.Status) bool { return e.attempts("app") == 2 })
	// A new spec clears the stall.
	spec.Dir = filepath.Join(t.TempDir(), "new")
	if err := e.r.Set("app", spec); err != nil {
		t.Fatal(err)
	}
	st = e.waitFor("app", "Ready", ready)
	if st.IsTrue(ocisource.ConditionStalled) {
		t.Errorf("still stalled: %+v", st.Conditions)
	}
}

// TestReconcilerSetRejectsInvalidSpecs: checked at once, not added.
func TestReconcilerSetRejectsInvalidSpecs(t *testing.T) {
	e := newRecEnv(t)
	for name, spec := range map[string]ocisource.Spec{
		"bad url":  {Source: ocisource.Source{URL: "https://x"}, Dir: filepath.Join(t.TempDir(), "x")},
		"bad tag":  {Source: ocisource.Source{URL: e.reg.URL("app"), Ref: ocisource.Ref{Tag: "../x"}}, Dir: filepath.Join(t.TempDir(), "x")},
		"no dir":   {Source: e.src(ocisource.Ref{})},
		"negative": {Source: e.src(ocisource.Ref{}), Dir: filepath.Join(t.TempDir(), "x"), Interval: -time.Second},
	} {
		if err := e.r.Set(name, spec); !errors.Is(err, ocisource.ErrInvalidSource) {
			t.Errorf("%s: Set error = %v, want ErrInvalidSource", name, err)
		}
		if _, ok := e.r.Status(name); ok {
			t.Errorf("%s: added despite the error", name)
		}
	}
	if len(e.reg.Requests()) != 0 {
		t.Errorf("%d requests for invalid specs", len(e.reg.Requests()))
	}
}

// TestReconcilerUpdateTriggerRemove: an updated spec is fetched at once, a
// trigger picks up a moved tag, a removed spec is no longer attempted and
// its content stays.
func TestReconcilerUpdateTriggerRemove(t *testing.T) {
	e := newRecEnv(t)
	e.push("app:v1", v1)
	e.push("app:latest", map[string]string{"v": "a"})
	if err := e.r.Set("app", e.spec(ocisource.Ref{Tag: "v1"}, e.dir)); err != nil {
		t.Fatal(err)
	}
	e.run()
	e.waitFor("app", "Ready at v1", func(s ocisource.Status) bool { return strings.HasPrefix(s.ObservedRevision, "v1@") })
	// Setting the same spec again changes nothing.
	if err := e.r.Set("app", e.spec(ocisource.Ref{Tag: "v1"}, e.dir)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if n := e.attempts("app"); n != 1 {
		t.Errorf("re-setting the same spec made %d attempts, want 1", n)
	}
	// Update.
	if err := e.r.Set("app", e.spec(ocisource.Ref{Tag: "latest"}, e.dir)); err != nil {
		t.Fatal(err)
	}
	first := e.waitFor("app", "Ready at latest", func(s ocisource.Status) bool { return strings.HasPrefix(s.ObservedRevision, "latest@") })
	// The tag moves; the interval is an hour; Trigger fetches it now.
	e.push("app:latest", map[string]string{"v": "b"})
	if !e.r.Trigger("app") {
		t.Fatal("Trigger returned false")
	}
	e.waitFor("app", "at the moved tag", func(s ocisource.Status) bool {
		return s.ObservedRevision != first.ObservedRevision && strings.HasPrefix(s.ObservedRevision, "latest@")
	})
	if b, _ := os.ReadFile(filepath.Join(e.dir, "v")); string(b) != "b" {
		t.Errorf("content %q, want b", b)
	}
	// Remove. The observer hears of an attempt a moment after Status shows
	// it: wait for the third (v1, latest, the moved tag) to be counted.
	e.waitFor("app", "three attempts observed", func(ocisource.Status) bool { return e.attempts("app") >= 3 })
	n := e.attempts("app")
	if !e.r.Remove("app") || e.r.Remove("app") {
		t.Error("Remove reported wrongly")
	}
	if e.r.Trigger("app") {
		t.Error("Trigger of a removed spec returned true")
	}
	time.Sleep(20 * time.Millisecond)
	if e.attempts("app") != n {
		t.Error("a removed spec was attempted")
	}
	if b, _ := os.ReadFile(filepath.Join(e.dir, "v")); string(b) != "b" {
		t.Error("Remove changed the content")
	}
	if len(e.r.Statuses()) != 0 {
		t.Errorf("statuses after Remove: %v", e.r.Statuses())
	}
}

// TestReconcilerRestartFromDisk: a new Reconciler knows each directory's
// revision from its record before Run, with no request.
func TestReconcilerRestartFromDisk(t *testing.T) {
	e := newRecEnv(t)
	e.push("app:v1", v1)
	a, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), e.dir)
	if err != nil {
		t.Fatal(err)
	}
	e.reg.ResetRequests()
	if err := e.r.Set("app", e.spec(ocisource.Ref{Tag: "v1"}, e.dir)); err != nil {
		t.Fatal(err)
	}
	st, _ := e.r.Status("app")
	if st.ObservedRevision != a.Revision || !st.IsTrue(ocisource.ConditionArtifactInStorage) {
		t.Errorf("status before Run: %+v, want revision %s in storage", st, a.Revision)
	}
	if n := len(e.reg.Requests()); n != 0 {
		t.Errorf("%d requests before Run", n)
	}
	if got, err := e.f.Stored(e.dir); err != nil || got == nil || got.Revision != a.Revision {
		t.Errorf("Stored = %+v, %v", got, err)
	}
	if got, err := e.f.Stored(filepath.Join(t.TempDir(), "none")); err != nil || got != nil {
		t.Errorf("Stored(empty) = %+v, %v; want nothing", got, err)
	}
}

// TestReconcilerShutdownMidFetch: ending Run while a download is in flight
// cancels it, waits for it, and leaves the old content and no temporary tree.
func TestReconcilerShutdownMidFetch(t *testing.T) {
	e := newRecEnv(t)
	e.push("app:v1", v1)
	if _, err := e.f.Fetch(e.ctx, e.src(ocisource.Ref{Tag: "v1"}), e.dir); err != nil {
		t.Fatal(err)
	}
	before := siblings(t, e.dir)
	e.push("app:v2", v2)
	e.reg.Inject(ocitest.Fault{Method: http.MethodGet, PathContains: "/blobs/", Delay: 5 * time.Second, Times: 1000})
	if err := e.r.Set("app", e.spec(ocisource.Ref{Tag: "v2"}, e.dir)); err != nil {
		t.Fatal(err)
	}
	e.run()
	e.waitFor("app", "downloading", func(s ocisource.Status) bool {
		return s.IsTrue(ocisource.ConditionReconciling) && e.reg.CountRequests(http.MethodGet, "/blobs/") > 0
	})
	start := time.Now()
	e.stop()
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("Run took %v to stop; it should cancel the download", d)
	}
	assertUntouched(t, e.dir, v1, before)
}

// TestReconcilerVerificationFailureKeepsContent: a new revision signed by
// the wrong key is refused; the last good content stays, and the conditions
// say both.
func TestReconcilerVerificationFailureKeepsContent(t *testing.T) {
	e := newRecEnv(t)
	key, _ := verifytest.NewKeyPair()
	evil, _ := verifytest.NewKeyPair()
	sign := func(tag, content string, k *verifytest.KeyPair) {
		d := e.push("app:"+tag, map[string]string{"v": content})
		if _, err := verifytest.SignLegacy(e.ctx, e.reg.Client(), e.reg.Ref("app:"+tag).WithDigest(d.Digest), k, verifytest.WithoutTransparencyLog()); err != nil {
			t.Fatal(err)
		}
	}
	sign("latest", "good", key)
	v, err := cosign.New(cosign.WithKeys(key.PublicKeyPEM()))
	if err != nil {
		t.Fatal(err)
	}
	spec := e.spec(ocisource.Ref{}, e.dir)
	spec.Source.Verifier = v
	if err := e.r.Set("app", spec); err != nil {
		t.Fatal(err)
	}
	e.run()
	good := e.waitFor("app", "Ready", ready)
	if !good.IsTrue(ocisource.ConditionSourceVerified) {
		t.Errorf("verified content without SourceVerified: %+v", good.Conditions)
	}
	sign("latest", "evil", evil)
	e.r.Trigger("app")
	st := e.waitFor("app", "refused", func(s ocisource.Status) bool { return s.Failures > 0 })
	c, _ := st.Condition(ocisource.ConditionReady)
	sv, _ := st.Condition(ocisource.ConditionSourceVerified)
	if c.Status != "False" || c.Reason != ocisource.ReasonVerificationError || sv.Status != "False" ||
		!st.IsTrue(ocisource.ConditionArtifactInStorage) || st.ObservedRevision != good.ObservedRevision ||
		!strings.Contains(c.Message, "keeps revision "+good.ObservedRevision) {
		t.Errorf("after a refused revision: %+v", st)
	}
	if !errors.Is(st.Err, verify.ErrVerificationFailed) {
		t.Errorf("Err = %v", st.Err)
	}
	if b, _ := os.ReadFile(filepath.Join(e.dir, "v")); string(b) != "good" {
		t.Errorf("content %q", b)
	}
	// Not retried with backoff: it is due at the interval (an hour).
	if st.NextAttempt.Before(time.Now().Add(30 * time.Minute)) {
		t.Errorf("NextAttempt %v: a verification failure should wait for the interval", st.NextAttempt)
	}
}

// TestReconcilerBounds: never more attempts at once than workers, nor more
// per registry than the cap.
func TestReconcilerBounds(t *testing.T) {
	e := newRecEnv(t, ocisource.WithWorkers(3), ocisource.WithRegistryConcurrency(2))
	other := ocitest.NewT(t)
	var inFlight, maxInFlight atomic.Int32
	perHost := map[string]*atomic.Int32{e.reg.Host(): {}, other.Host(): {}}
	var maxPerHost atomic.Int32
	slow := verify.VerifierFunc(func(ctx context.Context, ref oci.Reference) (*verify.Result, error) {
		n := inFlight.Add(1)
		h := perHost[ref.Registry].Add(1)
		for _, m := range []struct {
			max *atomic.Int32
			v   int32
		}{{&maxInFlight, n}, {&maxPerHost, h}} {
			for {
				old := m.max.Load()
				if m.v <= old || m.max.CompareAndSwap(old, m.v) {
					break
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
		perHost[ref.Registry].Add(-1)
		inFlight.Add(-1)
		return &verify.Result{Ref: ref, Signatures: []verify.Signature{{KeyID: "k"}}}, nil
	})
	base := t.TempDir()
	for i := range 12 {
		reg := e.reg
		if i%2 == 1 {
			reg = other
		}
		if _, err := reg.PushFiles(e.ctx, "app:v1", v1); err != nil {
			t.Fatal(err)
		}
		spec := ocisource.Spec{Source: ocisource.Source{URL: reg.URL("app"), Ref: ocisource.Ref{Tag: "v1"}, Verifier: slow}, Dir: filepath.Join(base, fmt.Sprint(i)), Interval: time.Hour}
		if err := e.r.Set(fmt.Sprint(i), spec); err != nil {
			t.Fatal(err)
		}
	}
	// The Fetcher's client talks to both registries.
	e.run()
	for i := range 12 {
		e.waitFor(fmt.Sprint(i), "Ready", ready)
	}
	if maxInFlight.Load() > 3 || maxPerHost.Load() > 2 || maxInFlight.Load() < 2 {
		t.Errorf("at most %d attempts at once (%d per registry); want 2-3 and at most 2", maxInFlight.Load(), maxPerHost.Load())
	}
}

// TestReasonAndRetryable: the mapping the README's condition table gives.
func TestReasonAndRetryable(t *testing.T) {
	fe := func(phase, cause error) error {
		return &ocisource.FetchError{Phase: phase, URL: "oci://x/y", Err: cause}
	}
	for _, tc := range []struct {
		err       error
		reason    string
		retryable bool
	}{
		{nil, ocisource.ReasonSucceeded, false},
		{fe(ocisource.ErrInvalidSource, oci.ErrInvalidReference), ocisource.ReasonURLInvalid, false},
		{fe(ocisource.ErrInvalidSource, &ocisource.UnmanagedDirError{Dir: "/d"}), ocisource.ReasonInvalidPath, false},
		{fe(ocisource.ErrInvalidSource, ocisource.ErrInvalidTarget), ocisource.ReasonInvalidPath, false},
		{fe(ocisource.ErrInvalidSource, errors.New("bad semver")), ocisource.ReasonInvalidSource, false},
		{fe(ocisource.ErrFetchFailed, oci.ErrUnauthorized), ocisource.ReasonAuthenticationFailed, true},
		{fe(ocisource.ErrFetchFailed, ocisource.ErrLayerNotFound), ocisource.ReasonOCILayerOperationFailed, false},
		{fe(ocisource.ErrFetchFailed, oci.ErrNotFound), ocisource.ReasonOCIPullFailed, true},
		{fe(ocisource.ErrFetchFailed, context.DeadlineExceeded), ocisource.ReasonOCIPullFailed, true},
		{fe(ocisource.ErrFetchFailed, verify.ErrUnavailable), ocisource.ReasonOCIPullFailed, true},
		{fe(ocisource.ErrVerification, verify.ErrNoSignatures), ocisource.ReasonVerificationError, false},
		{fe(ocisource.ErrStorageFailed, tarball.ErrInsecurePath), ocisource.ReasonStorageOperationFailed, false},
		{fe(ocisource.ErrStorageFailed, os.ErrPermission), ocisource.ReasonStorageOperationFailed, true},
	} {
		if got := ocisource.Reason(tc.err); got != tc.reason {
			t.Errorf("Reason(%v) = %s, want %s", tc.err, got, tc.reason)
		}
		if got := ocisource.Retryable(tc.err); got != tc.retryable {
			t.Errorf("Retryable(%v) = %v, want %v", tc.err, got, tc.retryable)
		}
	}
}

// TestReconcilerSpecFetcher: a spec with a Fetcher of its own is fetched
// with it, the others with the Reconciler's.
func TestReconcilerSpecFetcher(t *testing.T) {
	e := newRecEnv(t)
	e.push("app:v1", v1) // two files: over a one-entry limit
	strict, err := ocisource.NewFetcher(ocisource.WithClient(e.reg.Client()), ocisource.WithExtractOptions(tarball.WithMaxEntries(1)))
	if err != nil {
		t.Fatal(err)
	}
	own := e.spec(ocisource.Ref{Tag: "v1"}, filepath.Join(t.TempDir(), "own"))
	own.Fetcher = strict
	if err := e.r.Set("own", own); err != nil {
		t.Fatal(err)
	}
	if err := e.r.Set("shared", e.spec(ocisource.Ref{Tag: "v1"}, filepath.Join(t.TempDir(), "shared"))); err != nil {
		t.Fatal(err)
	}
	e.run()
	e.waitFor("shared", "Ready", ready)
	st := e.waitFor("own", "failed", func(s ocisource.Status) bool { return s.Failures > 0 })
	var le *tarball.LimitError
	if !errors.As(st.Err, &le) {
		t.Errorf("own Fetcher's spec: Err = %v, want its entries limit", st.Err)
	}
}

// The Reconciler sets up the tokens of the specs next in line while the
// workers are busy, so a cold start of many sources of one token-auth
// registry costs a few merged token requests, not one per source.
func TestReconcilerPreparesTokens(t *testing.T) {
	reg := ocitest.NewT(t, ocitest.WithTokenAuth("fleet", "secret"), ocitest.WithLatency(2*time.Millisecond))
	ctx := context.Background()
	const n = 24
	for i := range n {
		if _, err := reg.PushFiles(ctx, fmt.Sprintf("fleet/app%02d:1.0.0", i), map[string]string{"v": fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	reg.ResetRequests()
	f, err := ocisource.NewFetcher(ocisource.WithClient(reg.Client()))
	if err != nil {
		t.Fatal(err)
	}
	var done atomic.Int64
	all := make(chan struct{})
	r, err := ocisource.NewReconciler(f, ocisource.WithWorkers(4), ocisource.WithJitter(0), ocisource.WithObserver(func(o ocisource.Observation) {
		if o.Reason != ocisource.ReasonSucceeded {
			t.Errorf("%s: %s", o.Name, o.Reason)
		}
		if done.Add(1) == n {
			close(all)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	for i := range n {
		spec := ocisource.Spec{Source: ocisource.Source{URL: reg.URL(fmt.Sprintf("fleet/app%02d", i)), Ref: ocisource.Ref{SemVer: "1.x"}},
			Dir: filepath.Join(base, fmt.Sprint(i)), Interval: time.Hour}
		if err := r.Set(fmt.Sprint(i), spec); err != nil {
			t.Fatal(err)
		}
	}
	rctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { r.Run(rctx); close(stopped) }()
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		t.Fatalf("%d of %d specs reconciled", done.Load(), n)
	}
	cancel()
	<-stopped
	t.Logf("%d token requests for %d sources", reg.TokenRequests(), n)
	if tk := reg.TokenRequests(); tk > n/2 {
		t.Errorf("%d token requests for %d sources on 4 workers, want far fewer than one each", tk, n)
	}
}
