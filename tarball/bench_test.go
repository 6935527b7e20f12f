package tarball_test

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/ocisource/ocisource/tarball"
)

var payloadMiB = flag.Int64("payload-mib", 128, "size of the benchmark payload in MiB")

var bench struct {
	once    sync.Once
	files   []PayloadFile
	size    int64
	archive []byte
	err     error
}

// benchArchive builds the payload and its tar.gz once per process.
func benchArchive(b *testing.B) ([]PayloadFile, []byte, int64) {
	b.Helper()
	bench.once.Do(func() {
		bench.files = BenchPayload(*payloadMiB << 20)
		for _, f := range bench.files {
			bench.size += int64(len(f.Data))
		}
		src, err := os.MkdirTemp("", "tarball-bench-src-")
		if err != nil {
			bench.err = err
			return
		}
		defer os.RemoveAll(src)
		if bench.err = WritePayload(src, bench.files); bench.err != nil {
			return
		}
		var buf bytes.Buffer
		bench.err = tarball.Build(context.Background(), src, &buf)
		bench.archive = buf.Bytes()
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.files, bench.archive, bench.size
}

func extractOnce(b *testing.B, archive []byte, dir string) {
	if _, err := tarball.Extract(context.Background(), bytes.NewReader(archive), dir); err != nil {
		b.Fatal(err)
	}
}

func baselineOnce(b *testing.B, archive []byte, files []PayloadFile, dir string) {
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, zr); err != nil {
		b.Fatal(err)
	}
	if err := WritePayload(dir, files); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkExtract extracts the payload's tar.gz into a new directory.
func BenchmarkExtract(b *testing.B) {
	_, archive, size := benchArchive(b)
	parent := b.TempDir()
	b.SetBytes(size)
	i := 0
	for b.Loop() {
		dir := filepath.Join(parent, strconv.Itoa(i))
		extractOnce(b, archive, dir)
		b.StopTimer()
		os.RemoveAll(dir)
		i++
		b.StartTimer()
	}
}

// BenchmarkInflateAndWriteBaseline is the floor Extract is held to: inflate
// the same stream into io.Discard, then write the same files plainly.
func BenchmarkInflateAndWriteBaseline(b *testing.B) {
	files, archive, size := benchArchive(b)
	parent := b.TempDir()
	b.SetBytes(size)
	i := 0
	for b.Loop() {
		dir := filepath.Join(parent, strconv.Itoa(i))
		baselineOnce(b, archive, files, dir)
		b.StopTimer()
		os.RemoveAll(dir)
		i++
		b.StartTimer()
	}
}

// BenchmarkExtractVsBaseline alternates the two in one loop and reports
// extract/baseline wall time as the "ratio" metric, which is what
// PERFORMANCE.md asks for (target: at most 1.2), and the same for CPU time
// of the process as "cpu-ratio", which other load on a shared machine
// disturbs less. Extract inflates on a second goroutine, so on an idle
// machine with two cores its wall time approaches the slower of inflating
// and writing rather than their sum.
func BenchmarkExtractVsBaseline(b *testing.B) {
	files, archive, size := benchArchive(b)
	parent := b.TempDir()
	b.SetBytes(size)
	var tExtract, tBase, cExtract, cBase time.Duration
	i := 0
	for b.Loop() {
		dir := filepath.Join(parent, strconv.Itoa(i))
		start, cpu := time.Now(), processCPU()
		baselineOnce(b, archive, files, dir+"-base")
		tBase += time.Since(start)
		cBase += processCPU() - cpu
		start, cpu = time.Now(), processCPU()
		extractOnce(b, archive, dir)
		tExtract += time.Since(start)
		cExtract += processCPU() - cpu
		b.StopTimer()
		os.RemoveAll(dir)
		os.RemoveAll(dir + "-base")
		i++
		b.StartTimer()
	}
	b.ReportMetric(float64(tExtract)/float64(tBase), "ratio")
	b.ReportMetric(float64(cExtract)/float64(cBase), "cpu-ratio")
	b.ReportMetric(float64(tBase.Milliseconds())/float64(i), "baseline-ms/op")
	b.ReportMetric(float64(tExtract.Milliseconds())/float64(i), "extract-ms/op")
}

// deepTree is the archive of a 3,000-file tree whose directories nest 250
// deep (12 files per level), the shape that made ancestor-by-ancestor ignore
// matching slow.
func deepTree(b testing.TB) []byte {
	var ents []ent
	dir := ""
	for i := range 3000 {
		if i%12 == 0 {
			dir += "d" + strconv.Itoa(i/12) + "/"
		}
		ents = append(ents, file(dir+"f"+strconv.Itoa(i)+".yaml", "kind: ConfigMap\n"))
	}
	return tarOf(b, ents...)
}

// BenchmarkExtractIgnore extracts the deep tree with no patterns, a plain
// one and one built to backtrack ("**/" twelve times, then "x"). The target
// is a plain pattern within 1.2x of none, and the hostile one no slower
// than the plain one.
func BenchmarkExtractIgnore(b *testing.B) {
	archive := deepTree(b)
	hostile := strings.Repeat("**/", 12) + "x"
	for _, bc := range []struct {
		name     string
		patterns []string
	}{
		{"none", nil},
		{"plain", []string{"*.tmp"}},
		{"hostile", []string{hostile}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			// On a tmpfs when there is one: creating files on a disk file
			// system gets slower as trees pile up, which would swamp what
			// this compares; each tree is removed outside the timing.
			base := b.TempDir()
			if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
				if shm, err := os.MkdirTemp("/dev/shm", "tarball-bench-"); err == nil {
					base = shm
					defer os.RemoveAll(shm)
				}
			}
			var opts []tarball.Option
			if bc.patterns != nil {
				opts = append(opts, tarball.WithExclude(bc.patterns...))
			}
			dir := filepath.Join(base, "t")
			b.ResetTimer()
			for range b.N {
				if _, err := tarball.Extract(context.Background(), bytes.NewReader(archive), dir, opts...); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := os.RemoveAll(dir); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
