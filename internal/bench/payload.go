package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// payloadSeed seeds every random choice of the payload, so a size always
// gives the same files, the same archive and the same digest.
var payloadSeed = [32]byte{'o', 'c', 'i', 's', 'o', 'u', 'r', 'c', 'e', '-', 'b', 'e', 'n', 'c', 'h'}

const (
	textFiles     = 3000
	blobFileBytes = 32 << 20
)

// payloadStats describes a written payload.
type payloadStats struct {
	files, textFiles, blobFiles int64
	bytes, textBytes, blobBytes int64
}

// writePayload writes a deterministic tree of size bytes below dir, shaped
// like PERFORMANCE.md's payload (and tarball's benchmark payload): a
// quarter of the bytes in about 3,000 small YAML-like text files spread over
// 300 directories, the rest in incompressible pseudo-random files of at most
// 32 MiB. Files are generated and written one at a time, so memory does not
// grow with size.
func writePayload(dir string, size int64) (payloadStats, error) {
	var st payloadStats
	rng := rand.New(rand.NewChaCha8(payloadSeed))
	textBytes := size / 4
	nText := int64(textFiles)
	if textBytes/nText < 256 {
		nText = max(1, textBytes/256)
	}
	per := textBytes / nText
	made := map[string]bool{}
	write := func(name string, data []byte) error {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if parent := filepath.Dir(p); !made[parent] {
			if err := os.MkdirAll(parent, 0o755); err != nil {
				return err
			}
			made[parent] = true
		}
		return os.WriteFile(p, data, 0o644)
	}

	var b strings.Builder
	for i := range nText {
		b.Reset()
		fmt.Fprintf(&b, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc-%d\n  namespace: team-%d\nspec:\n", i, i%30)
		for j := 0; int64(b.Len()) < per; j++ {
			fmt.Fprintf(&b, "  - name: container-%d\n    image: registry.example.com/team-%d/app:%d.%d.%d\n    env: {KEY_%d: \"%x\"}\n",
				j, i%30, rng.IntN(10), rng.IntN(100), rng.IntN(1000), j, rng.Uint32())
		}
		data := []byte(b.String())[:per]
		if err := write(fmt.Sprintf("apps/team-%02d/svc-%03d/manifest-%d.yaml", i%30, i/30%10, i), data); err != nil {
			return st, err
		}
		st.textFiles++
		st.textBytes += per
	}

	blobs := rand.NewChaCha8(payloadSeed)
	rest := size - per*nText
	buf := make([]byte, min(rest, blobFileBytes))
	for i := 0; rest > 0; i++ {
		n := min(rest, blobFileBytes)
		data := buf[:n]
		_, _ = blobs.Read(data) // never fails
		if err := write(fmt.Sprintf("blobs/blob-%d.bin", i), data); err != nil {
			return st, err
		}
		st.blobFiles++
		st.blobBytes += n
		rest -= n
	}
	st.files = st.textFiles + st.blobFiles
	st.bytes = st.textBytes + st.blobBytes
	return st, nil
}

// parseSize parses "128MiB", "1GiB", "512KiB", "100MB", "1G" or a plain
// number of bytes.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	// Longer suffixes first, so "MiB" is not read as "B".
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30},
		{"B", 1},
	}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(strings.ToUpper(t), strings.ToUpper(u.suffix)) {
			t = strings.TrimSpace(t[:len(t)-len(u.suffix)])
			mult = u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 || f*float64(mult) > 1<<50 {
		return 0, fmt.Errorf("size %q: want a positive size such as 128MiB or 1GiB", s)
	}
	return int64(f * float64(mult)), nil
}

// mib formats n bytes as MiB.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
