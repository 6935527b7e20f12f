package push_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/oci/push"
)

func ExampleArtifact() {
	ctx := context.Background()
	reg := ocitest.New() // an in-memory registry; use oci.NewClient for a real one
	defer reg.Close()

	dir, err := os.MkdirTemp("", "manifests")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte("kind: ConfigMap\n"), 0o644); err != nil {
		log.Fatal(err)
	}

	layer, cleanup, err := push.LayerFromDir(ctx, dir) // reproducible: same tree, same digest
	if err != nil {
		log.Fatal(err)
	}
	defer cleanup()
	desc, err := push.Artifact(ctx, reg.Client(), reg.Ref("manifests/app:v1.0.0"), layer,
		push.WithSource("https://github.com/org/app"), push.WithRevision("v1.0.0@sha1:1234"),
		push.WithCreated(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
	if err != nil {
		log.Fatal(err)
	}
	m, err := reg.Client().Manifest(ctx, reg.Ref("manifests/app").WithDigest(desc.Digest))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Config.MediaType)
	fmt.Println(m.Layers[0].MediaType)
	fmt.Println(m.Annotations[oci.AnnotationRevision])
	// Output:
	// application/vnd.cncf.flux.config.v1+json
	// application/vnd.cncf.flux.content.v1.tar+gzip
	// v1.0.0@sha1:1234
}
