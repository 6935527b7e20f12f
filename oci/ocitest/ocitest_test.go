package ocitest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/oci/push"
	"github.com/ocisource/ocisource/tarball"
)

func get(t *testing.T, url string, user, pass string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestRequestLogAndFaults(t *testing.T) {
	reg := ocitest.NewT(t)
	base := "http://" + reg.Host()
	reg.Inject(ocitest.Fault{PathContains: "/v2/x/", Status: http.StatusServiceUnavailable, Times: 2})
	for i, want := range []int{503, 503, 404} {
		if resp, _ := get(t, base+"/v2/x/manifests/v1", "", ""); resp.StatusCode != want {
			t.Errorf("request %d: status %d, want %d", i, resp.StatusCode, want)
		}
	}
	log := reg.Requests()
	if len(log) != 3 || !log[0].Fault || !log[1].Fault || log[2].Fault || log[2].Status != 404 || log[0].Path != "/v2/x/manifests/v1" {
		t.Errorf("log = %+v", log)
	}
	if n := reg.CountRequests(http.MethodGet, "/manifests/"); n != 3 {
		t.Errorf("CountRequests = %d", n)
	}
	reg.ResetRequests()
	if n := len(reg.Requests()); n != 0 {
		t.Errorf("%d requests after reset", n)
	}

	reg.ClearFaults()
	reg.Inject(ocitest.Fault{PathContains: "/v2/", Delay: 50 * time.Millisecond, Header: http.Header{"X-Test": {"yes"}}})
	start := time.Now()
	resp, _ := get(t, base+"/v2/", "", "")
	if time.Since(start) < 50*time.Millisecond || resp.Header.Get("X-Test") != "yes" {
		t.Errorf("delay/header fault not applied: %v %v", time.Since(start), resp.Header)
	}
}

func TestBasicAuth(t *testing.T) {
	reg := ocitest.NewT(t, ocitest.WithBasicAuth("u", "p"))
	base := "http://" + reg.Host() + "/v2/"
	if resp, _ := get(t, base, "", ""); resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("anonymous: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if resp, _ := get(t, base, "u", "wrong"); resp.StatusCode != 401 {
		t.Errorf("wrong password: %d", resp.StatusCode)
	}
	if resp, _ := get(t, base, "u", "p"); resp.StatusCode != 200 {
		t.Errorf("right password: %d", resp.StatusCode)
	}
	if q := reg.Requests()[2]; !strings.HasPrefix(q.Authorization, "Basic ") {
		t.Errorf("log lacks the Authorization header: %+v", q)
	}
}

func TestTagPages(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.NewT(t, ocitest.WithTagPageSize(2))
	for _, tag := range []string{"c", "a", "b"} {
		if _, err := reg.PushBytes(ctx, "app:"+tag, oci.MediaTypeFluxContent, []byte(tag)); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := get(t, "http://"+reg.Host()+"/v2/app/tags/list", "", "")
	if !strings.Contains(body, `"tags":["a","b"]`) || resp.Header.Get("Link") != `</v2/app/tags/list?last=b&n=2>; rel="next"` {
		t.Fatalf("page 1: %s, Link %q", body, resp.Header.Get("Link"))
	}
	resp, body = get(t, "http://"+reg.Host()+"/v2/app/tags/list?last=b&n=2", "", "")
	if !strings.Contains(body, `"tags":["c"]`) || resp.Header.Get("Link") != "" {
		t.Fatalf("page 2: %s, Link %q", body, resp.Header.Get("Link"))
	}
}

func TestPushFiles(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.NewT(t)
	files := map[string]string{"a.yaml": "a", "sub/b.yaml": "b"}
	d, err := reg.PushFiles(ctx, "app:v1", files, push.WithRevision("r1"))
	if err != nil {
		t.Fatal(err)
	}
	c := reg.Client()
	m, err := c.Manifest(ctx, reg.Ref("app").WithDigest(d.Digest))
	if err != nil {
		t.Fatal(err)
	}
	if m.Annotations[oci.AnnotationRevision] != "r1" || m.Layers[0].MediaType != oci.MediaTypeFluxContent {
		t.Errorf("manifest = %+v", m)
	}
	rc, err := c.Blob(ctx, reg.Ref("app"), m.Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	dir := filepath.Join(t.TempDir(), "out")
	if _, err := tarball.Extract(ctx, rc, dir); err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v", name, got, err)
		}
	}
	// Same files, same digest: the layer is reproducible.
	d2, err := reg.PushFiles(ctx, "app:v2", files, push.WithRevision("r1"), push.WithCreated(time.Unix(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := c.Manifest(ctx, reg.Ref("app").WithDigest(d2.Digest))
	if m2.Layers[0].Digest != m.Layers[0].Digest {
		t.Errorf("layer digests differ for the same files: %s %s", m.Layers[0].Digest, m2.Layers[0].Digest)
	}
}

// TestClientOptionsReplaceOnlyTheirDefault: an option for one of Client's
// defaults replaces that default and no other; anything else invalid panics.
func TestClientOptionsReplaceOnlyTheirDefault(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.NewT(t)
	if _, err := reg.PushBytes(ctx, "app:v1", oci.MediaTypeFluxContent, []byte("x")); err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string][]oci.Option{
		"own auth":      {oci.WithBearerToken("tok")}, // still plain HTTP, still no retries
		"own retries":   {oci.WithRetries(2, time.Millisecond)},
		"own insecure":  {oci.WithInsecure()},
		"all three own": {oci.WithInsecure(), oci.WithRetries(0, 0), oci.WithAnonymous()},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := reg.Client(opts...).Resolve(ctx, reg.Ref("app:v1")); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("retries replaced", func(t *testing.T) {
		reg.Inject(ocitest.Fault{Method: http.MethodHead, PathContains: "/manifests/", Status: http.StatusServiceUnavailable, Times: 1})
		defer reg.ClearFaults()
		if _, err := reg.Client(oci.WithRetries(1, time.Millisecond)).Resolve(ctx, reg.Ref("app:v1")); err != nil {
			t.Fatal(err)
		}
	})
	for name, opts := range map[string][]oci.Option{
		"contradicts a default": {oci.WithCAFile(filepath.Join("..", "testdata", "ca.pem"))},
		"own option twice":      {oci.WithRetries(1, 0), oci.WithRetries(2, 0)},
		"malformed":             {oci.WithMaxTags(0)},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "invalid option") {
					t.Errorf("recovered %v, want a panic naming the invalid option", r)
				}
			}()
			reg.Client(opts...)
		})
	}
}
