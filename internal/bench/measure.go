package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// cpuTime returns the user plus system CPU time the process has used so
// far, all threads included (getrusage RUSAGE_SELF).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sample is one timed run of something: wall and CPU time.
type sample struct {
	wall, cpu time.Duration
}

// measure runs fn once and returns its wall and CPU time.
func measure(fn func() error) (sample, error) {
	c0, t0 := cpuTime(), time.Now()
	err := fn()
	return sample{wall: time.Since(t0), cpu: cpuTime() - c0}, err
}

// medianOf returns the median wall and the median CPU time of samples
// (taken independently; the mean of the two middle values for an even count).
func medianOf(samples []sample) sample {
	walls := make([]time.Duration, len(samples))
	cpus := make([]time.Duration, len(samples))
	for i, s := range samples {
		walls[i], cpus[i] = s.wall, s.cpu
	}
	return sample{wall: median(walls), cpu: median(cpus)}
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// settle puts the process and the machine in the same state before every
// measurement: garbage collected, freed memory returned to the OS, dirty
// pages written back (so one run's writeback does not slow the next).
func settle() {
	runtime.GC()
	debug.FreeOSMemory()
	syscall.Sync()
}

var pageSize = int64(os.Getpagesize())

// rss returns the resident set size now, from /proc/self/statm.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(string(f[1]), 10, 64)
	return pages * pageSize
}

// statusField returns a "kB" field of /proc/self/status (VmHWM, VmRSS) in bytes.
func statusField(name string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, name+":"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return 0
			}
			kb, _ := strconv.ParseInt(f[0], 10, 64)
			return kb << 10
		}
	}
	return 0
}

var heapMetrics = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/gc/heap/allocs:bytes",
}

// heapNow returns the Go heap in use (objects plus unused parts of in-use
// spans, i.e. MemStats.HeapInuse) and the cumulative bytes allocated,
// read without stopping the world.
func heapNow(s []metrics.Sample) (inuse, allocs int64) {
	metrics.Read(s)
	for _, m := range s {
		if m.Value.Kind() != metrics.KindUint64 {
			continue
		}
		v := int64(m.Value.Uint64())
		switch m.Name {
		case "/gc/heap/allocs:bytes":
			allocs = v
		default:
			inuse += v
		}
	}
	return inuse, allocs
}

func newHeapSamples() []metrics.Sample {
	s := make([]metrics.Sample, len(heapMetrics))
	for i, n := range heapMetrics {
		s[i].Name = n
	}
	return s
}

// memory is what a sampler saw while it ran.
type memory struct {
	idleRSS, peakRSS   int64
	idleHeap, peakHeap int64
	allocated          int64 // bytes allocated on the Go heap while it ran
	samples            int
}

// sampler reads the RSS and the Go heap every interval until stopped.
type sampler struct {
	stopc chan struct{}
	wg    sync.WaitGroup
	m     memory
	hs    []metrics.Sample
	alloc int64
}

func startSampler(interval time.Duration) *sampler {
	s := &sampler{stopc: make(chan struct{}), hs: newHeapSamples()}
	s.m.idleRSS = rss()
	s.m.idleHeap, s.alloc = heapNow(s.hs)
	s.m.peakRSS, s.m.peakHeap = s.m.idleRSS, s.m.idleHeap
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stopc:
				return
			case <-t.C:
				s.read()
			}
		}
	}()
	return s
}

func (s *sampler) read() {
	r := rss()
	h, _ := heapNow(s.hs)
	s.m.peakRSS = max(s.m.peakRSS, r)
	s.m.peakHeap = max(s.m.peakHeap, h)
	s.m.samples++
}

// stop ends sampling and returns what was seen, including one last sample.
func (s *sampler) stop() memory {
	close(s.stopc)
	s.wg.Wait()
	s.read()
	_, a := heapNow(s.hs)
	s.m.allocated = a - s.alloc
	return s.m
}

// fsType names the file system holding path (from statfs), for the header.
func fsType(path string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return "unknown (" + err.Error() + ")"
	}
	names := map[int64]string{
		0xEF53:     "ext2/3/4",
		0x01021994: "tmpfs",
		0x58465342: "xfs",
		0x9123683E: "btrfs",
		0x794C7630: "overlayfs",
		0x2FC12FC1: "zfs",
		0x6969:     "nfs",
		0x65735546: "fuse",
		0x858458F6: "ramfs",
	}
	t := int64(st.Type)
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("type 0x%X", t)
}

// freeBytes returns the space available to unprivileged users on the file
// system holding path, or -1.
func freeBytes(path string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * st.Bsize
}

// cpuModel returns the CPU model name from /proc/cpuinfo, or "".
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
		}
	}
	return ""
}

// availableCores runs one busy goroutine per GOMAXPROCS for d and returns
// the CPU time the process got divided by the wall time: about GOMAXPROCS
// on an idle machine, less when other processes hold the cores. The limit
// assumes every core is free, so a low figure flags a run whose ratio is
// not to be trusted.
func availableCores(d time.Duration) float64 {
	n := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	c0, t0 := cpuTime(), time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := sha256.New()
			buf := make([]byte, 64<<10)
			for time.Since(t0) < d {
				h.Write(buf)
			}
		}()
	}
	wg.Wait()
	return float64(cpuTime()-c0) / float64(time.Since(t0))
}

// loadAvg returns the 1-minute load average, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
