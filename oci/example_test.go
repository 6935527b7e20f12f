package oci_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/oci/push"
)

func ExampleParseURL() {
	ref, err := oci.ParseURL("oci://ghcr.io/stefanprodan/manifests/podinfo:6.5.0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ref.Registry)
	fmt.Println(ref.Repository)
	fmt.Println(ref.Tag)

	_, err = oci.ParseURL("oci://ghcr.io/app@sha256:../../etc/passwd")
	fmt.Println(err)
	// Output:
	// ghcr.io
	// stefanprodan/manifests/podinfo
	// 6.5.0
	// invalid reference "ghcr.io/app@sha256:../../etc/passwd": invalid digest "sha256:../../etc/passwd": sha256 wants 64 hex digits, got 16
}

func ExampleValidateTag() {
	fmt.Println(oci.ValidateTag("v1.2.3"))
	fmt.Println(oci.ValidateTag("sha256-" + strings.Repeat("ab", 32) + ".sig")) // cosign's signature tags are valid
	fmt.Println(oci.ValidateTag("../latest"))
	// Output:
	// <nil>
	// <nil>
	// invalid reference: tag "../latest" is not valid (want [A-Za-z0-9_][A-Za-z0-9._-]{0,127})
}

func ExampleClient() {
	ctx := context.Background()
	reg := ocitest.New() // an in-memory registry; use oci.NewClient for a real one
	defer reg.Close()
	client := reg.Client()

	ref := reg.Ref("manifests/app:v1.0.0")
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := push.Artifact(ctx, client, ref, push.LayerFromBytes(oci.MediaTypeFluxContent, []byte("not really a tarball")),
		push.WithSource("https://github.com/org/app"), push.WithRevision("v1.0.0@sha1:1234"), push.WithCreated(created)); err != nil {
		log.Fatal(err)
	}

	desc, err := client.Resolve(ctx, ref)
	if err != nil {
		log.Fatal(err)
	}
	m, err := client.Manifest(ctx, ref.WithDigest(desc.Digest)) // pinned: the tag may move
	if err != nil {
		log.Fatal(err)
	}
	rc, err := client.Blob(ctx, ref, m.Layers[0])
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	content, err := io.ReadAll(rc) // digest and size checked at EOF
	if err != nil {
		log.Fatal(err)
	}
	tags, err := client.Tags(ctx, ref)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(desc.MediaType)
	fmt.Println(m.Annotations[oci.AnnotationRevision])
	fmt.Println(string(content))
	fmt.Println(tags)
	// Output:
	// application/vnd.oci.image.manifest.v1+json
	// v1.0.0@sha1:1234
	// not really a tarball
	// [v1.0.0]
}

// The tags cosign stores signatures and attestations under.
func ExampleCosignTag() {
	d, _ := oci.ParseDigest("sha256:" + strings.Repeat("0", 63) + "1")
	fmt.Println(oci.CosignTag(d, oci.CosignSignature))
	fmt.Println(oci.CosignTag(d, oci.CosignAttestation))
	// Output:
	// sha256-0000000000000000000000000000000000000000000000000000000000000001.sig
	// sha256-0000000000000000000000000000000000000000000000000000000000000001.att
}

func ExampleCopy() {
	ctx := context.Background()
	reg := ocitest.New() // an in-memory registry; use oci.NewClient for a real one
	defer reg.Close()
	client := reg.Client()
	d, err := reg.PushBytes(ctx, "app:1.0.0", oci.MediaTypeFluxContent, []byte("release"))
	if err != nil {
		log.Fatal(err)
	}
	// A legacy cosign signature: its tag names the artifact's digest.
	if _, err := reg.PushBytes(ctx, "app:"+oci.CosignTag(d.Digest, oci.CosignSignature), "application/vnd.dev.cosign.simplesigning.v1+json", []byte(`{"critical":{}}`)); err != nil {
		log.Fatal(err)
	}

	dir, err := os.MkdirTemp("", "airgap")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	res, err := oci.Copy(ctx, client, reg.Ref("app:1.0.0"), client, oci.Reference{Layout: filepath.Join(dir, "layout")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Descriptor.Digest == d.Digest, res.Tag, len(res.Attachments), res.Attachments[0].Tag == oci.CosignTag(d.Digest, oci.CosignSignature))

	// Again: everything is there already.
	res, err = oci.Copy(ctx, client, reg.Ref("app:1.0.0"), client, oci.Reference{Layout: filepath.Join(dir, "layout")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Blobs, res.BlobsSkipped)
	// Output:
	// true 1.0.0 1 true
	// 0 3
}
