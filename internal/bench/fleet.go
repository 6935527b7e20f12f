package main

// The fleet mode of PERFORMANCE.md ("Many sources"), run by `make bench`
// after the single-fetch benchmark, or alone with -fleet N:
//
//  1. an in-memory ocitest registry with token auth and a per-request
//     latency (-latency, 5ms) holds N repositories (-fleet, 1,000), each a
//     ~2 KB Flux-layout artifact tagged 1.0.0;
//  2. side by side, rounds of N semver sources (">=1.0.0") fetched by W
//     workers (-workers, 32): "ours", one shared client behind a
//     Reconciler; "flux", the baseline of the targets: a fresh transport
//     per reconcile and source-controller's go-containerregistry calls
//     (remote.List, remote.Head, remote.Image, each with its own ping and
//     token; see fleet_flux.go); and "fresh", our own Fetcher given a fresh
//     client per reconcile, to show what sharing the client alone buys.
//     Rounds: cold (every source
//     fetched once), warm (nothing changed), 50 changed (a new 1.0.1 in 50
//     repositories);
//  3. a second registry whose /v2/ ping stalls 8 s, with one fetch to it in
//     flight while 100 fetches run against the healthy one on the same
//     client, against the same 100 fetches without it.
//
// It prints per round: wall, requests by kind, pings, tokens, TCP
// connections, peak RSS and bytes allocated per fetch, and a verdict
// against the targets. Allocation and RSS are the whole process's,
// registry included, so they overstate what the SDK itself costs.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
)

type fleetConfig struct {
	sources, workers int
	coldRuns         int
	latency, stall   time.Duration
	dir              string
}

// Targets of PERFORMANCE.md for the fleet.
const (
	targetColdSpeedup    = 3.0
	targetStallOverhead  = 1.10
	targetFleetRSS       = 64 << 20
	targetAllocPerFetch  = 64 << 10
	fleetUser, fleetPass = "bench", "bench-secret"
)

type fleetRound struct {
	name, mode    string
	wall          time.Duration
	kinds         map[string]int
	pings, tokens int
	conns         int
	peakRSS       int64
	peakHeap      int64
	liveHeap      int64 // after the round, after a GC: what the process keeps
	allocPerFetch int64
	failures      int
}

func runFleet(ctx context.Context, fc fleetConfig, out io.Writer) error {
	p := func(format string, args ...any) { fmt.Fprintf(out, format, args...) }
	// The fleet's targets are about requests and latency (PERFORMANCE.md:
	// "the limit is about N x requests-per-source x latency / W"), so its
	// sources are written to memory unless -dir names a place: on these
	// machines' disks creating a file costs up to a millisecond and swings
	// from run to run, which would measure the disk. Every way pays it alike.
	dir, where := fc.dir, "-dir"
	if dir == "" {
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			dir, where = "/dev/shm", "tmpfs by default; -dir DIR to measure a disk"
		} else {
			where = "the temporary directory"
		}
	}
	work, err := os.MkdirTemp(dir, "ocisource-fleet-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	p("fleet: sources written under %s (%s)\n", work, where)

	// The registries run in a child process, so that what this process's
	// RSS and heap show is the client side alone.
	reg, err := startRemoteRegistries(ctx, fc)
	if err != nil {
		return err
	}
	defer reg.close()
	repos := make([]string, fc.sources)
	for i := range repos {
		repos[i] = fmt.Sprintf("fleet/src%05d", i)
	}
	p("fleet: %d sources, %d workers, %v latency, token auth, in-memory registry in a child process; pushing...\n", fc.sources, fc.workers, fc.latency)
	if err := reg.pushFleet("healthy", "fleet/src", fc.sources, 1, "1.0.0"); err != nil {
		return err
	}

	ours, err := newFleetOurs(reg, fc, repos, filepath.Join(work, "ours"))
	if err != nil {
		return err
	}
	defer ours.stop()
	base := &fleetBaseline{reg: reg, fc: fc, repos: repos, dir: filepath.Join(work, "baseline")}
	flux := &fleetFlux{reg: reg, fc: fc, repos: repos, dir: filepath.Join(work, "flux")}

	var rounds []fleetRound
	measureRound := func(name, mode string, fn func() int) {
		reg.reset("healthy")
		settle()
		s := startSampler(sampleInterval)
		start := time.Now()
		failures := fn()
		wall := time.Since(start)
		m := s.stop()
		c := reg.counts("healthy")
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rounds = append(rounds, fleetRound{
			name: name, mode: mode, wall: wall, kinds: c.Kinds, pings: c.Pings, tokens: c.Tokens, conns: c.Conns,
			peakRSS: m.peakRSS, peakHeap: m.peakHeap, liveHeap: int64(ms.HeapAlloc),
			allocPerFetch: m.allocated / int64(fc.sources), failures: failures,
		})
	}
	// Interleaved, so drift affects all alike. The cold round is run
	// fc.coldRuns times, each with fresh clients, Reconciler and
	// directories, and judged by its median: on a shared machine's disk one
	// stall can double a one-second round.
	for i := 1; i < fc.coldRuns; i++ {
		dir := filepath.Join(work, fmt.Sprintf("cold%d", i))
		o, err := newFleetOurs(reg, fc, repos, filepath.Join(dir, "ours"))
		if err != nil {
			return err
		}
		name := fmt.Sprintf("cold %d", i)
		measureRound(name, "flux", (&fleetFlux{reg: reg, fc: fc, repos: repos, dir: filepath.Join(dir, "flux")}).round)
		measureRound(name, "fresh", (&fleetBaseline{reg: reg, fc: fc, repos: repos, dir: filepath.Join(dir, "baseline")}).round)
		measureRound(name, "ours", o.round)
		o.stop()
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	measureRound("cold", "flux", flux.round)
	measureRound("cold", "fresh", base.round)
	measureRound("cold", "ours", ours.round)
	measureRound("warm", "flux", flux.round)
	measureRound("warm", "fresh", base.round)
	measureRound("warm", "ours", ours.round)
	changed := min(50, len(repos))
	if err := reg.pushFleet("healthy", "fleet/src", changed, len(repos)/changed, "1.0.1"); err != nil {
		return err
	}
	measureRound(fmt.Sprintf("%d changed", changed), "flux", flux.round)
	measureRound(fmt.Sprintf("%d changed", changed), "fresh", base.round)
	measureRound(fmt.Sprintf("%d changed", changed), "ours", ours.round)

	p("\n%-10s %-9s %8s %6s %6s %6s %6s %9s %9s %9s %11s %s\n", "round", "client", "wall", "reqs", "pings", "tokens", "conns", "peak RSS", "peak heap", "live heap", "alloc/fetch", "requests by kind")
	for _, r := range rounds {
		total := 0
		for _, n := range r.kinds {
			total += n
		}
		fail := ""
		if r.failures > 0 {
			fail = fmt.Sprintf("  FAILED %d", r.failures)
		}
		p("%-10s %-9s %8s %6d %6d %6d %6d %8.1fM %8.1fM %8.1fM %10.1fK %s%s\n", r.name, r.mode, round(r.wall), total, r.pings, r.tokens, r.conns,
			float64(r.peakRSS)/(1<<20), float64(r.peakHeap)/(1<<20), float64(r.liveHeap)/(1<<20), float64(r.allocPerFetch)/1024, kindLine(r.kinds), fail)
	}

	stall, err := sickRegistry(ctx, reg, fc, work)
	if err != nil {
		return err
	}
	p("\nsick registry: with a fetch stalled %v in its ping on the same client, 100 new sources of the healthy registry took %s (%s without: %.2fx), 100 known ones %s (%s without)\n",
		fc.stall, round(stall.with), round(stall.without), stall.ratio(), round(stall.knownWith), round(stall.knownWithout))

	// Verdict.
	find := func(name, mode string) fleetRound {
		for _, r := range rounds {
			if r.name == name && r.mode == mode {
				return r
			}
		}
		return fleetRound{}
	}
	coldB, coldO, warmO := find("cold", "flux"), find("cold", "ours"), find("warm", "ours")
	median := func(mode string) time.Duration {
		var ws []time.Duration
		for _, r := range rounds {
			if r.mode == mode && strings.HasPrefix(r.name, "cold") {
				ws = append(ws, r.wall)
			}
		}
		sort.Slice(ws, func(i, j int) bool { return ws[i] < ws[j] })
		return ws[len(ws)/2]
	}
	speedup := median("flux").Seconds() / median("ours").Seconds()
	warmReqs := 0
	for _, n := range warmO.kinds {
		warmReqs += n
	}
	peak := int64(0)
	for _, r := range rounds {
		if r.mode == "ours" {
			peak = max(peak, r.peakRSS)
		}
	}
	p("\ntargets (PERFORMANCE.md, fleet):\n")
	p("  cold round %.1fx faster than Flux's way, a fresh client per reconcile (median of %d: %s against %s; target >= %.0fx)%s\n",
		speedup, fc.coldRuns, round(median("ours")), round(median("flux")), targetColdSpeedup, missed(speedup >= targetColdSpeedup))
	reqs := func(r fleetRound) int {
		n := 0
		for _, k := range r.kinds {
			n += k
		}
		return n
	}
	if reqs(coldO) > 0 {
		p("    (requests per source %.1f against %.1f, %.1fx fewer; our own Fetcher given a fresh client per reconcile: %.1fx)\n",
			float64(reqs(coldB))/float64(fc.sources), float64(reqs(coldO))/float64(fc.sources), float64(reqs(coldB))/float64(reqs(coldO)), median("fresh").Seconds()/median("ours").Seconds())
	}
	if warmB := find("warm", "flux"); warmO.wall > 0 {
		p("  warm round %.1fx faster than Flux's way\n", warmB.wall.Seconds()/warmO.wall.Seconds())
	}
	p("  warm round %d requests for %d semver sources (target exactly 2 each)%s\n", warmReqs, fc.sources, missed(warmReqs == 2*fc.sources))
	p("  %d ping(s) to the registry in the cold round (target 1)%s\n", coldO.pings, missed(coldO.pings == 1))
	p("  stalled registry adds %.0f%% to the others (target <= %.0f%%)%s\n", (stall.ratio()-1)*100, (targetStallOverhead-1)*100, missed(stall.ratio() <= targetStallOverhead))
	rssTarget := int64(targetFleetRSS)
	if fc.sources > 1000 {
		rssTarget = 2 * targetFleetRSS // PERFORMANCE.md: 128 MiB at 10,000
	}
	p("  peak RSS %.1f MiB (target < %d MiB)%s\n", float64(peak)/(1<<20), rssTarget>>20, missed(peak < rssTarget))
	p("  %.1f KiB allocated per fetch in the cold round (target <= %d KiB)%s\n", float64(coldO.allocPerFetch)/1024, targetAllocPerFetch>>10, missed(coldO.allocPerFetch <= targetAllocPerFetch))
	p("  %.1f KiB of heap kept per source after the warm round\n", float64(warmO.liveHeap)/float64(fc.sources)/1024)
	for _, r := range rounds {
		if r.failures > 0 {
			if e := flux.firstErr.Load(); e != nil && r.mode == "flux" {
				return fmt.Errorf("%d fetches failed in the %s round (%s), the first: %w", r.failures, r.name, r.mode, *e)
			}
			return fmt.Errorf("%d fetches failed in the %s round (%s)", r.failures, r.name, r.mode)
		}
	}
	return nil
}

func fleetFiles(i int, version string) map[string]string {
	body := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: src%05d\n  labels: {version: %q}\ndata:\n", i, version)
	for len(body) < 2000 {
		body += fmt.Sprintf("  key%04d: value-%d-%s\n", len(body), i, version)
	}
	return map[string]string{"configmap.yaml": body}
}

// fleetOurs is one shared client behind a Reconciler.
type fleetOurs struct {
	rec    *ocisource.Reconciler
	cancel context.CancelFunc
	done   chan struct{}
	names  []string
	// attempts counts finished attempts; failed the failed ones.
	attempts, failed atomic.Int64
	wake             chan struct{}
}

func newFleetOurs(reg *remoteRegistries, fc fleetConfig, repos []string, dir string) (*fleetOurs, error) {
	client, err := oci.NewClient(oci.WithInsecure(), oci.WithBasicAuth(fleetUser, fleetPass))
	if err != nil {
		return nil, err
	}
	f, err := ocisource.NewFetcher(ocisource.WithClient(client))
	if err != nil {
		return nil, err
	}
	o := &fleetOurs{wake: make(chan struct{}, 1), done: make(chan struct{})}
	rec, err := ocisource.NewReconciler(f, ocisource.WithWorkers(fc.workers), ocisource.WithJitter(0),
		ocisource.WithObserver(func(ob ocisource.Observation) {
			if ob.Reason != ocisource.ReasonSucceeded {
				o.failed.Add(1)
			}
			o.attempts.Add(1)
			select {
			case o.wake <- struct{}{}:
			default:
			}
		}))
	if err != nil {
		return nil, err
	}
	o.rec = rec
	for i, repo := range repos {
		name := fmt.Sprintf("src%05d", i)
		o.names = append(o.names, name)
		spec := ocisource.Spec{Source: ocisource.Source{URL: reg.url("healthy", repo), Ref: ocisource.Ref{SemVer: ">=1.0.0"}},
			Dir: filepath.Join(dir, name), Interval: 24 * time.Hour, Timeout: 2 * time.Minute}
		if err := rec.Set(name, spec); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// round runs one round: the first starts the Reconciler (every spec is
// due), the later ones trigger every spec. It returns the failures.
func (o *fleetOurs) round() int {
	want := o.attempts.Load() + int64(len(o.names))
	failedBefore := o.failed.Load()
	if o.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		o.cancel = cancel
		go func() { o.rec.Run(ctx); close(o.done) }()
	} else {
		for _, n := range o.names {
			o.rec.Trigger(n)
		}
	}
	for o.attempts.Load() < want {
		<-o.wake
	}
	return int(o.failed.Load() - failedBefore)
}

func (o *fleetOurs) stop() {
	if o.cancel != nil {
		o.cancel()
		<-o.done
	}
}

// fleetBaseline builds a fresh client and Fetcher for every reconcile.
type fleetBaseline struct {
	reg   *remoteRegistries
	fc    fleetConfig
	repos []string
	dir   string
}

func (b *fleetBaseline) round() int {
	var failed atomic.Int64
	_ = parallel(b.fc.workers, len(b.repos), func(i int) error {
		// Its own connections, closed when done: a client per reconcile
		// that left them open would hold a thousand idle connections.
		t := http.DefaultTransport.(*http.Transport).Clone()
		defer t.CloseIdleConnections()
		client, err := oci.NewClient(oci.WithInsecure(), oci.WithBasicAuth(fleetUser, fleetPass), oci.WithTransport(t))
		if err == nil {
			var f *ocisource.Fetcher
			if f, err = ocisource.NewFetcher(ocisource.WithClient(client)); err == nil {
				src := ocisource.Source{URL: b.reg.url("healthy", b.repos[i]), Ref: ocisource.Ref{SemVer: ">=1.0.0"}}
				_, err = f.Fetch(context.Background(), src, filepath.Join(b.dir, fmt.Sprintf("src%05d", i)))
			}
		}
		if err != nil {
			failed.Add(1)
		}
		return nil
	})
	return int(failed.Load())
}

type stallResult struct {
	with, without           time.Duration // 100 new sources
	knownWith, knownWithout time.Duration // 100 sources already fetched (cache hits)
}

func (s stallResult) ratio() float64 { return s.with.Seconds() / s.without.Seconds() }

// sickRegistry times 100 fetches of new sources from the healthy registry
// on one client, without and then with a fetch from a registry whose ping
// stalls in flight.
func sickRegistry(ctx context.Context, reg *remoteRegistries, fc fleetConfig, work string) (stallResult, error) {
	if err := reg.pushFleet("sick", "sick/src", 1, 1, "1.0.0"); err != nil {
		return stallResult{}, err
	}
	const n = 100
	for _, set := range []string{"a", "b", "c"} {
		if err := reg.pushFleet("healthy", "stall"+set+"/src", n, 1, "1.0.0"); err != nil {
			return stallResult{}, err
		}
	}
	client, err := oci.NewClient(oci.WithInsecure(), oci.WithBasicAuth(fleetUser, fleetPass))
	if err != nil {
		return stallResult{}, err
	}
	f, err := ocisource.NewFetcher(ocisource.WithClient(client))
	if err != nil {
		return stallResult{}, err
	}
	batch := func(set string) (time.Duration, error) {
		start := time.Now()
		var firstErr error
		var mu sync.Mutex
		_ = parallel(fc.workers, n, func(i int) error {
			src := ocisource.Source{URL: reg.url("healthy", fmt.Sprintf("stall%s/src%05d", set, i)), Ref: ocisource.Ref{SemVer: ">=1.0.0"}}
			if _, err := f.Fetch(ctx, src, filepath.Join(work, "stall", set, fmt.Sprint(i))); err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
			return nil
		})
		return time.Since(start), firstErr
	}
	// New sources before, during and after the stall (the stalled round is
	// compared with the mean of the two others, so drift cancels), then
	// the first ones again, already known, during the stall and after.
	var r stallResult
	var before, after time.Duration
	if before, err = batch("a"); err != nil {
		return r, err
	}
	if err := reg.control("stall", "reg=sick&d="+fc.stall.String()); err != nil {
		return r, err
	}
	defer reg.control("release", "reg=sick")
	stalled := make(chan error, 1)
	go func() {
		_, err := f.Fetch(ctx, ocisource.Source{URL: reg.url("sick", "sick/src00000"), Ref: ocisource.Ref{Tag: "1.0.0"}}, filepath.Join(work, "stall", "sick"))
		stalled <- err
	}()
	if err := reg.control("holding", "reg=sick"); err != nil {
		return r, fmt.Errorf("the sick registry's ping was never reached: %w", err)
	}
	if r.with, err = batch("b"); err != nil {
		return r, err
	}
	if r.knownWith, err = batch("a"); err != nil {
		return r, err
	}
	if err := reg.control("held", "reg=sick"); err != nil {
		return r, fmt.Errorf("the stall ended before the healthy fetches did (raise -stall): %w", err)
	}
	if err := reg.control("release", "reg=sick"); err != nil {
		return r, err
	}
	if err := <-stalled; err != nil {
		return r, fmt.Errorf("the stalled fetch: %w", err)
	}
	if after, err = batch("c"); err != nil {
		return r, err
	}
	if r.knownWithout, err = batch("a"); err != nil {
		return r, err
	}
	r.without = (before + after) / 2
	return r, nil
}

// parallel runs fn(0..n-1) on w goroutines and returns the first error.
func parallel(w, n int, fn func(int) error) error {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { firstErr = err })
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// kindsOf sorts a request log into kinds.
func kindsOf(reqs []ocitest.Request) map[string]int {
	out := map[string]int{}
	for _, r := range reqs {
		var kind string
		switch {
		case r.Path == "/v2/":
			kind = "ping"
		case r.Path == ocitest.TokenPath:
			kind = "token"
		case strings.Contains(r.Path, "/tags/list"):
			kind = "tags"
		case strings.Contains(r.Path, "/manifests/"):
			kind = r.Method + " manifest"
		case strings.Contains(r.Path, "/blobs/"):
			kind = r.Method + " blob"
		default:
			kind = r.Method + " other"
		}
		out[kind]++
	}
	return out
}

func kindLine(kinds map[string]int) string {
	var parts []string
	for k, n := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
