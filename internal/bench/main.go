// Command bench is the fetch benchmark of PERFORMANCE.md, run by `make bench`
// (BENCH_FLAGS passes flags). In one process it:
//
//  1. writes a deterministic payload (-size, default 128MiB: a quarter in
//     about 3,000 YAML-like text files, the rest in 32 MiB incompressible
//     files), packs it with push.LayerFromDir (tarball.Build), pushes and tags
//     it in a registry and signs it with a generated key (cosign legacy
//     format, no transparency log);
//  2. times each stage of a fetch alone over the same bytes, the median of
//     -reps runs: a raw HTTP GET of the blob (no hashing), sha256 of the
//     compressed blob, gzip inflation (klauspost/compress) and unpacking of
//     the inflated tar to disk (tarball.Extract, CompressionNone), with each
//     stage's CPU time from getrusage;
//  3. times ocisource.Fetcher.Fetch end to end (resolve by tag, keyed cosign
//     verification, pull, extract) -runs times, each with a fresh client and
//     into a fresh directory, sampling the RSS and the Go heap every few
//     milliseconds and logging the HTTP requests. Stage runs and fetches
//     are interleaved, round by round, so that a machine whose speed drifts
//     affects both alike; with -cpuprofile, -runs more fetches are profiled
//     afterwards, so no timing is taken under the profiler;
//  4. prints the stages, the limit max(slowest stage, sum of stage CPU /
//     cores), the fetch median and fetch/limit, memory and request counts,
//     a cache hit (a second fetch of the unchanged artifact into the same
//     directory), and a closing verdict against PERFORMANCE.md's targets.
//
// The registry is the in-memory ocitest one unless OCISOURCE_BENCH_REGISTRY
// names a real one ("host[:port]"; OCISOURCE_BENCH_INSECURE=1 for plain HTTP,
// OCISOURCE_BENCH_CA_FILE for a private CA; credentials from the docker
// config). Missed targets print MISSED; only errors exit non-zero.
//
// Usage:
//
//	go run ./internal/bench [-size 128MiB] [-runs 5] [-reps 5] [-warmup 1] [-dir DIR] [-keep] [-cpuprofile FILE]
//
// Memory: besides the registry's copy of the layer (in-memory registry),
// the process holds the compressed layer and the inflated tar while timing,
// about twice the payload size in all. Trees written during the timed
// rounds are removed only after them (a removal slows what follows it), so
// the work dir needs about (3 + warmup + reps + runs) times the payload size.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/oci/push"
	"github.com/ocisource/ocisource/tarball"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// Targets of PERFORMANCE.md.
const (
	targetRatio        = 1.25
	targetRSSAboveIdle = 64 << 20
	targetColdRequests = 6
	targetHitRequests  = 1
)

// sampleInterval is how often RSS and heap are read during a fetch.
const sampleInterval = 3 * time.Millisecond

type config struct {
	size       int64
	runs, reps int
	warmup     int
	dir        string
	keep       bool
	cpuprofile string
}

func main() {
	var cfg config
	size := flag.String("size", "128MiB", "payload size (e.g. 128MiB, 1GiB)")
	flag.IntVar(&cfg.runs, "runs", 5, "timed fetches (median reported)")
	flag.IntVar(&cfg.reps, "reps", 5, "repetitions of each stage timed alone (median reported)")
	flag.StringVar(&cfg.dir, "dir", "", "work directory (default: a new directory under "+os.TempDir()+")")
	flag.IntVar(&cfg.warmup, "warmup", 1, "untimed rounds (each stage and one fetch) before the timed ones")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the work directory")
	flag.StringVar(&cfg.cpuprofile, "cpuprofile", "", "after the timed runs, profile -runs more fetches (and nothing else) into this file")
	var fc fleetConfig
	flag.IntVar(&fc.sources, "fleet", 0, "run the fleet benchmark with this many sources instead of the single fetch (make bench runs both)")
	flag.IntVar(&fc.workers, "workers", 32, "fleet: workers")
	flag.IntVar(&fc.coldRuns, "cold-runs", 3, "fleet: cold rounds, each with fresh clients and directories (the median is judged)")
	flag.DurationVar(&fc.latency, "latency", 5*time.Millisecond, "fleet: latency the registry adds to each request")
	flag.DurationVar(&fc.stall, "stall", 8*time.Second, "fleet: how long the sick registry's ping stalls")
	serve := flag.Bool("serve-registries", false, "internal: serve the fleet's registries (the child process of -fleet)")
	flag.Parse()
	if *serve {
		if err := serveRegistries(fc.latency); err != nil {
			fmt.Fprintln(os.Stderr, "bench: registries:", err)
			os.Exit(1)
		}
		return
	}
	if fc.sources > 0 {
		fc.dir = cfg.dir
		if fc.workers < 1 || fc.latency < 0 || fc.stall <= 0 || fc.coldRuns < 1 {
			fmt.Fprintln(os.Stderr, "bench: -workers and -cold-runs must be at least 1, -latency at least 0, -stall positive")
			os.Exit(2)
		}
		if err := runFleet(context.Background(), fc, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	var err error
	if cfg.size, err = parseSize(*size); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if cfg.runs < 1 || cfg.reps < 1 || cfg.warmup < 0 {
		fmt.Fprintln(os.Stderr, "bench: -runs and -reps must be at least 1, -warmup at least 0")
		os.Exit(2)
	}
	if err := run(context.Background(), cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, out io.Writer) (err error) {
	p := func(format string, args ...any) { fmt.Fprintf(out, format, args...) }

	work := cfg.dir
	if work == "" {
		if work, err = os.MkdirTemp("", "ocisource-bench-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	if work, err = filepath.Abs(work); err != nil {
		return err
	}
	defer func() {
		if cfg.keep {
			p("\nwork directory kept: %s\n", work)
			return
		}
		if rerr := os.RemoveAll(work); rerr != nil && err == nil {
			err = rerr
		}
	}()

	cores := runtime.GOMAXPROCS(0)
	p("ocisource fetch benchmark\n")
	p("  %s %s/%s, %d CPUs, GOMAXPROCS %d, %s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cores, cpuModel())
	fs := fsType(work)
	p("  work dir %s (%s)\n", work, fs)
	if fs == "tmpfs" || fs == "ramfs" {
		p("  WARNING: the work dir is in memory; unpack times do not include a disk (use -dir on a disk)\n")
	}

	trees := int64(3 + 2*cfg.warmup + cfg.reps + cfg.runs)
	if cfg.cpuprofile != "" {
		trees += int64(cfg.runs)
	}
	if free := freeBytes(work); free >= 0 {
		need := trees * cfg.size * 11 / 10
		p("  work dir needs about %s, has %s free\n", mib(need), mib(free))
		if free < need {
			p("  WARNING: the work dir may run out of space (use -dir elsewhere, or fewer -runs/-reps)\n")
		}
	}

	reg, err := openRegistry()
	if err != nil {
		return err
	}
	defer reg.close()
	p("  registry: %s\n", reg.desc)

	// 1. Payload, layer, push, sign.
	src := filepath.Join(work, "src")
	t0 := time.Now()
	payload, err := writePayload(src, cfg.size)
	if err != nil {
		return fmt.Errorf("writing the payload: %w", err)
	}
	tWrite := time.Since(t0)
	t0 = time.Now()
	layer, cleanup, err := push.LayerFromDir(ctx, src)
	if err != nil {
		return fmt.Errorf("packing the payload: %w", err)
	}
	defer cleanup()
	tBuild := time.Since(t0)
	p("\npayload: %d bytes (%s) in %d files: %d text files (%s), %d incompressible (%s); written in %s\n",
		payload.bytes, mib(payload.bytes), payload.files, payload.textFiles, mib(payload.textBytes), payload.blobFiles, mib(payload.blobBytes), round(tWrite))
	p("layer:   %s, %d bytes (%s, %.1f%% of the payload); push.LayerFromDir (tarball.Build) in %s\n",
		layer.Descriptor.Digest, layer.Descriptor.Size, mib(layer.Descriptor.Size), 100*float64(layer.Descriptor.Size)/float64(payload.bytes), round(tBuild))

	pushClient, err := reg.newClient()
	if err != nil {
		return err
	}
	tag := fmt.Sprintf("bench-%d", cfg.size)
	ref := reg.ref(tag)
	t0 = time.Now()
	mdesc, err := push.Artifact(ctx, pushClient, ref, layer, push.WithCreated(time.Unix(0, 0).UTC()), push.WithSource("ocisource/internal/bench"))
	if err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	tPush := time.Since(t0)
	key, err := verifytest.NewKeyPair()
	if err != nil {
		return err
	}
	if _, err := verifytest.SignLegacy(ctx, pushClient, ref.WithDigest(mdesc.Digest), key, verifytest.WithoutTransparencyLog()); err != nil {
		return fmt.Errorf("signing %s: %w", ref, err)
	}
	p("pushed:  %s@%s in %s; signed with a generated ECDSA P-256 key (cosign legacy format, no tlog)\n", ref, mdesc.Digest, round(tPush))

	// 2 and 3. Stages alone and fetches, interleaved: round i times each
	// stage once (while i < reps) and then one fetch (while i < runs), so
	// that a machine whose speed drifts (other processes, writeback, the
	// file system's state) affects the stages and the fetches alike.
	maxTotal := max(tarball.DefaultMaxTotalBytes, 2*payload.bytes)
	blob, err := readLayer(layer)
	if err != nil {
		return err
	}
	cleanup()
	stages, err := newStages(ctx, reg, layer.Descriptor, blob, work, payload, maxTotal)
	if err != nil {
		return err
	}
	// The stages hold the layer and the tar until their last use below.
	stageBytes := int64(len(blob)) + stages[3].bytes

	pub := key.PublicKeyPEM()
	newFetcher := func() (*fetcher, error) {
		c, err := reg.newClient()
		if err != nil {
			return nil, err
		}
		v, err := cosign.New(cosign.WithClient(c), cosign.WithKeys(pub))
		if err != nil {
			return nil, err
		}
		fx := &fetcher{phases: &phaseClock{}}
		fx.f, err = ocisource.NewFetcher(ocisource.WithClient(c),
			ocisource.WithProgress(fx.phases.progress),
			ocisource.WithMaxLayerSize(maxTotal),
			ocisource.WithExtractOptions(tarball.WithMaxTotalBytes(maxTotal), tarball.WithMaxFileBytes(maxTotal)))
		fx.src = ocisource.Source{URL: ref.URL(), Ref: ocisource.Ref{Tag: tag}, Verifier: v}
		return fx, err
	}
	// fetchInto runs one cold fetch (new client) into a new directory
	// named name. Nothing is deleted until the end: removing a tree of
	// thousands of files keeps the file system busy for a while after
	// (journal, discards), which would slow whatever is timed next.
	var last *fetcher
	var lastDir string
	fetchInto := func(name string) (fetchResult, error) {
		fx, err := newFetcher()
		if err != nil {
			return fetchResult{}, err
		}
		d := filepath.Join(work, "fetch", name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fetchResult{}, err
		}
		last, lastDir = fx, filepath.Join(d, "out")
		r, err := fx.fetch(ctx, reg, lastDir, payload)
		if err != nil {
			return r, fmt.Errorf("fetch into %s: %w", lastDir, err)
		}
		return r, nil
	}

	// Warm-up rounds, not counted: on a fresh VM or after a pause, the
	// first trees written cost several times more per file (the kernel's
	// caches and the guest's memory are not yet populated).
	var warmups []string
	for i := range cfg.warmup {
		var line []string
		for _, st := range stages {
			if err := st.once(); err != nil {
				return err
			}
			line = append(line, fmt.Sprintf("%s %.2fs", strings.SplitN(st.name, ",", 2)[0], st.runs[0].wall.Seconds()))
			st.runs = nil
		}
		r, err := fetchInto(fmt.Sprintf("warmup-%d", i+1))
		if err != nil {
			return err
		}
		warmups = append(warmups, strings.Join(append(line, fmt.Sprintf("fetch %.2fs", r.s.wall.Seconds())), ", "))
	}

	coresBefore := availableCores(300 * time.Millisecond)
	var runs []fetchResult
	for i := range max(cfg.reps, cfg.runs) {
		if i < cfg.reps {
			for _, st := range stages {
				if err := st.once(); err != nil {
					return err
				}
			}
		}
		if i < cfg.runs {
			r, err := fetchInto(fmt.Sprintf("run-%d", i+1))
			if err != nil {
				return err
			}
			runs = append(runs, r)
		}
	}
	coresAfter := availableCores(300 * time.Millisecond)

	// The trees of the timed rounds are not needed any more (the last
	// fetch's stays for the cache hit).
	for _, d := range []string{filepath.Join(work, "unpack")} {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
	}
	if err := removeAllBut(filepath.Join(work, "fetch"), filepath.Base(filepath.Dir(lastDir))); err != nil {
		return err
	}

	var slowest *stage
	var sumCPU time.Duration
	for i, w := range warmups {
		p("\nwarm-up round %d (not counted): %s", i+1, w)
	}
	if len(warmups) > 0 {
		p("\n")
	}
	p("\nstages alone (median of %d, interleaved with the fetches; MiB/s over the bytes column):\n", cfg.reps)
	p("  %-26s %12s %12s %9s %10s %10s %9s\n", "stage", "bytes", "counted", "wall", "MiB/s", "CPU", "CPU/wall")
	for _, s := range stages {
		m := s.median()
		p("  %-26s %12s %12s %9s %10.1f %10s %9.2f\n", s.name, mib(s.bytes), s.what, secs(m.wall), mibps(s.bytes, m.wall), secs(m.cpu), float64(m.cpu)/float64(m.wall))
		if slowest == nil || m.wall > slowest.median().wall {
			slowest = s
		}
		sumCPU += m.cpu
	}
	cpuBound := sumCPU / time.Duration(cores)
	limit := max(slowest.median().wall, cpuBound)
	p("  %-26s %12s %12s %9s %10s %10s\n", "sum", "", "", "", "", secs(sumCPU))
	p("  limit = max(slowest stage alone %s [%s], sum of stage CPU %s / %d cores = %s) = %s\n",
		secs(slowest.median().wall), slowest.name, secs(sumCPU), cores, secs(cpuBound), secs(limit))
	p("  stage walls per round:")
	for _, s := range stages {
		p(" %s", strings.SplitN(s.name, ",", 2)[0])
		for _, r := range s.runs {
			p(" %.2f", r.wall.Seconds())
		}
		p(";")
	}
	p("\n")
	p("  GET is a plain http.Client GET into a reused %d KiB buffer (no hashing); sha256 and inflate read the layer from memory;\n", getBufferSize>>10)
	p("  unpack is tarball.Extract (CompressionNone) of the inflated tar from memory into a new dir on the work dir's file system.\n")
	if reg.inMemory {
		p("  A stage's CPU is the whole process's during it: the GET stage's includes the in-process registry's.\n")
	}

	p("\nFetcher.Fetch: resolve by tag + keyed cosign verify + pull + extract; %d runs, each with a new client and into a new dir;\n", cfg.runs)
	p("memory sampled every %s (RSS from /proc/self/statm, heap in use = runtime/metrics objects+unused); idle = just before the run\n", sampleInterval)
	p("(idle includes the registry's copy of the layer and the stages' %s of layer and tar held in memory):\n", mib(stageBytes))
	p("  %-6s %9s %10s %9s %9s %8s %10s %10s %10s %10s %10s %10s\n", "run", "wall", "MiB/s", "CPU", "CPU/wall", "requests", "RSS idle", "RSS peak", "above idle", "heap peak", "above idle", "allocated")
	var walls, cpus []time.Duration
	var maxAboveRSS, maxAboveHeap, maxAlloc int64
	for i, r := range runs {
		m := r.mem
		p("  %-6d %9s %10.1f %9s %9.2f %8d %10s %10s %10s %10s %10s %10s\n", i+1, secs(r.s.wall), mibps(payload.bytes, r.s.wall), secs(r.s.cpu),
			float64(r.s.cpu)/float64(r.s.wall), len(r.reqs), mib(m.idleRSS), mib(m.peakRSS), mib(m.peakRSS-m.idleRSS),
			mib(m.peakHeap), mib(m.peakHeap-m.idleHeap), mib(m.allocated))
		walls, cpus = append(walls, r.s.wall), append(cpus, r.s.cpu)
		maxAboveRSS = max(maxAboveRSS, m.peakRSS-m.idleRSS)
		maxAboveHeap = max(maxAboveHeap, m.peakHeap-m.idleHeap)
		maxAlloc = max(maxAlloc, m.allocated)
	}
	fetchMed := median(walls)
	p("  %-6s %9s %10.1f %9s   (MiB/s over the uncompressed payload)\n", "median", secs(fetchMed), mibps(payload.bytes, fetchMed), secs(median(cpus)))
	first := runs[0]
	idleBeforeFirst := first.mem.idleRSS
	p("\nphases of run 1 (time since Fetch was called, from WithProgress events):\n  %s\n", first.phaseLine())
	p("download of run 1, time when it passed each tenth of the compressed layer (in archive order):\n  %s\n", first.tenthsLine())
	p("requests of run 1 (cold: new client, new dir):\n")
	for _, q := range first.reqs {
		p("  %s\n", q)
	}
	var failed []request
	for _, q := range first.trips {
		if q.err != nil {
			failed = append(failed, q)
		}
	}
	p("client round trips of run 1 (counting transport under the oci.Client): %d, of which %d failed", len(first.trips), len(failed))
	if len(failed) > 0 {
		p(" (attempts that never became an HTTP request the registry saw, e.g. go-containerregistry's HTTPS ping racing HTTP):")
	}
	p("\n")
	for _, q := range failed {
		p("  %s\n", q)
	}

	// 4. Cache hit, and a cold fetch with a warm client.
	settle()
	reg.reset()
	hit, err := measure(func() error {
		a, err := last.f.Fetch(ctx, last.src, lastDir)
		if err == nil && !a.FromCache {
			err = fmt.Errorf("second fetch of the unchanged artifact into %s was not a cache hit", lastDir)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("cache hit: %w", err)
	}
	hitReqs := reg.requests()
	p("\ncache hit (same fetcher, same dir, artifact unchanged): %s, %d request(s):\n", secs(hit.wall), len(hitReqs))
	for _, q := range hitReqs {
		p("  %s\n", q)
	}

	warmDir := filepath.Join(work, "fetch", "warm-client", "out")
	if err := os.MkdirAll(filepath.Dir(warmDir), 0o755); err != nil {
		return err
	}
	warm, err := last.fetch(ctx, reg, warmDir, payload)
	if err != nil {
		return fmt.Errorf("fetch with a reused client: %w", err)
	}
	p("cold fetch with a reused client (connection, ping and token already there), new dir: %s, %d request(s):\n", secs(warm.s.wall), len(warm.reqs))
	for _, q := range warm.reqs {
		p("  %s\n", q)
	}

	p("\nRSS idle before the first fetch: %s; process VmHWM (lifetime high-water mark, includes setup and stages): %s\n",
		mib(idleBeforeFirst), mib(statusField("VmHWM")))
	p("peak during a fetch, above that run's idle: RSS %s, Go heap in use %s; most allocated by one fetch: %s\n",
		mib(maxAboveRSS), mib(maxAboveHeap), mib(maxAlloc))

	if cfg.cpuprofile != "" {
		if err := profileFetches(cfg, fetchInto); err != nil {
			return err
		}
		p("\nCPU profile of %d more fetches (new client, new dir each; not part of the timings above) written to %s\n", cfg.runs, cfg.cpuprofile)
	}

	// Verdict.
	ratio := float64(fetchMed) / float64(limit)
	p("\ncores available to this process (CPU/wall of %d busy goroutines for 0.3s): before the timed rounds %.2f, after them %.2f; load average now %s\n",
		cores, coresBefore, coresAfter, loadAvg())
	if least := min(coresBefore, coresAfter); least < 0.9*float64(cores) {
		p("WARNING: other processes held the cores (%.2f of %d available at worst): the limit assumes %d free cores, so fetch/limit is pessimistic and noisy; rerun on a quiet machine\n",
			least, cores, cores)
	}
	p("fetch median %s, limit %s\n", secs(fetchMed), secs(limit))
	p("fetch/limit = %.2f (target <= %.2f)%s\n", ratio, targetRatio, missed(ratio <= targetRatio))
	p("peak RSS during fetch = %s above idle (target < %s above idle at 1 GiB; payload here %s)%s\n",
		mib(maxAboveRSS), mib(targetRSSAboveIdle), mib(payload.bytes), missed(maxAboveRSS < targetRSSAboveIdle))
	cold := len(first.reqs)
	p("requests: cold fetch %d (target <= %d), cache hit %d (target %d)%s\n",
		cold, targetColdRequests, len(hitReqs), targetHitRequests, missed(cold <= targetColdRequests && len(hitReqs) == targetHitRequests))
	p("  (client round trips of the cold fetch, failed attempts included: %d, %d failed)\n", len(first.trips), len(failed))
	return nil
}

func missed(ok bool) string {
	if ok {
		return ""
	}
	return "  MISSED"
}

// removeAllBut removes every entry of dir except keep.
func removeAllBut(dir, keep string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() != keep {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// profileFetches writes a CPU profile of cfg.runs fetches, and of nothing
// else, to cfg.cpuprofile.
func profileFetches(cfg config, fetchInto func(name string) (fetchResult, error)) (err error) {
	f, err := os.Create(cfg.cpuprofile)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	settle()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	for i := range cfg.runs {
		if _, err := fetchInto(fmt.Sprintf("profiled-%d", i+1)); err != nil {
			return err
		}
	}
	return nil
}

// fetcher is a Fetcher with its source and a clock for its phases.
type fetcher struct {
	f      *ocisource.Fetcher
	src    ocisource.Source
	phases *phaseClock
}

type fetchResult struct {
	s      sample
	mem    memory
	reqs   []request
	trips  []request // client round trips, failed ones included
	phases []phaseMark
	tenths []time.Duration // when the download passed 10%, 20%, ... of the layer
}

func (r fetchResult) phaseLine() string {
	var parts []string
	for _, m := range r.phases {
		parts = append(parts, fmt.Sprintf("%s at %s", m.phase, secs(m.at)))
	}
	return strings.Join(parts, ", ") + fmt.Sprintf(", returned at %s", secs(r.s.wall))
}

// tenthsLine shows how the download (compressed bytes, in archive order)
// progressed: where a fetch spends its time along the archive.
func (r fetchResult) tenthsLine() string {
	var parts []string
	for i, at := range r.tenths {
		parts = append(parts, fmt.Sprintf("%d%% %s", 10*(i+1), secs(at)))
	}
	return strings.Join(parts, ", ")
}

// fetch runs one timed fetch into dir (which must not hold the artifact)
// and checks that it wrote the whole payload.
func (fx *fetcher) fetch(ctx context.Context, reg *registry, dir string, payload payloadStats) (fetchResult, error) {
	settle()
	reg.reset()
	smp := startSampler(sampleInterval)
	fx.phases.start()
	var a *ocisource.Artifact
	s, err := measure(func() error {
		var err error
		a, err = fx.f.Fetch(ctx, fx.src, dir)
		return err
	})
	mem := smp.stop()
	if err != nil {
		return fetchResult{}, err
	}
	switch {
	case a.FromCache:
		return fetchResult{}, fmt.Errorf("fetch into %s was a cache hit", dir)
	case a.Stats.Files != payload.files || a.Stats.Bytes != payload.bytes:
		return fetchResult{}, fmt.Errorf("fetch wrote %d files, %d bytes; want %d files, %d bytes", a.Stats.Files, a.Stats.Bytes, payload.files, payload.bytes)
	case a.Verification == nil || len(a.Verification.Signatures) == 0:
		return fetchResult{}, fmt.Errorf("fetch reports no verified signature")
	}
	r := fetchResult{s: s, mem: mem, reqs: reg.requests(), trips: reg.trips()}
	r.phases, r.tenths = fx.phases.marks()
	return r, nil
}

// phaseClock records when each phase of a fetch was first reported, and
// when the download passed each tenth of the layer.
type phaseClock struct {
	mu     sync.Mutex
	t0     time.Time
	got    []phaseMark
	tenths []time.Duration
}

type phaseMark struct {
	phase ocisource.Phase
	at    time.Duration
}

func (c *phaseClock) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t0, c.got, c.tenths = time.Now(), nil, nil
}

func (c *phaseClock) progress(pr ocisource.Progress) {
	c.mu.Lock()
	defer c.mu.Unlock()
	at := time.Since(c.t0)
	if pr.Phase == ocisource.PhaseDownload && pr.Total > 0 {
		for len(c.tenths) < 10 && pr.Bytes*10 >= pr.Total*int64(len(c.tenths)+1) {
			c.tenths = append(c.tenths, at)
		}
	}
	if n := len(c.got); n > 0 && c.got[n-1].phase == pr.Phase {
		return
	}
	c.got = append(c.got, phaseMark{phase: pr.Phase, at: at})
}

func (c *phaseClock) marks() ([]phaseMark, []time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]phaseMark(nil), c.got...), append([]time.Duration(nil), c.tenths...)
}

// readLayer reads the whole layer into memory.
func readLayer(l push.Layer) ([]byte, error) {
	rc, err := l.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b := make([]byte, l.Descriptor.Size)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("reading the layer: %w", err)
	}
	return b, nil
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

func mibps(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / (1 << 20) / d.Seconds()
}
