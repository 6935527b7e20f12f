package ocisource

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/ocisource/ocisource/oci"
)

// Spec is one source a [Reconciler] keeps in sync: the artifact, where it
// goes, and how often to look. It mirrors OCIRepository's spec.
type Spec struct {
	// Source is what to fetch.
	Source Source
	// Dir is the directory to keep it in (see [Fetcher.Fetch] for what is
	// guaranteed about it).
	Dir string
	// Interval is how often to check for a new revision. The default is
	// [DefaultInterval].
	Interval time.Duration
	// Timeout bounds one attempt, verification included. The default is
	// [DefaultTimeout].
	Timeout time.Duration
	// Suspend stops reconciling the spec (its status and content stay).
	Suspend bool
	// Fetcher, when set, fetches this spec instead of the Reconciler's
	// (other credentials, a registry marked insecure). The default is the
	// Reconciler's.
	Fetcher *Fetcher
}

// Defaults of a [Spec] and a [Reconciler].
const (
	DefaultInterval   = 5 * time.Minute
	DefaultTimeout    = 60 * time.Second
	DefaultWorkers    = 8
	DefaultBackoffMin = time.Second
	DefaultBackoffMax = 5 * time.Minute
	// DefaultJitter spreads each interval by up to +10%, so specs added
	// together do not poll together for ever.
	DefaultJitter = 0.1
)

// ReconcilerOption configures a [Reconciler].
type ReconcilerOption func(*reconcilerOptions) error

type reconcilerOptions struct {
	workers, perRegistry   int
	backoffMin, backoffMax time.Duration
	jitter                 float64
	onChange               func(Status)
	observer               func(Observation)
	logger                 *slog.Logger
}

// WithWorkers bounds how many specs are reconciled at once; memory is
// bounded by it, not by the number of specs. The default is [DefaultWorkers].
func WithWorkers(n int) ReconcilerOption {
	return func(o *reconcilerOptions) error {
		if n < 1 {
			return fmt.Errorf("%w: WithWorkers(%d): want at least 1", ErrInvalidOption, n)
		}
		o.workers = n
		return nil
	}
}

// WithRegistryConcurrency bounds how many specs of one registry host are
// reconciled at once, so one registry cannot take every worker. The
// default is no bound beyond [WithWorkers].
func WithRegistryConcurrency(n int) ReconcilerOption {
	return func(o *reconcilerOptions) error {
		if n < 1 {
			return fmt.Errorf("%w: WithRegistryConcurrency(%d): want at least 1", ErrInvalidOption, n)
		}
		o.perRegistry = n
		return nil
	}
}

// WithBackoff sets the exponential backoff after a retryable failure
// ([Retryable]): min after the first, doubling up to max. The default is
// [DefaultBackoffMin] and [DefaultBackoffMax].
func WithBackoff(min, max time.Duration) ReconcilerOption {
	return func(o *reconcilerOptions) error {
		if min <= 0 || max < min {
			return fmt.Errorf("%w: WithBackoff(%v, %v): want 0 < min <= max", ErrInvalidOption, min, max)
		}
		o.backoffMin, o.backoffMax = min, max
		return nil
	}
}

// WithJitter adds up to fraction*interval (0 to 1) of random delay to each
// interval. The default is [DefaultJitter]; 0 turns it off.
func WithJitter(fraction float64) ReconcilerOption {
	return func(o *reconcilerOptions) error {
		if fraction < 0 || fraction > 1 {
			return fmt.Errorf("%w: WithJitter(%v): want 0 to 1", ErrInvalidOption, fraction)
		}
		o.jitter = fraction
		return nil
	}
}

// WithStatusHandler calls fn with a spec's new status each time it changes
// (an attempt starts or ends, a spec is suspended), from the Reconciler's
// goroutines. Calls for one spec come one at a time, an attempt's start
// before its end; calls for different specs may run at once, so a slow fn
// delays only its own spec. fn should return quickly and may call the
// Reconciler's methods. It is called just after the change is made, so
// Status can show a change a moment before fn hears of it. The default
// calls nothing.
func WithStatusHandler(fn func(Status)) ReconcilerOption {
	return func(o *reconcilerOptions) error {
		if fn == nil {
			return fmt.Errorf("%w: WithStatusHandler(nil)", ErrInvalidOption)
		}
		o.onChange = fn
		return nil
	}
}

// Observation is what a [Reconciler] reports after each attempt, for
// metrics.
type Observation struct {
	// Name is the spec's name.
	Name string
	// Reason is [Reason] of the attempt's error ("Succeeded" on success).
	Reason string
	// Duration is the whole attempt; Phases the time spent in each phase
	// (resolve, verify, download: the download includes extraction).
	Duration time.Duration
	Phases   map[Phase]time.Duration
	// Bytes is the size of the layer downloaded (0 for a cache hit).
	Bytes int64
	// FromCache is true when nothing was downloaded.
	FromCache bool
	// QueueDepth is how many specs were due and waiting for a worker when
	// the attempt ended.
	QueueDepth int
}

// WithObserver calls fn after each attempt (once Status shows its end),
// from the worker that ran it,
// with what a metrics system records (durations by phase, result by reason,
// bytes, cache hits, queue depth); the library keeps no metrics registry of
// its own. fn must return quickly. The default calls nothing.
func WithObserver(fn func(Observation)) ReconcilerOption {
	return func(o *reconcilerOptions) error {
		if fn == nil {
			return fmt.Errorf("%w: WithObserver(nil)", ErrInvalidOption)
		}
		o.observer = fn
		return nil
	}
}

// WithReconcilerLogger logs each attempt's outcome (debug for unchanged,
// info for a new revision, warn for failures). The default logs nothing.
func WithReconcilerLogger(l *slog.Logger) ReconcilerOption {
	return func(o *reconcilerOptions) error {
		if l == nil {
			return fmt.Errorf("%w: WithReconcilerLogger(nil)", ErrInvalidOption)
		}
		o.logger = l
		return nil
	}
}

// Reconciler keeps many named specs in sync with their registries: each is
// fetched at its interval (with jitter), by a bounded pool of workers, with
// exponential backoff after retryable failures; a spec whose Source is
// invalid is stalled until it changes. Specs are added, updated and removed
// at any time, also while [Reconciler.Run] runs. It is safe for concurrent
// use.
//
// What a failure does to a spec:
//
//   - retryable ([Retryable]): Ready=False, FetchFailed (or
//     StorageOperationFailed), retried after the backoff;
//   - an invalid Source or directory: Ready=False and Stalled=True, not
//     retried until [Reconciler.Set] gives a different spec (or
//     [Reconciler.Trigger] asks);
//   - a verification failure, or an archive refused: Ready=False (and
//     SourceVerified=False), tried again at the interval.
//
// In every case the directory keeps its last good content, and the status
// says so (ArtifactInStorage stays True, and the message names the revision
// kept).
type Reconciler struct {
	f    *Fetcher
	opts reconcilerOptions

	mu      sync.Mutex
	items   map[string]*item
	due     itemHeap // items waiting for their time, by next
	ready   []*item  // due, waiting for a worker
	running int
	perHost map[string]int
	wake    chan struct{}
	runCtx  context.Context // set by Run
	wg      sync.WaitGroup  // attempts in flight
	started bool
}

// item is one spec and its state.
type item struct {
	name   string
	spec   Spec
	host   string
	gen    int // bumped by Set with a different spec
	status Status
	next   time.Time // when due; zero when not scheduled
	index  int       // in the heap, or -1
	queued bool      // in ready
	cancel context.CancelFunc
	// stalled specs wait for a new spec (or a Trigger).
	stalled bool
	// triggered asks for another attempt right after the one in flight.
	triggered bool
	// repo is the spec's repository; prepared says its registry
	// authentication was set up ahead of this turn in the ready queue.
	repo     oci.Reference
	prepared bool
	// notifyMu keeps the status handler's calls for this spec one at a
	// time, without making other specs wait for them.
	notifyMu sync.Mutex
}

// NewReconciler returns a Reconciler that fetches with f.
func NewReconciler(f *Fetcher, opts ...ReconcilerOption) (*Reconciler, error) {
	if f == nil {
		return nil, fmt.Errorf("%w: NewReconciler(nil Fetcher)", ErrInvalidOption)
	}
	o := reconcilerOptions{workers: DefaultWorkers, backoffMin: DefaultBackoffMin, backoffMax: DefaultBackoffMax, jitter: DefaultJitter}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	return &Reconciler{f: f, opts: o, items: map[string]*item{}, perHost: map[string]int{}, wake: make(chan struct{}, 1)}, nil
}

// Set adds the spec called name, or updates it. The spec is checked at
// once (its Source and directory, without any request): an invalid one is
// an error wrapping [ErrInvalidSource], and is not added. A new spec starts
// from what its directory holds (its fetch record, read without any
// request) and is due at once; an updated spec that differs from the
// previous one cancels an attempt in flight, clears the backoff and a stall,
// and is due at once; setting the same spec again changes nothing.
func (r *Reconciler) Set(name string, spec Spec) error {
	if name == "" {
		return fmt.Errorf("%w: a spec needs a name", ErrInvalidSource)
	}
	if spec.Interval == 0 {
		spec.Interval = DefaultInterval
	}
	if spec.Timeout == 0 {
		spec.Timeout = DefaultTimeout
	}
	p, err := spec.check()
	if err != nil {
		return &FetchError{Phase: ErrInvalidSource, URL: spec.Source.URL, Err: fmt.Errorf("spec %q: %w", name, err)}
	}
	stored, _ := r.f.Stored(spec.Dir) // what is there is best effort: the first attempt tells

	r.mu.Lock()
	it := r.items[name]
	now := time.Now()
	switch {
	case it == nil:
		it = &item{name: name, spec: spec, host: p.repo.Registry, repo: p.repo, index: -1, status: Status{Name: name}}
		if stored != nil {
			it.status.stored(now, stored)
		}
		r.items[name] = it
	case sameSpec(it.spec, spec):
		r.mu.Unlock()
		return nil
	default:
		it.spec, it.host, it.repo = spec, p.repo.Registry, p.repo
		it.gen++
		it.stalled = false
		it.status.Failures = 0
		it.status.remove(ConditionStalled)
		if it.cancel != nil {
			it.cancel()
		}
	}
	var notify bool
	if spec.Suspend {
		r.unschedule(it)
		it.status.NextAttempt = time.Time{}
		it.status.set(now, ConditionReady, readyStatus(&it.status), ReasonSuspended, "reconciliation is suspended")
		it.status.remove(ConditionReconciling)
		notify = true
	} else {
		r.schedule(it, now)
	}
	st := it.status.clone()
	r.mu.Unlock()
	if notify {
		r.changed(it, st)
	}
	r.poke()
	return nil
}

// Validate checks spec as [Reconciler.Set] does, without any request: an
// invalid one is an error wrapping [ErrInvalidSource]. Callers that apply
// many specs at once check them all first.
func (s Spec) Validate() error {
	if _, err := s.check(); err != nil {
		return &FetchError{Phase: ErrInvalidSource, URL: s.Source.URL, Err: err}
	}
	return nil
}

func (s Spec) check() (parsed, error) {
	if s.Interval < 0 || s.Timeout < 0 {
		return parsed{}, errors.New("negative interval or timeout")
	}
	p, err := s.Source.parse()
	if err != nil {
		return p, err
	}
	if _, err := newTarget(s.Dir); err != nil {
		return p, err
	}
	return p, nil
}

func readyStatus(s *Status) string {
	if c, ok := s.Condition(ConditionReady); ok {
		return c.Status
	}
	return "Unknown"
}

// sameSpec compares specs; a Source's verifier compares by identity.
func sameSpec(a, b Spec) bool {
	if a.Dir != b.Dir || a.Interval != b.Interval || a.Timeout != b.Timeout || a.Suspend != b.Suspend || a.Fetcher != b.Fetcher {
		return false
	}
	x, y := a.Source, b.Source
	if x.URL != y.URL || x.Ref != y.Ref || x.Layer != y.Layer || x.Verifier != y.Verifier || len(x.Ignore) != len(y.Ignore) {
		return false
	}
	for i := range x.Ignore {
		if x.Ignore[i] != y.Ignore[i] {
			return false
		}
	}
	return true
}

// Remove stops reconciling name and forgets it; an attempt in flight is
// cancelled. The directory keeps its content. It reports whether name was
// known.
func (r *Reconciler) Remove(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	it := r.items[name]
	if it == nil {
		return false
	}
	r.unschedule(it)
	if it.cancel != nil {
		it.cancel()
	}
	delete(r.items, name)
	it.gen = -1 // an attempt in flight does not reschedule it
	return true
}

// Trigger makes name due now (also when stalled), like Flux's
// reconcile.fluxcd.io/requestedAt annotation. An attempt in flight is not
// interrupted. It reports whether name is known and not suspended.
func (r *Reconciler) Trigger(name string) bool {
	r.mu.Lock()
	it := r.items[name]
	if it == nil || it.spec.Suspend {
		r.mu.Unlock()
		return false
	}
	it.stalled = false
	if it.cancel == nil {
		r.schedule(it, time.Now())
	} else {
		it.triggered = true // again as soon as the attempt in flight ends
	}
	r.mu.Unlock()
	r.poke()
	return true
}

// Status returns the status of name.
func (r *Reconciler) Status(name string) (Status, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	it := r.items[name]
	if it == nil {
		return Status{}, false
	}
	return it.status.clone(), true
}

// Statuses returns the status of every spec, by name.
func (r *Reconciler) Statuses() []Status {
	r.mu.Lock()
	out := make([]Status, 0, len(r.items))
	for _, it := range r.items {
		out = append(out, it.status.clone())
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Run reconciles the specs until ctx ends, then cancels the attempts in
// flight, waits for them (each leaves its directory as it was: no temporary
// tree stays) and returns nil. It may be called once.
func (r *Reconciler) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return errors.New("ocisource: Reconciler.Run called twice")
	}
	r.started = true
	r.runCtx = ctx
	r.mu.Unlock()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := r.dispatch(ctx)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			r.wg.Wait()
			return nil
		case <-r.wake:
		case <-timer.C:
		}
	}
}

// poke wakes Run.
func (r *Reconciler) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// schedule makes it due at t. Caller holds r.mu.
func (r *Reconciler) schedule(it *item, t time.Time) {
	if it.queued {
		return // already due, waiting for a worker
	}
	it.next = t
	it.status.NextAttempt = t
	if it.index >= 0 {
		heap.Fix(&r.due, it.index)
	} else {
		heap.Push(&r.due, it)
	}
}

// unschedule takes it out of the heap and the ready queue. Caller holds r.mu.
func (r *Reconciler) unschedule(it *item) {
	if it.index >= 0 {
		heap.Remove(&r.due, it.index)
	}
	if it.queued {
		for i, q := range r.ready {
			if q == it {
				r.ready = append(r.ready[:i], r.ready[i+1:]...)
				break
			}
		}
		it.queued = false
	}
	it.next = time.Time{}
}

// dispatch moves due items to the ready queue, starts as many as the
// bounds allow, and returns how long until the next is due.
func (r *Reconciler) dispatch(ctx context.Context) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for r.due.Len() > 0 && !r.due[0].next.After(now) {
		it := heap.Pop(&r.due).(*item)
		if it.cancel != nil {
			continue // running: it reschedules itself
		}
		it.queued = true
		it.prepared = false
		r.ready = append(r.ready, it)
	}
	kept := r.ready[:0]
	for _, it := range r.ready {
		if ctx.Err() == nil && r.running < r.opts.workers && (r.opts.perRegistry == 0 || r.perHost[it.host] < r.opts.perRegistry) {
			it.queued = false
			r.start(ctx, it)
			continue
		}
		kept = append(kept, it)
	}
	for i := len(kept); i < len(r.ready); i++ {
		r.ready[i] = nil
	}
	r.ready = kept
	r.prepare(ctx)
	if r.due.Len() == 0 {
		return time.Hour
	}
	return max(time.Until(r.due[0].next), time.Millisecond)
}

// prepare sets up registry authentication for the specs next in the ready
// queue, in the background, so that when a worker takes one its token is
// there: the token exchanges of a registry asked for together go out as one
// request ([oci.Client.Authorize]). The window is twice the workers, topped
// up in one go once half of it has been taken, so that the exchanges it
// asks for are merged rather than sent one by one. Caller holds r.mu.
func (r *Reconciler) prepare(ctx context.Context) {
	window := min(len(r.ready), 2*r.opts.workers)
	ahead := 0
	for _, it := range r.ready[:window] {
		if it.prepared {
			ahead++
		}
	}
	if ahead >= window/2 && ahead > 0 {
		return
	}
	var byClient map[*oci.Client][]oci.Reference
	for _, it := range r.ready[:window] {
		if it.prepared || it.repo.Layout != "" {
			continue
		}
		it.prepared = true
		f := it.spec.Fetcher
		if f == nil {
			f = r.f
		}
		if byClient == nil {
			byClient = map[*oci.Client][]oci.Reference{}
		}
		byClient[f.client] = append(byClient[f.client], it.repo)
	}
	for c, refs := range byClient {
		r.wg.Go(func() { _ = c.Authorize(ctx, refs...) })
	}
}

// start runs one attempt of it on a new goroutine. Caller holds r.mu.
func (r *Reconciler) start(ctx context.Context, it *item) {
	actx, cancel := context.WithTimeout(ctx, it.spec.Timeout)
	it.cancel = cancel
	it.next = time.Time{}
	it.status.NextAttempt = time.Time{}
	it.status.progressing(time.Now())
	r.running++
	r.perHost[it.host]++
	gen, spec := it.gen, it.spec
	st := it.status.clone()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.changed(it, st)
		r.attempt(actx, cancel, it, gen, spec)
	}()
}

// attempt fetches spec and records the outcome.
func (r *Reconciler) attempt(ctx context.Context, cancel context.CancelFunc, it *item, gen int, spec Spec) {
	defer cancel()
	phases := map[Phase]time.Duration{}
	var cur Phase
	var curStart time.Time
	hook := func(p Progress) {
		if p.Phase == cur {
			return
		}
		now := time.Now()
		if cur != "" {
			phases[cur] += now.Sub(curStart)
		}
		cur, curStart = p.Phase, now
	}
	start := time.Now()
	f := spec.Fetcher
	if f == nil {
		f = r.f
	}
	a, err := f.Fetch(context.WithValue(ctx, progressHookKey{}, hook), spec.Source, spec.Dir)
	end := time.Now()
	if cur != "" && cur != PhaseDone {
		phases[cur] += end.Sub(curStart)
	}
	shutdown := r.runCtx.Err() != nil

	r.mu.Lock()
	r.running--
	if r.perHost[it.host]--; r.perHost[it.host] <= 0 {
		delete(r.perHost, it.host)
	}
	it.cancel = nil
	var st Status
	var notify bool
	switch {
	case it.gen != gen:
		// Updated or removed meanwhile: this attempt's outcome is moot.
		if it.gen >= 0 && !it.spec.Suspend && !shutdown {
			r.schedule(it, end)
		}
	case shutdown && err != nil:
		// Cancelled by Run's end: not an outcome worth reporting.
	default:
		retryAt := r.nextAfter(it, spec, err, end)
		if it.triggered {
			retryAt, it.triggered = end, false
		} else if err != nil && errors.Is(err, ErrInvalidSource) {
			it.stalled = true
		}
		it.status.finished(end, a, err, retryAt)
		if !it.stalled && !shutdown {
			r.schedule(it, retryAt)
		}
		st, notify = it.status.clone(), true
	}
	depth := len(r.ready)
	r.mu.Unlock()
	r.poke()
	if notify {
		r.changed(it, st)
		r.observe(it.name, a, err, end.Sub(start), phases, depth)
		r.log(ctx, it.name, a, err)
	}
}

// nextAfter is when spec is due after an attempt that ended at end with err.
// Caller holds r.mu.
func (r *Reconciler) nextAfter(it *item, spec Spec, err error, end time.Time) time.Time {
	if err != nil && Retryable(err) {
		d := r.opts.backoffMin
		for i := 0; i < it.status.Failures && d < r.opts.backoffMax; i++ {
			d *= 2
		}
		return end.Add(min(d, r.opts.backoffMax))
	}
	if err != nil && errors.Is(err, ErrInvalidSource) {
		return time.Time{}
	}
	d := spec.Interval
	if r.opts.jitter > 0 {
		d += time.Duration(rand.Float64() * r.opts.jitter * float64(d))
	}
	return end.Add(d)
}

func (r *Reconciler) changed(it *item, st Status) {
	if r.opts.onChange == nil {
		return
	}
	it.notifyMu.Lock()
	defer it.notifyMu.Unlock()
	r.opts.onChange(st)
}

func (r *Reconciler) observe(name string, a *Artifact, err error, d time.Duration, phases map[Phase]time.Duration, depth int) {
	if r.opts.observer == nil {
		return
	}
	o := Observation{Name: name, Reason: Reason(err), Duration: d, Phases: phases, QueueDepth: depth}
	if a != nil {
		o.FromCache = a.FromCache
		if !a.FromCache {
			o.Bytes = a.Size
		}
	}
	r.opts.observer(o)
}

func (r *Reconciler) log(ctx context.Context, name string, a *Artifact, err error) {
	l := r.opts.logger
	switch {
	case l == nil:
	case err != nil:
		l.WarnContext(ctx, "reconcile failed", "name", name, "reason", Reason(err), "retryable", Retryable(err), "error", err)
	case a.FromCache:
		l.DebugContext(ctx, "artifact unchanged", "name", name, "revision", a.Revision)
	default:
		l.InfoContext(ctx, "artifact stored", "name", name, "revision", a.Revision, "bytes", a.Size)
	}
}

// itemHeap orders items by when they are due.
type itemHeap []*item

func (h itemHeap) Len() int           { return len(h) }
func (h itemHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h itemHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *itemHeap) Push(x any) {
	it := x.(*item)
	it.index = len(*h)
	*h = append(*h, it)
}
func (h *itemHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	it.index = -1
	*h = old[:len(old)-1]
	return it
}
