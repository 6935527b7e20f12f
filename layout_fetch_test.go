package ocisource_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	ggcrv1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// noNetwork is a base transport that fails, and counts, every request: a
// Client built on it reads layouts only.
type noNetwork struct{ calls atomic.Int64 }

func (n *noNetwork) RoundTrip(req *http.Request) (*http.Response, error) {
	n.calls.Add(1)
	return nil, errors.New("network used: " + req.URL.String())
}

// copyToLayout copies the manifests d names in reg's repository repo (with
// their config, layers and, for indexes, children) into the ggcr layout at
// p, and lists each in index.json, tagged when tag is not "".
func copyToLayout(t *testing.T, ctx context.Context, c *oci.Client, repo oci.Reference, p layout.Path, d oci.Descriptor, tag string) {
	t.Helper()
	var copyManifest func(d oci.Digest)
	writeBlob := func(desc oci.Descriptor) {
		rc, err := c.Blob(ctx, repo, desc)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := ggcrv1.NewHash(string(desc.Digest))
		if err := p.WriteBlob(h, rc); err != nil {
			t.Fatal(err)
		}
	}
	copyManifest = func(dg oci.Digest) {
		m, err := c.Manifest(ctx, repo.WithDigest(dg))
		if err != nil {
			t.Fatal(err)
		}
		h, _ := ggcrv1.NewHash(string(dg))
		if err := p.WriteBlob(h, io.NopCloser(bytes.NewReader(m.Raw))); err != nil {
			t.Fatal(err)
		}
		if m.Config.Digest != "" {
			writeBlob(m.Config)
		}
		for _, l := range m.Layers {
			writeBlob(l)
		}
		for _, child := range m.Manifests {
			copyManifest(child.Digest)
		}
	}
	copyManifest(d.Digest)
	h, _ := ggcrv1.NewHash(string(d.Digest))
	desc := ggcrv1.Descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: h, Size: d.Size}
	if d.MediaType != "" {
		desc.MediaType = types.MediaType(d.MediaType)
	}
	if tag != "" {
		desc.Annotations = map[string]string{"org.opencontainers.image.ref.name": tag}
	}
	if err := p.AppendDescriptor(desc); err != nil {
		t.Fatal(err)
	}
}

// tarDir writes the files under dir into a tar at dst, names relative to dir.
func tarDir(t *testing.T, dir, dst string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = os.WriteFile(dst, buf.Bytes(), 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// layoutFixture is a layout holding app 1.0.0 (signed with a Sigstore
// bundle, a referrer), 1.2.0 (signed in the legacy format, its
// "sha256-<hex>.sig" tag in index.json) and 2.0.0 (unsigned), as a
// directory and as a tar.
type layoutFixture struct {
	dir, tar   string
	key        *verifytest.KeyPair
	d100, d120 oci.Descriptor
	d200       oci.Descriptor
}

func newLayoutFixture(t *testing.T) *layoutFixture {
	t.Helper()
	ctx := context.Background()
	reg := ocitest.NewT(t)
	c := reg.Client()
	key, err := verifytest.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	repo := reg.Ref("app")
	fx := &layoutFixture{key: key, dir: filepath.Join(t.TempDir(), "layout")}
	push := func(tag, content string) oci.Descriptor {
		d, err := reg.PushFiles(ctx, "app:"+tag, map[string]string{"version.txt": content})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	fx.d100, fx.d120, fx.d200 = push("1.0.0", "one"), push("1.2.0", "one-two"), push("2.0.0", "two")
	bundle, err := verifytest.SignBundle(ctx, c, repo.WithDigest(fx.d100.Digest), key)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := verifytest.SignLegacy(ctx, c, repo.WithDigest(fx.d120.Digest), key)
	if err != nil {
		t.Fatal(err)
	}
	p, err := layout.Write(fx.dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	copyToLayout(t, ctx, c, repo, p, fx.d100, "1.0.0")
	copyToLayout(t, ctx, c, repo, p, fx.d120, "1.2.0")
	copyToLayout(t, ctx, c, repo, p, fx.d200, "2.0.0")
	copyToLayout(t, ctx, c, repo, p, sig, verifytest.LegacySignatureTag(fx.d120.Digest))
	copyToLayout(t, ctx, c, repo, p, bundle, "")
	fx.tar = filepath.Join(t.TempDir(), "layout.tar")
	tarDir(t, fx.dir, fx.tar)
	return fx
}

// offlineFetcher is a Fetcher whose client cannot reach any network, and
// the keyed cosign verifier it shares that client with.
func offlineFetcher(t *testing.T, key *verifytest.KeyPair) (*ocisource.Fetcher, *cosign.Verifier, *noNetwork) {
	t.Helper()
	nn := &noNetwork{}
	c, err := oci.NewClient(oci.WithTransport(nn))
	if err != nil {
		t.Fatal(err)
	}
	f, err := ocisource.NewFetcher(ocisource.WithClient(c))
	if err != nil {
		t.Fatal(err)
	}
	v, err := cosign.New(cosign.WithClient(c), cosign.WithKeys(key.PublicKeyPEM()))
	if err != nil {
		t.Fatal(err)
	}
	return f, v, nn
}

func TestFetchFromLayout(t *testing.T) {
	fx := newLayoutFixture(t)
	for _, form := range []struct{ name, path string }{{"dir", fx.dir}, {"tar", fx.tar}} {
		t.Run(form.name, func(t *testing.T) {
			f, v, nn := offlineFetcher(t, fx.key)
			url := oci.LayoutScheme + form.path
			for _, tc := range []struct {
				name    string
				ref     ocisource.Ref
				want    oci.Descriptor
				content string
			}{
				{"tag, legacy signature", ocisource.Ref{Tag: "1.2.0"}, fx.d120, "one-two"},
				{"semver, legacy signature", ocisource.Ref{SemVer: ">=1.0.0 <2.0.0"}, fx.d120, "one-two"},
				{"digest, legacy signature", ocisource.Ref{Digest: string(fx.d120.Digest)}, fx.d120, "one-two"},
				{"tag, bundle referrer", ocisource.Ref{Tag: "1.0.0"}, fx.d100, "one"},
				{"semver, bundle referrer", ocisource.Ref{SemVer: "~1.0"}, fx.d100, "one"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					dir := filepath.Join(t.TempDir(), "content")
					a, err := f.Fetch(context.Background(), ocisource.Source{URL: url, Ref: tc.ref, Verifier: v}, dir)
					if err != nil {
						t.Fatal(err)
					}
					if a.Digest != tc.want.Digest {
						t.Errorf("digest = %s, want %s", a.Digest, tc.want.Digest)
					}
					if diff := cmp.Diff(map[string]string{"version.txt": tc.content}, tree(t, dir)); diff != "" {
						t.Errorf("content (-want +got):\n%s", diff)
					}
				})
			}
			t.Run("unsigned refused", func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "content")
				_, err := f.Fetch(context.Background(), ocisource.Source{URL: url, Ref: ocisource.Ref{Tag: "2.0.0"}, Verifier: v}, dir)
				if !errors.Is(err, ocisource.ErrVerification) {
					t.Fatalf("err = %v, want ErrVerification", err)
				}
				if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("target directory created: %v", err)
				}
			})
			if n := nn.calls.Load(); n != 0 {
				t.Errorf("%d requests reached the network transport", n)
			}
		})
	}
}

// TestFetchFromTamperedLayout changes one byte of a blob of 1.2.0 in a
// layout (its manifest, or its layer: the signature stays intact) and
// fetches it into a directory holding 1.0.0: the fetch fails, and the
// directory still holds 1.0.0.
func TestFetchFromTamperedLayout(t *testing.T) {
	for _, tc := range []struct {
		name string
		blob func(m *oci.Manifest) oci.Digest
		want error // nil: any error
	}{
		// The manifest a tag names is checked against index.json's digest.
		{"manifest", func(*oci.Manifest) oci.Digest { return "" }, oci.ErrDigestMismatch},
		// The layer is checked as it streams: the extractor may fail on the
		// corrupt gzip stream before the digest check at its end does.
		{"layer", func(m *oci.Manifest) oci.Digest { return m.Layers[0].Digest }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newLayoutFixture(t)
			f, v, nn := offlineFetcher(t, fx.key)
			dir := filepath.Join(t.TempDir(), "content")
			ctx := context.Background()
			if _, err := f.Fetch(ctx, ocisource.Source{URL: oci.LayoutScheme + fx.dir, Ref: ocisource.Ref{Tag: "1.0.0"}, Verifier: v}, dir); err != nil {
				t.Fatal(err)
			}
			before := tree(t, dir)

			c, err := oci.NewClient(oci.WithTransport(nn))
			if err != nil {
				t.Fatal(err)
			}
			m, err := c.Manifest(ctx, oci.Reference{Layout: fx.dir, Digest: fx.d120.Digest})
			if err != nil {
				t.Fatal(err)
			}
			d := tc.blob(m)
			if d == "" {
				d = fx.d120.Digest
			}
			blob := filepath.Join(fx.dir, "blobs", "sha256", d.Hex())
			b, err := os.ReadFile(blob)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x01
			if err := os.WriteFile(blob, b, 0o644); err != nil {
				t.Fatal(err)
			}
			tampered := filepath.Join(t.TempDir(), "tampered.tar")
			tarDir(t, fx.dir, tampered)

			for _, p := range []string{fx.dir, tampered} {
				_, err := f.Fetch(ctx, ocisource.Source{URL: oci.LayoutScheme + p, Ref: ocisource.Ref{Tag: "1.2.0"}, Verifier: v}, dir)
				if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
					t.Fatalf("%s: err = %v, want %v", p, err, tc.want)
				}
				if diff := cmp.Diff(before, tree(t, dir)); diff != "" {
					t.Errorf("%s: target changed (-before +after):\n%s", p, diff)
				}
			}
			if n := nn.calls.Load(); n != 0 {
				t.Errorf("%d requests reached the network transport", n)
			}
		})
	}
}
