package oci_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource/oci"
)

// writeLayout writes a layout directory holding blobs and an index.json
// (raw, or built from entries when raw is nil).
func writeLayout(t *testing.T, blobs [][]byte, index []byte) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644))
	for _, b := range blobs {
		must(os.WriteFile(filepath.Join(dir, "blobs", "sha256", oci.DigestOf(b).Hex()), b, 0o644))
	}
	must(os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644))
	return dir
}

func indexOf(t *testing.T, entries ...oci.Descriptor) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeOCIIndex, "manifests": entries})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tagged(d oci.Descriptor, tag string) oci.Descriptor {
	d.Annotations = map[string]string{"org.opencontainers.image.ref.name": tag}
	return d
}

func manifestBytes(subject *oci.Descriptor) []byte {
	m := map[string]any{
		"schemaVersion": 2, "mediaType": oci.MediaTypeOCIManifest, "artifactType": "application/x.test",
		"config": map[string]any{"mediaType": oci.MediaTypeOCIEmptyJSON, "digest": oci.DigestOf([]byte("{}")), "size": 2},
		"layers": []any{},
	}
	if subject != nil {
		m["subject"] = subject
	}
	b, _ := json.Marshal(m)
	return b
}

func descOf(b []byte) oci.Descriptor {
	return oci.Descriptor{MediaType: oci.MediaTypeOCIManifest, Digest: oci.DigestOf(b), Size: int64(len(b))}
}

func layoutClient(t *testing.T) *oci.Client {
	t.Helper()
	c, err := oci.NewClient(oci.WithTransport(failingTransport{}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("network used")
}

func TestParseLayoutURL(t *testing.T) {
	d := oci.DigestOf([]byte("x"))
	for _, tc := range []struct {
		in   string
		want oci.Reference
	}{
		{"oci-layout:///srv/app", oci.Reference{Layout: "/srv/app"}},
		{"oci-layout:///srv/app.tar:1.0.0", oci.Reference{Layout: "/srv/app.tar", Tag: "1.0.0"}},
		{"oci-layout:///srv/app@" + string(d), oci.Reference{Layout: "/srv/app", Digest: d}},
		{"oci-layout:///srv/app:v1@" + string(d), oci.Reference{Layout: "/srv/app", Tag: "v1", Digest: d}},
	} {
		got, err := oci.ParseURL(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.in, diff)
		}
		if got.String() != tc.in || got.Validate() != nil {
			t.Errorf("%s: String() = %q, Validate() = %v", tc.in, got.String(), got.Validate())
		}
	}
	for _, in := range []string{
		"oci-layout://",
		"oci-layout://relative/path",
		"oci-layout:///srv/../etc",
		"oci-layout:///srv/app/",
		"oci-layout:///srv/app@sha256:../../etc/passwd",
		"oci-layout:///srv/app:bad/tag@x",
		"oci-layout:///srv/app:-bad",
	} {
		if _, err := oci.ParseURL(in); !errors.Is(err, oci.ErrInvalidReference) {
			t.Errorf("%s: err = %v, want ErrInvalidReference", in, err)
		}
	}
	if err := (oci.Reference{Layout: "/srv/app", Registry: "ghcr.io", Repository: "x"}).Validate(); !errors.Is(err, oci.ErrInvalidReference) {
		t.Errorf("layout with a registry: err = %v", err)
	}
}

func TestLayoutReadsAndReferrers(t *testing.T) {
	ctx := context.Background()
	target := manifestBytes(nil)
	td := descOf(target)
	ref := manifestBytes(&td)
	rd := descOf(ref)
	other := manifestBytes(&oci.Descriptor{MediaType: oci.MediaTypeOCIManifest, Digest: oci.DigestOf([]byte("none")), Size: 4})
	dir := writeLayout(t, [][]byte{target, ref, other, []byte("{}")}, indexOf(t, tagged(td, "1.0.0"), rd, descOf(other)))
	c := layoutClient(t)
	repo := oci.Reference{Layout: dir}

	tags, err := c.Tags(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"1.0.0"}, tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	got, err := c.Resolve(ctx, repo.WithTag("1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != td.Digest || got.Size != td.Size {
		t.Errorf("resolve = %+v, want %+v", got, td)
	}
	refs, err := c.Referrers(ctx, repo.WithDigest(td.Digest), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0].Digest != rd.Digest || refs[0].ArtifactType != "application/x.test" {
		t.Errorf("referrers = %+v, want %s", refs, rd.Digest)
	}
	if _, err := c.Resolve(ctx, repo.WithTag("2.0.0")); !errors.Is(err, oci.ErrNotFound) {
		t.Errorf("missing tag: err = %v, want ErrNotFound", err)
	}
	if _, err := c.PushManifest(ctx, repo.WithTag("x"), oci.MediaTypeOCIManifest, target); err == nil {
		t.Error("push to a layout succeeded")
	}
	if _, err := c.Tags(ctx, oci.Reference{Layout: filepath.Join(dir, "missing")}); !errors.Is(err, oci.ErrNotFound) {
		t.Errorf("missing layout: err = %v, want ErrNotFound", err)
	}
}

// TestLayoutHostile: what a layout holds is refused when it could escape
// the layout or exceed a bound, before it is used.
func TestLayoutHostile(t *testing.T) {
	ctx := context.Background()
	target := manifestBytes(nil)
	td := descOf(target)

	escaping := fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":%q,"digest":"sha256:../../../../etc/passwd","size":1,`+
		`"annotations":{"org.opencontainers.image.ref.name":"1.0.0"}}]}`, oci.MediaTypeOCIManifest)
	many := make([]oci.Descriptor, oci.MaxLayoutEntries+1)
	for i := range many {
		many[i] = td
	}
	huge := indexOf(t, tagged(td, "1.0.0"))
	huge = append(huge[:len(huge)-1], []byte(`,"pad":"`+strings.Repeat("x", oci.DefaultMaxManifestSize)+`"}`)...)

	for _, tc := range []struct {
		name  string
		index []byte
		want  []error
	}{
		{"path-escaping digest", []byte(escaping), []error{oci.ErrInvalidLayout, oci.ErrInvalidDigest}},
		{"too many entries", indexOf(t, many...), []error{oci.ErrInvalidLayout}},
		{"huge index.json", huge, []error{oci.ErrInvalidLayout, oci.ErrTooLarge}},
		{"tag given twice", indexOf(t, tagged(td, "1.0.0"), tagged(descOf([]byte("{}")), "1.0.0")), []error{oci.ErrInvalidLayout}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeLayout(t, [][]byte{target, []byte("{}")}, tc.index)
			_, err := layoutClient(t).Resolve(ctx, oci.Reference{Layout: dir, Tag: "1.0.0"})
			t.Log(err)
			for _, want := range tc.want {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want %v", err, want)
				}
			}
		})
	}

	t.Run("symlink out of the layout", func(t *testing.T) {
		dir := writeLayout(t, nil, indexOf(t, tagged(td, "1.0.0")))
		outside := filepath.Join(t.TempDir(), "outside")
		if err := os.WriteFile(outside, target, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(dir, "blobs", "sha256", td.Digest.Hex())); err != nil {
			t.Fatal(err)
		}
		_, err := layoutClient(t).Manifest(ctx, oci.Reference{Layout: dir, Tag: "1.0.0"})
		if err == nil || !strings.Contains(err.Error(), "escapes") {
			t.Fatalf("err = %v, want the blob outside the layout refused", err)
		}
	})

	t.Run("not a layout", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := layoutClient(t).Tags(ctx, oci.Reference{Layout: dir}); !errors.Is(err, oci.ErrInvalidLayout) {
			t.Errorf("err = %v, want ErrInvalidLayout", err)
		}
	})
}

// A layout written by `cosign save` tags nothing; its "kind" annotations
// name the image ("latest") and its signatures (the .sig tag).
func TestLayoutCosignSaveNames(t *testing.T) {
	ctx := context.Background()
	image := manifestBytes(nil)
	id := descOf(image)
	sigs := manifestBytes(&oci.Descriptor{MediaType: oci.MediaTypeOCIManifest, Digest: oci.DigestOf([]byte("sig")), Size: 3})
	sd := descOf(sigs)
	kind := func(d oci.Descriptor, k string) oci.Descriptor {
		d.Annotations = map[string]string{"kind": k}
		return d
	}
	dir := writeLayout(t, [][]byte{image, sigs, []byte("{}")}, indexOf(t,
		kind(id, "dev.cosignproject.cosign/image"), kind(sd, "dev.cosignproject.cosign/sigs")))
	c := layoutClient(t)
	repo := oci.Reference{Layout: dir}
	for tag, want := range map[string]oci.Digest{"latest": id.Digest, oci.CosignTag(id.Digest, oci.CosignSignature): sd.Digest} {
		got, err := c.Resolve(ctx, repo.WithTag(tag))
		if err != nil || got.Digest != want {
			t.Errorf("%s = %v, %v; want %s", tag, got.Digest, err, want)
		}
	}
	if _, err := c.Resolve(ctx, repo.WithTag(oci.CosignTag(id.Digest, oci.CosignAttestation))); !errors.Is(err, oci.ErrNotFound) {
		t.Errorf(".att with no attestations saved: %v, want ErrNotFound", err)
	}

	// Two cosign images: neither is "latest" (which one would be is a guess).
	image2 := manifestBytes(&id)
	dir2 := writeLayout(t, [][]byte{image, image2, []byte("{}")}, indexOf(t,
		kind(id, "dev.cosignproject.cosign/image"), kind(descOf(image2), "dev.cosignproject.cosign/image")))
	if _, err := c.Resolve(ctx, oci.Reference{Layout: dir2, Tag: "latest"}); !errors.Is(err, oci.ErrNotFound) {
		t.Errorf("two cosign images: latest = %v, want ErrNotFound", err)
	}
	// A real tag wins over the implied one.
	dir3 := writeLayout(t, [][]byte{image, sigs, []byte("{}")}, indexOf(t,
		kind(id, "dev.cosignproject.cosign/image"), tagged(sd, "latest")))
	if got, err := c.Resolve(ctx, oci.Reference{Layout: dir3, Tag: "latest"}); err != nil || got.Digest != sd.Digest {
		t.Errorf("tagged latest = %v, %v; want %s", got.Digest, err, sd.Digest)
	}
}

// A compressed layout tar is refused with a message that says what to do.
func TestLayoutCompressedTarRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "layout.tar.gz")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte("not read"))
	_ = zw.Close()
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := layoutClient(t).Tags(context.Background(), oci.Reference{Layout: p})
	if !errors.Is(err, oci.ErrInvalidLayout) || !strings.Contains(err.Error(), "gzip-compressed") || !strings.Contains(err.Error(), "decompress it first") {
		t.Fatalf("err = %v, want ErrInvalidLayout saying gzip-compressed and what to do", err)
	}
}
