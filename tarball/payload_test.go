package tarball_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// PayloadFile is one file of a benchmark payload.
type PayloadFile struct {
	Name string // slash-separated, relative
	Data []byte
}

// BenchPayload returns a deterministic payload of about size bytes shaped
// like PERFORMANCE.md's: a quarter in about 3,000 small YAML-like text
// files spread over a few hundred directories, the rest in incompressible
// files of at most 32 MiB. The same size always gives the same files.
func BenchPayload(size int64) []PayloadFile {
	rng := rand.New(rand.NewChaCha8([32]byte{'o', 'c', 'i', 's', 'o', 'u', 'r', 'c', 'e'}))
	textBytes := size / 4
	nText := int64(3000)
	if textBytes/nText < 256 {
		nText = max(1, textBytes/256)
	}
	per := textBytes / nText
	var files []PayloadFile
	for i := range nText {
		var b strings.Builder
		fmt.Fprintf(&b, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc-%d\n  namespace: team-%d\nspec:\n", i, i%30)
		for j := 0; int64(b.Len()) < per; j++ {
			fmt.Fprintf(&b, "  - name: container-%d\n    image: registry.example.com/team-%d/app:%d.%d.%d\n    env: {KEY_%d: \"%x\"}\n",
				j, i%30, rng.IntN(10), rng.IntN(100), rng.IntN(1000), j, rng.Uint32())
		}
		data := []byte(b.String())[:per]
		files = append(files, PayloadFile{
			Name: fmt.Sprintf("apps/team-%02d/svc-%03d/manifest-%d.yaml", i%30, i/30%10, i),
			Data: data,
		})
	}
	rest := size - per*nText
	for i := 0; rest > 0; i++ {
		n := min(rest, 32<<20)
		data := make([]byte, n)
		for k := 0; k+8 <= len(data); k += 8 {
			v := rng.Uint64()
			for s := range 8 {
				data[k+s] = byte(v >> (8 * s))
			}
		}
		files = append(files, PayloadFile{Name: fmt.Sprintf("blobs/blob-%d.bin", i), Data: data})
		rest -= n
	}
	return files
}

// WritePayload writes files below dir the plain way: create each parent
// once, then os.WriteFile.
func WritePayload(dir string, files []PayloadFile) error {
	made := map[string]bool{}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if parent := filepath.Dir(p); !made[parent] {
			if err := os.MkdirAll(parent, 0o755); err != nil {
				return err
			}
			made[parent] = true
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
