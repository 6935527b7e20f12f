package oci_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/oci/push"
)

func pushArtifact(t *testing.T, reg *ocitest.Registry, ref string, content string) oci.Descriptor {
	t.Helper()
	d, err := reg.PushBytes(context.Background(), ref, oci.MediaTypeFluxContent, []byte(content),
		push.WithSource("https://example.com/repo.git"), push.WithRevision("main@sha1:abc"))
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return d
}

func TestPushResolveManifestBlob(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.NewT(t)
	c := reg.Client()
	pushed := pushArtifact(t, reg, "app:v1", "hello layer")

	got, err := c.Resolve(ctx, reg.Ref("app:v1"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pushed, got); diff != "" {
		t.Errorf("Resolve (-pushed +got):\n%s", diff)
	}
	m, err := c.Manifest(ctx, reg.Ref("app").WithDigest(got.Digest))
	if err != nil {
		t.Fatal(err)
	}
	if m.Descriptor.Digest != got.Digest || m.Config.MediaType != oci.MediaTypeFluxConfig || len(m.Layers) != 1 {
		t.Fatalf("manifest = %+v", m)
	}
	if m.Annotations[oci.AnnotationSource] != "https://example.com/repo.git" || m.Annotations[oci.AnnotationRevision] != "main@sha1:abc" || m.Annotations[oci.AnnotationCreated] == "" {
		t.Errorf("annotations = %v", m.Annotations)
	}
	if m.Layers[0].MediaType != oci.MediaTypeFluxContent {
		t.Errorf("layer media type = %q", m.Layers[0].MediaType)
	}
	rc, err := c.Blob(ctx, reg.Ref("app"), m.Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "hello layer" {
		t.Errorf("blob = %q", b)
	}
}

func TestResolveNotFound(t *testing.T) {
	reg := ocitest.NewT(t)
	c := reg.Client()
	pushArtifact(t, reg, "app:v1", "x")
	_, err := c.Resolve(context.Background(), reg.Ref("app:missing"))
	if !errors.Is(err, oci.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	var oe *oci.Error
	if !errors.As(err, &oe) || oe.Op != "resolve" || !strings.Contains(oe.Ref, "app:missing") {
		t.Errorf("error does not name op and ref: %#v", oe)
	}
}

func TestResolveHeadFallsBackToGet(t *testing.T) {
	reg := ocitest.NewT(t)
	c := reg.Client()
	pushed := pushArtifact(t, reg, "app:v1", "x")
	reg.Inject(ocitest.Fault{Method: http.MethodHead, PathContains: "/manifests/", Status: http.StatusMethodNotAllowed})
	got, err := c.Resolve(context.Background(), reg.Ref("app:v1"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != pushed.Digest {
		t.Errorf("digest = %s, want %s", got.Digest, pushed.Digest)
	}
	if n := reg.CountRequests(http.MethodGet, "/manifests/v1"); n != 1 {
		t.Errorf("GET fallbacks = %d, want 1", n)
	}
}

func TestTagsPaginated(t *testing.T) {
	reg := ocitest.NewT(t, ocitest.WithTagPageSize(2))
	c := reg.Client()
	want := []string{"a", "b", "c", "d", "e"}
	for _, tag := range want {
		pushArtifact(t, reg, "app:"+tag, "x")
	}
	got, err := c.Tags(context.Background(), reg.Ref("app"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if n := reg.CountRequests(http.MethodGet, "/tags/list"); n != 3 {
		t.Errorf("pages fetched = %d, want 3", n)
	}
}

// A registry host with no dot and no port is that host, not a Docker Hub
// repository of that name.
func TestSingleLabelRegistryHost(t *testing.T) {
	var hosts []string
	var mu sync.Mutex
	rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		mu.Lock()
		hosts = append(hosts, req.URL.Host)
		mu.Unlock()
		return nil, errors.New("offline")
	})
	c, err := oci.NewClient(oci.WithTransport(rt), oci.WithRetries(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := oci.ParseURL("oci://registry/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Resolve(context.Background(), ref)
	mu.Lock()
	defer mu.Unlock()
	if len(hosts) == 0 {
		t.Fatalf("no request sent: %v", err)
	}
	for _, h := range hosts {
		if h != "registry" {
			t.Errorf("request sent to %q, want registry", h)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
