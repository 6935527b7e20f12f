package oci_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
)

func TestParsePlatform(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want oci.Platform
	}{
		{"linux/amd64", oci.Platform{OS: "linux", Architecture: "amd64"}},
		{"linux/arm64/v8", oci.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
		{"windows/amd64", oci.Platform{OS: "windows", Architecture: "amd64"}},
		{"linux/ppc64le", oci.Platform{OS: "linux", Architecture: "ppc64le"}},
		{"linux/386", oci.Platform{OS: "linux", Architecture: "386"}},
	} {
		got, err := oci.ParsePlatform(tc.in)
		if err != nil {
			t.Errorf("ParsePlatform(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParsePlatform(%q) (-want +got):\n%s", tc.in, diff)
		}
		if got.String() != tc.in {
			t.Errorf("ParsePlatform(%q).String() = %q", tc.in, got.String())
		}
	}
	for _, in := range []string{"", "linux", "linux/", "/amd64", "linux/amd64/", "linux/arm/v7/x", "Linux/amd64",
		"linux/amd64:10.0", "linux/am d64", "linux/-amd64", "linux/../amd64", "linux/" + strings.Repeat("a", 65)} {
		if p, err := oci.ParsePlatform(in); !errors.Is(err, oci.ErrInvalidPlatform) {
			t.Errorf("ParsePlatform(%q) = %v, %v; want ErrInvalidPlatform", in, p, err)
		}
	}
}

func TestPlatformMatches(t *testing.T) {
	p := func(s string) oci.Platform {
		v, err := oci.ParsePlatform(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		want, have string
		ok         bool
	}{
		{"linux/amd64", "linux/amd64", true},
		{"linux/amd64", "linux/arm64", false},
		{"linux/amd64", "windows/amd64", false},
		{"linux/arm64", "linux/arm64/v8", true},
		{"linux/arm64/v8", "linux/arm64", true},
		{"linux/arm/v7", "linux/arm/v6", false},
		{"linux/arm", "linux/arm/v6", true},
		{"linux/arm/v7", "linux/arm", false},
	} {
		if got := p(tc.want).Matches(p(tc.have)); got != tc.ok {
			t.Errorf("%s.Matches(%s) = %v, want %v", tc.want, tc.have, got, tc.ok)
		}
	}
}

// index builds an index manifest listing entries, one per platform ("" for
// an entry without platform, "attestation" for a buildx attestation).
func index(t *testing.T, platforms ...string) *oci.Manifest {
	t.Helper()
	m := &oci.Manifest{MediaType: oci.MediaTypeOCIIndex, Descriptor: oci.Descriptor{Digest: oci.DigestOf([]byte("index"))}}
	for i, s := range platforms {
		d := oci.Descriptor{MediaType: oci.MediaTypeOCIManifest, Digest: oci.DigestOf([]byte(fmt.Sprint(i))), Size: 1}
		switch s {
		case "":
		case "attestation":
			d.Platform = &oci.Platform{OS: "unknown", Architecture: "unknown"}
			d.Annotations = map[string]string{"vnd.docker.reference.type": "attestation-manifest"}
		default:
			p, err := oci.ParsePlatform(s)
			if err != nil {
				t.Fatal(err)
			}
			d.Platform = &p
		}
		m.Manifests = append(m.Manifests, d)
	}
	return m
}

func TestSelectPlatform(t *testing.T) {
	for _, tc := range []struct {
		name      string
		platforms []string
		want      string // platform requested, "" for none
		pick      int    // index of the entry chosen, or -1
		offered   []string
	}{
		{"single, none requested", []string{"linux/amd64"}, "", 0, nil},
		{"single without platform, one requested", []string{""}, "linux/arm64", 0, nil},
		{"single declaring another platform", []string{"linux/amd64"}, "linux/arm64", -1, []string{"linux/amd64"}},
		{"single plus attestation", []string{"linux/amd64", "attestation"}, "", 0, nil},
		{"amd64", []string{"linux/amd64", "linux/arm64/v8"}, "linux/amd64", 0, nil},
		{"arm64 without variant", []string{"linux/amd64", "linux/arm64/v8"}, "linux/arm64", 1, nil},
		{"arm64/v8 declared without variant", []string{"linux/amd64", "linux/arm64"}, "linux/arm64/v8", 1, nil},
		{"first match wins", []string{"linux/arm/v6", "linux/arm/v7"}, "linux/arm", 0, nil},
		{"several, none requested", []string{"linux/amd64", "attestation", "linux/arm64", "linux/arm64", ""}, "", -1,
			[]string{"linux/amd64", "linux/arm64", "unknown"}},
		{"not offered", []string{"linux/amd64", "linux/arm64"}, "linux/s390x", -1, []string{"linux/amd64", "linux/arm64"}},
		{"empty", nil, "", -1, nil},
		{"attestations only", []string{"attestation"}, "linux/amd64", -1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := index(t, tc.platforms...)
			var want *oci.Platform
			if tc.want != "" {
				p, _ := oci.ParsePlatform(tc.want)
				want = &p
			}
			got, err := oci.SelectPlatform(m, want)
			if tc.pick >= 0 {
				if err != nil {
					t.Fatal(err)
				}
				if got.Digest != m.Manifests[tc.pick].Digest {
					t.Errorf("chose %s, want entry %d", got.Digest, tc.pick)
				}
				return
			}
			var pe *oci.PlatformError
			if !errors.As(err, &pe) || !errors.Is(err, oci.ErrPlatformNotFound) {
				t.Fatalf("err = %v, want a *PlatformError", err)
			}
			if diff := cmp.Diff(&oci.PlatformError{Index: m.Descriptor.Digest, Platform: tc.want, Offered: tc.offered}, pe); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			for _, p := range tc.offered {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("message %q does not list %s", err, p)
				}
			}
		})
	}
}

func TestSelectPlatformBoundsEntries(t *testing.T) {
	platforms := make([]string, oci.MaxIndexManifests+1)
	for i := range platforms {
		platforms[i] = "linux/amd64"
	}
	m := index(t, platforms...)
	var le *oci.IndexLimitError
	// Bounded before any is chosen: the first entry would match.
	if _, err := oci.SelectPlatform(m, &oci.Platform{OS: "linux", Architecture: "amd64"}); !errors.As(err, &le) || !errors.Is(err, oci.ErrTooLarge) || le.Limit != "manifests" {
		t.Fatalf("err = %v, want an *IndexLimitError on manifests", err)
	}
	m.Manifests = m.Manifests[:oci.MaxIndexManifests]
	if _, err := oci.SelectPlatform(m, &oci.Platform{OS: "linux", Architecture: "amd64"}); err != nil {
		t.Fatalf("%d entries: %v", oci.MaxIndexManifests, err)
	}
}

func TestPlatformManifest(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.NewT(t)
	c := reg.Client()
	push := func(tag, content string) oci.Descriptor {
		t.Helper()
		d, err := reg.PushBytes(ctx, "app:"+tag, oci.MediaTypeFluxContent, []byte(content))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	at := func(d oci.Descriptor, platform string) oci.Descriptor {
		p, err := oci.ParsePlatform(platform)
		if err != nil {
			t.Fatal(err)
		}
		d.Platform = &p
		return d
	}
	pushIndex := func(ref string, entries ...oci.Descriptor) oci.Descriptor {
		t.Helper()
		d, err := reg.PushIndex(ctx, ref, "", entries...)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	amd, arm := push("amd", "amd64 content"), push("arm", "arm64 content")
	top := pushIndex("app:multi", at(amd, "linux/amd64"), at(arm, "linux/arm64"))
	// Nested: an index whose only entry is the multi-platform one.
	nested := pushIndex("app:nested", top)
	deep := nested
	for range oci.MaxIndexDepth - 2 {
		deep = pushIndex("app", deep)
	}
	tooDeep := pushIndex("app:toodeep", deep)
	get := func(d oci.Descriptor) *oci.Manifest {
		t.Helper()
		m, err := c.Manifest(ctx, reg.Ref("app").WithDigest(d.Digest))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, tc := range []struct {
		name     string
		from     oci.Descriptor
		platform string
		want     oci.Descriptor
		gets     int // manifests fetched
	}{
		{"plain manifest, no platform", amd, "", amd, 0},
		{"plain manifest, a platform", amd, "linux/arm64", amd, 0},
		{"amd64", top, "linux/amd64", amd, 1},
		{"arm64", top, "linux/arm64", arm, 1},
		{"nested", nested, "linux/arm64", arm, 2},
		{"MaxIndexDepth deep", deep, "linux/amd64", amd, oci.MaxIndexDepth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := get(tc.from)
			var p *oci.Platform
			if tc.platform != "" {
				v, _ := oci.ParsePlatform(tc.platform)
				p = &v
			}
			reg.ResetRequests()
			got, err := c.PlatformManifest(ctx, reg.Ref("app").WithDigest(tc.from.Digest), m, p)
			if err != nil {
				t.Fatal(err)
			}
			if got.Descriptor.Digest != tc.want.Digest {
				t.Errorf("got %s, want %s", got.Descriptor.Digest, tc.want.Digest)
			}
			if n := reg.CountRequests("GET", "/manifests/"); n != tc.gets || n != len(reg.Requests()) {
				t.Errorf("%d manifest GETs in %d requests, want %d", n, len(reg.Requests()), tc.gets)
			}
			if tc.from.Digest != tc.want.Digest && (got.Descriptor.Platform == nil || got.Descriptor.Platform.String() != tc.platform) {
				t.Errorf("Descriptor.Platform = %v, want %s", got.Descriptor.Platform, tc.platform)
			}
		})
	}
	t.Run("too deep", func(t *testing.T) {
		_, err := c.PlatformManifest(ctx, reg.Ref("app").WithDigest(tooDeep.Digest), get(tooDeep), &oci.Platform{OS: "linux", Architecture: "amd64"})
		var le *oci.IndexLimitError
		var oe *oci.Error
		if !errors.As(err, &le) || le.Limit != "depth" || !errors.Is(err, oci.ErrTooLarge) || !errors.As(err, &oe) {
			t.Fatalf("err = %v, want an *oci.Error wrapping an *IndexLimitError on depth", err)
		}
	})
	t.Run("no platform", func(t *testing.T) {
		_, err := c.PlatformManifest(ctx, reg.Ref("app").WithDigest(nested.Digest), get(nested), nil)
		var pe *oci.PlatformError
		if !errors.As(err, &pe) || pe.Index != top.Digest || !strings.Contains(err.Error(), "linux/amd64, linux/arm64") {
			t.Fatalf("err = %v, want a *PlatformError on %s listing both platforms", err, top.Digest)
		}
	})
	t.Run("size mismatch", func(t *testing.T) {
		lying := at(amd, "linux/amd64")
		lying.Size++
		d := pushIndex("app:lying", lying)
		_, err := c.PlatformManifest(ctx, reg.Ref("app").WithDigest(d.Digest), get(d), nil)
		if !errors.Is(err, oci.ErrSizeMismatch) {
			t.Fatalf("err = %v, want ErrSizeMismatch", err)
		}
	})
	t.Run("docker manifest list", func(t *testing.T) {
		d, err := reg.PushIndex(ctx, "app:list", oci.MediaTypeDockerList, at(amd, "linux/amd64"), at(arm, "linux/arm64"))
		if err != nil {
			t.Fatal(err)
		}
		m := get(d)
		if !m.IsIndex() || m.MediaType != oci.MediaTypeDockerList {
			t.Fatalf("IsIndex = %v, media type %q", m.IsIndex(), m.MediaType)
		}
		got, err := c.PlatformManifest(ctx, reg.Ref("app").WithDigest(d.Digest), m, &oci.Platform{OS: "linux", Architecture: "arm64"})
		if err != nil || got.Descriptor.Digest != arm.Digest {
			t.Fatalf("got %v, %v; want %s", got, err, arm.Digest)
		}
	})
}
