package oci_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource/internal/realregistry"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/push"
)

// TestIntegrationRealRegistry runs the client against CNCF Distribution over
// TLS (self-signed CA) with htpasswd basic auth, as `make test` starts it.
func TestIntegrationRealRegistry(t *testing.T) {
	reg := realregistry.Start(t, realregistry.WithMaxTags(3))
	ctx := context.Background()
	c, err := oci.NewClient(oci.WithCAFile(reg.CAFile), oci.WithBasicAuth(reg.Username, reg.Password))
	if err != nil {
		t.Fatal(err)
	}
	repo, err := oci.ParseURL("oci://" + reg.Host + "/org/app")
	if err != nil {
		t.Fatal(err)
	}

	// Push a directory, as `flux push artifact` does.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte("kind: ConfigMap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	layer, cleanup, err := push.LayerFromDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	var want []string
	var pushed oci.Descriptor
	for i := 0; i < 7; i++ { // more tags than one page holds
		tag := fmt.Sprintf("1.0.%d", i)
		want = append(want, tag)
		pushed, err = push.Artifact(ctx, c, repo.WithTag(tag), layer, push.WithSource("https://example.com/app.git"))
		if err != nil {
			t.Fatalf("push %s: %v", tag, err)
		}
	}
	t.Logf("pushed %d tags to %s, last %s", len(want), repo.Repo(), pushed.Digest)

	got, err := c.Resolve(ctx, repo.WithTag("1.0.6"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != pushed.Digest || got.MediaType != oci.MediaTypeOCIManifest {
		t.Errorf("resolve = %+v, want %+v", got, pushed)
	}

	tags, err := c.Tags(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(tags)
	if diff := cmp.Diff(want, tags); diff != "" {
		t.Errorf("tags over 3 pages (-want +got):\n%s", diff)
	}

	m, err := c.Manifest(ctx, repo.WithDigest(got.Digest))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := c.Blob(ctx, repo, m.Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc)
	rc.Close()
	if err != nil || n != layer.Descriptor.Size {
		t.Fatalf("pulled %d bytes (err %v), want %d", n, err, layer.Descriptor.Size)
	}

	if err := c.Tag(ctx, repo.WithDigest(got.Digest), "stable"); err != nil {
		t.Fatal(err)
	}
	if d, err := c.Resolve(ctx, repo.WithTag("stable")); err != nil || d.Digest != got.Digest {
		t.Errorf("stable = %v, %v", d.Digest, err)
	}

	// Referrers through the tag-schema fallback (Distribution has no referrers API).
	refs, err := c.Referrers(ctx, repo.WithDigest(got.Digest), "")
	if err != nil || len(refs) != 0 {
		t.Errorf("referrers = %v, %v; want none", refs, err)
	}

	t.Run("wrong password", func(t *testing.T) {
		bad, err := oci.NewClient(oci.WithCAFile(reg.CAFile), oci.WithBasicAuth(reg.Username, "wrong"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = bad.Resolve(ctx, repo.WithTag("1.0.0"))
		if !errors.Is(err, oci.ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
	})
	t.Run("untrusted CA", func(t *testing.T) {
		c, err := oci.NewClient(oci.WithBasicAuth(reg.Username, reg.Password), oci.WithRetries(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Resolve(ctx, repo.WithTag("1.0.0")); err == nil {
			t.Fatal("resolved over TLS without trusting the registry's CA")
		}
	})
	t.Run("docker config", func(t *testing.T) {
		c, err := oci.NewClient(oci.WithCAFile(reg.CAFile), oci.WithDockerConfig(reg.DockerConfigDir))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Resolve(ctx, repo.WithTag("1.0.0")); err != nil {
			t.Fatal(err)
		}
	})
}
