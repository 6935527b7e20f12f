package push_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/oci/push"
)

func TestArtifactLayout(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.NewT(t)
	c := reg.Client()
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	d, err := push.Artifact(ctx, c, reg.Ref("app:v1"), push.LayerFromBytes("", []byte("content")),
		push.WithSource("https://example.com/app.git"), push.WithRevision("v1@sha1:abc"), push.WithCreated(created),
		push.WithAnnotations(map[string]string{"team": "a"}), push.WithArtifactType("application/vnd.example"),
		push.WithConfigMediaType("application/vnd.example.config+json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Manifest(ctx, reg.Ref("app").WithDigest(d.Digest))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		oci.AnnotationCreated:  "2026-01-02T03:04:05Z",
		oci.AnnotationSource:   "https://example.com/app.git",
		oci.AnnotationRevision: "v1@sha1:abc",
		"team":                 "a",
	}
	if len(m.Annotations) != len(want) {
		t.Errorf("annotations = %v, want %v", m.Annotations, want)
	}
	for k, v := range want {
		if m.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, m.Annotations[k], v)
		}
	}
	if m.ArtifactType != "application/vnd.example" || m.Config.MediaType != "application/vnd.example.config+json" {
		t.Errorf("artifactType %q, config %q", m.ArtifactType, m.Config.MediaType)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != oci.MediaTypeFluxContent {
		t.Fatalf("layers = %+v, want one of the default Flux content type", m.Layers)
	}
	rc, err := c.Blob(ctx, reg.Ref("app"), m.Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "content" {
		t.Errorf("layer = %q", b)
	}

	// Same content, same time: same manifest, and no blob sent again.
	reg.ResetRequests()
	d2, err := push.Artifact(ctx, c, reg.Ref("app:v1-again"), push.LayerFromBytes("", []byte("content")),
		push.WithSource("https://example.com/app.git"), push.WithRevision("v1@sha1:abc"), push.WithCreated(created),
		push.WithAnnotations(map[string]string{"team": "a"}), push.WithArtifactType("application/vnd.example"),
		push.WithConfigMediaType("application/vnd.example.config+json"))
	if err != nil {
		t.Fatal(err)
	}
	if d2.Digest != d.Digest {
		t.Errorf("second push %s, first %s: not reproducible", d2.Digest, d.Digest)
	}
	if n := reg.CountRequests("PUT", "/blobs/uploads/") + reg.CountRequests("PATCH", "/blobs/uploads/"); n != 0 {
		t.Errorf("second push uploaded %d blob requests, want 0 (blobs already present)", n)
	}
}

func TestArtifactDefaultTagAndDigest(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.NewT(t)
	c := reg.Client()
	d, err := push.Artifact(ctx, c, reg.Ref("app"), push.LayerFromBytes("", []byte("x")), push.WithCreated(time.Unix(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Resolve(ctx, reg.Ref("app:latest"))
	if err != nil || got.Digest != d.Digest {
		t.Fatalf("latest = %v, %v; want %s", got.Digest, err, d.Digest)
	}
	// A digest the manifest does not hash to is refused.
	_, err = push.Artifact(ctx, c, reg.Ref("app").WithDigest(oci.DigestOf([]byte("other"))), push.LayerFromBytes("", []byte("x")))
	if !errors.Is(err, oci.ErrDigestMismatch) {
		t.Fatalf("err = %v, want ErrDigestMismatch", err)
	}
}

func TestArtifactRefusesBadInputBeforeUpload(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.NewT(t)
	c := reg.Client()
	good := push.LayerFromBytes("", []byte("x"))
	for _, tc := range []struct {
		name  string
		c     *oci.Client
		ref   oci.Reference
		layer push.Layer
		opts  []push.Option
		want  error
	}{
		{"nil client", nil, reg.Ref("app:v1"), good, nil, oci.ErrInvalidOption},
		{"bad reference", c, oci.Reference{Registry: reg.Host(), Repository: "UPPER", Tag: "v1"}, good, nil, oci.ErrInvalidReference},
		{"no open", c, reg.Ref("app:v1"), push.Layer{Descriptor: good.Descriptor}, nil, oci.ErrInvalidOption},
		{"bad layer digest", c, reg.Ref("app:v1"), push.Layer{Descriptor: oci.Descriptor{Digest: "sha256:zz", Size: 1}, Open: good.Open}, nil, oci.ErrInvalidDescriptor},
		{"empty config type", c, reg.Ref("app:v1"), good, []push.Option{push.WithConfigMediaType("")}, oci.ErrInvalidOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg.ResetRequests()
			_, err := push.Artifact(ctx, tc.c, tc.ref, tc.layer, tc.opts...)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var oe *oci.Error
			if !errors.As(err, &oe) || oe.Op == "" {
				t.Errorf("err = %#v, want an *oci.Error naming the operation", err)
			}
			if n := len(reg.Requests()); n != 0 {
				t.Errorf("%d requests sent, want none", n)
			}
		})
	}
}

// A layer whose content does not match its descriptor fails the upload.
func TestArtifactWrongContent(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.NewT(t)
	l := push.LayerFromBytes("", []byte("declared"))
	l.Open = push.LayerFromBytes("", []byte("actually!")).Open
	if _, err := push.Artifact(ctx, reg.Client(), reg.Ref("app:v1"), l); !errors.Is(err, oci.ErrDigestMismatch) && !errors.Is(err, oci.ErrSizeMismatch) {
		t.Fatalf("err = %v, want a digest or size mismatch", err)
	}
	if _, err := reg.Client().Resolve(ctx, reg.Ref("app:v1")); !errors.Is(err, oci.ErrNotFound) {
		t.Errorf("tag exists after a failed push: %v", err)
	}
}

func TestLayerFromDirReproducible(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("kind: A"), 0o644); err != nil {
		t.Fatal(err)
	}
	l1, clean1, err := push.LayerFromDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer clean1()
	if err := os.Chtimes(filepath.Join(dir, "a.yaml"), time.Unix(1, 0), time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	l2, clean2, err := push.LayerFromDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if l1.Descriptor.Digest != l2.Descriptor.Digest || l1.Descriptor.Size != l2.Descriptor.Size || l1.Descriptor.MediaType != oci.MediaTypeFluxContent {
		t.Errorf("descriptors differ or wrong type: %+v vs %+v", l1.Descriptor, l2.Descriptor)
	}
	rc, err := l2.Open()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if oci.DigestOf(b) != l2.Descriptor.Digest || int64(len(b)) != l2.Descriptor.Size {
		t.Errorf("content does not match its descriptor")
	}
	// cleanup removes the temporary archive.
	name := rc.(*os.File).Name()
	clean2()
	if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("archive %s still there after cleanup: %v", name, err)
	}
	// A missing directory fails and leaves nothing.
	if _, _, err := push.LayerFromDir(ctx, filepath.Join(dir, "missing")); err == nil {
		t.Error("LayerFromDir of a missing directory succeeded")
	}
}

func TestLayerFromFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "chart.tgz")
	if err := os.WriteFile(p, []byte("tgz"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := push.LayerFromFile(oci.MediaTypeHelmChart, p)
	if err != nil {
		t.Fatal(err)
	}
	if d := l.Descriptor; d.MediaType != oci.MediaTypeHelmChart || d.Digest != oci.DigestOf([]byte("tgz")) || d.Size != 3 {
		t.Errorf("descriptor = %+v", l.Descriptor)
	}
	if _, err := push.LayerFromFile("", filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
