package oci_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/oci/push"
)

func TestValidateTag(t *testing.T) {
	for _, tag := range []string{
		"v1", "1.0.0", "latest", "_x", "A-b_c.d", "sha256-" + strings.Repeat("ab", 32) + ".sig",
		"sha256-" + strings.Repeat("ab", 32) + ".att", strings.Repeat("t", 128),
	} {
		if err := oci.ValidateTag(tag); err != nil {
			t.Errorf("ValidateTag(%q) = %v, want nil", tag, err)
		}
	}
	for _, tag := range []string{
		"", ".x", "-x", strings.Repeat("t", 129), "a/b", "a:b", "a b", "a@b", "ä", "a\n", "../x", "a+b",
	} {
		err := oci.ValidateTag(tag)
		if !errors.Is(err, oci.ErrInvalidReference) {
			t.Errorf("ValidateTag(%q) = %v, want ErrInvalidReference", tag, err)
		}
	}
}

func TestRepositoryGrammar(t *testing.T) {
	for _, repo := range []string{"a", "org/app", "a.b/c_d/e__f/g-h/i--j", "0/1", strings.Repeat("a", 240)} {
		if _, err := oci.ParseReference("r.io/" + repo); err != nil {
			t.Errorf("%q: %v", repo, err)
		}
	}
	for _, repo := range []string{
		"A", "a/B", "a_", "_a", "a___b", "a..b", "a.-b", "a/", "/a", "a//b", "a b", "a%2fb",
		strings.Repeat("a", 252), // with "r.io/", 257 characters: over 255
	} {
		if _, err := oci.ParseReference("r.io/" + repo); !errors.Is(err, oci.ErrInvalidReference) {
			t.Errorf("%q: err = %v, want ErrInvalidReference", repo, err)
		}
		ref := oci.Reference{Registry: "r.io", Repository: repo}
		if err := ref.Validate(); !errors.Is(err, oci.ErrInvalidReference) {
			t.Errorf("Validate(%q): err = %v, want ErrInvalidReference", repo, err)
		}
	}
}

// TestInvalidReferencesRefusedBeforeAnyRequest: every operation that takes
// a reference refuses a bad tag, repository or host before it sends
// anything, even the operations that ignore the tag.
func TestInvalidReferencesRefusedBeforeAnyRequest(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.NewT(t)
	d := pushArtifact(t, reg, "app:v1", "x")
	m, err := reg.Client().Manifest(ctx, reg.Ref("app").WithDigest(d.Digest))
	if err != nil {
		t.Fatal(err)
	}
	layer := m.Layers[0]
	good := reg.Ref("app")
	bad := map[string]oci.Reference{
		"tag with a space": good.WithTag("bad tag"),
		"tag with a slash": good.WithTag("a/../b"),
		"tag too long":     good.WithTag(strings.Repeat("t", 129)),
		"tag starting '.'": good.WithTag(".hidden"),
		"uppercase repo":   {Registry: good.Registry, Repository: "App"},
		"repo with '..'":   {Registry: good.Registry, Repository: "a/../b"},
		"empty repo":       {Registry: good.Registry},
		"host with a path": {Registry: good.Registry + "/x", Repository: "app"},
	}
	c := reg.Client()
	ops := map[string]func(ref oci.Reference) error{
		"Resolve":  func(ref oci.Reference) error { _, err := c.Resolve(ctx, ref); return err },
		"Manifest": func(ref oci.Reference) error { _, err := c.Manifest(ctx, ref); return err },
		"Blob":     func(ref oci.Reference) error { _, err := c.Blob(ctx, ref, layer); return err },
		"Tags":     func(ref oci.Reference) error { _, err := c.Tags(ctx, ref); return err },
		"Referrers": func(ref oci.Reference) error {
			_, err := c.Referrers(ctx, ref.WithDigest(d.Digest), "")
			return err
		},
		"Push": func(ref oci.Reference) error {
			_, err := push.Artifact(ctx, c, ref, push.LayerFromBytes(oci.MediaTypeFluxContent, []byte("y")))
			return err
		},
		"PushBlob": func(ref oci.Reference) error {
			return c.PushBlob(ctx, ref, layer, strings.NewReader("x"))
		},
		"PushManifest": func(ref oci.Reference) error {
			_, err := c.PushManifest(ctx, ref, oci.MediaTypeOCIManifest, m.Raw)
			return err
		},
		"Tag": func(ref oci.Reference) error { return c.Tag(ctx, ref.WithDigest(d.Digest), "v2") },
	}
	for refName, ref := range bad {
		for opName, op := range ops {
			t.Run(opName+"/"+refName, func(t *testing.T) {
				reg.ResetRequests()
				err := op(ref)
				if !errors.Is(err, oci.ErrInvalidReference) {
					t.Fatalf("err = %v, want ErrInvalidReference", err)
				}
				var oe *oci.Error
				if !errors.As(err, &oe) {
					t.Errorf("err = %v, want an *oci.Error", err)
				}
				for _, q := range reg.Requests() {
					t.Errorf("request sent: %s %s", q.Method, q.Path)
				}
			})
		}
	}
	t.Run("Tag/bad new tag", func(t *testing.T) {
		reg.ResetRequests()
		err := c.Tag(ctx, good.WithDigest(d.Digest), "no good")
		if !errors.Is(err, oci.ErrInvalidReference) || !strings.Contains(err.Error(), `"no good"`) {
			t.Fatalf("err = %v, want ErrInvalidReference naming the tag", err)
		}
		if n := len(reg.Requests()); n != 0 {
			t.Errorf("%d requests sent", n)
		}
	})
}
