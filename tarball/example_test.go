package tarball_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/ocisource/ocisource/tarball"
)

// makeExampleTree writes a small tree and returns its path.
func makeExampleTree() string {
	dir, err := os.MkdirTemp("", "tarball-example-")
	if err != nil {
		log.Fatal(err)
	}
	for name, body := range map[string]string{
		"deploy/app.yaml": "kind: Deployment\n",
		"deploy/svc.yaml": "kind: Service\n",
		".git/HEAD":       "ref: refs/heads/main\n",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	return dir
}

func ExampleBuild() {
	src := makeExampleTree()
	defer os.RemoveAll(src)

	ctx := context.Background()
	var first, second bytes.Buffer
	opt := tarball.WithIgnorePatterns(tarball.DefaultIgnorePatterns()...)
	if err := tarball.Build(ctx, src, &first, opt); err != nil {
		log.Fatal(err)
	}
	// Touching the tree's times does not change the archive.
	_ = os.Chtimes(filepath.Join(src, "deploy", "app.yaml"), time0, time0)
	if err := tarball.Build(ctx, src, &second, opt); err != nil {
		log.Fatal(err)
	}
	fmt.Println("same digest:", sha256.Sum256(first.Bytes()) == sha256.Sum256(second.Bytes()))
	// Output:
	// same digest: true
}

func ExampleExtract() {
	src := makeExampleTree()
	defer os.RemoveAll(src)
	var archive bytes.Buffer
	if err := tarball.Build(context.Background(), src, &archive); err != nil {
		log.Fatal(err)
	}

	parent, err := os.MkdirTemp("", "tarball-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(parent)
	dir := filepath.Join(parent, "content")

	st, err := tarball.Extract(context.Background(), &archive, dir,
		tarball.WithMaxTotalBytes(100<<20),
		tarball.WithSymlinks(tarball.SymlinksInsideRoot),
	)
	var le *tarball.LimitError
	switch {
	case errors.As(err, &le):
		log.Fatalf("archive too big: %v limit of %d", le.Limit, le.Max)
	case errors.Is(err, tarball.ErrInsecurePath):
		log.Fatalf("hostile archive: %v", err)
	case err != nil:
		log.Fatal(err)
	}
	fmt.Printf("%d files, %d directories, %d bytes\n", st.Files, st.Dirs, st.Bytes)
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, p)
		if !d.IsDir() {
			fmt.Println(filepath.ToSlash(rel))
		}
		return nil
	})
	// Output:
	// 3 files, 2 directories, 52 bytes
	// .git/HEAD
	// deploy/app.yaml
	// deploy/svc.yaml
}

var time0 = time.Unix(0, 0)
