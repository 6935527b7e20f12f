package oci_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource/oci"
)

const hexA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func TestParseURL(t *testing.T) {
	tests := []struct {
		in   string
		want oci.Reference
	}{
		{"oci://ghcr.io/org/app", oci.Reference{Registry: "ghcr.io", Repository: "org/app"}},
		{"oci://ghcr.io/org/app:v1.2.3", oci.Reference{Registry: "ghcr.io", Repository: "org/app", Tag: "v1.2.3"}},
		{"oci://localhost:5000/app@sha256:" + hexA, oci.Reference{Registry: "localhost:5000", Repository: "app", Digest: "sha256:" + hexA}},
		{"oci://127.0.0.1:5000/a/b/c:t@sha256:" + hexA, oci.Reference{Registry: "127.0.0.1:5000", Repository: "a/b/c", Tag: "t", Digest: "sha256:" + hexA}},
		{"oci://registry/app", oci.Reference{Registry: "registry", Repository: "app"}},
		{"oci://[::1]:5000/app:1", oci.Reference{Registry: "[::1]:5000", Repository: "app", Tag: "1"}},
		{"oci://r.io/a__b/c-d/e.f_g:1_2+", oci.Reference{}}, // '+' is not a tag character
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := oci.ParseURL(tt.in)
			if tt.want == (oci.Reference{}) {
				if !errors.Is(err, oci.ErrInvalidReference) {
					t.Fatalf("err = %v, want ErrInvalidReference", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got.String() != strings.TrimPrefix(tt.in, "oci://") {
				t.Errorf("String() = %q, want the input back", got.String())
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, in := range []string{
		"", "ghcr.io/org/app", "https://ghcr.io/app", "oci://", "oci://ghcr.io", "oci://ghcr.io/",
		"oci:///app", "oci://ghcr.io/Org/App", "oci://ghcr.io/app:", "oci://ghcr.io/app:-x",
		"oci://ghcr.io/app:" + strings.Repeat("t", 129), "oci://ghcr.io/app@sha256:../../x",
		"oci://ghcr.io/app@sha256:" + strings.ToUpper(hexA), "oci://ghcr.io/app@md5:abc",
		"oci://user:pass@ghcr.io/app", "oci://ghcr.io:99999/app", "oci://ghcr.io/a//b",
		"oci://ghcr.io/../app", "oci://ghcr.io/app?x=1", "oci://ghcr.io/app#frag",
		"oci://ghcr.io/" + strings.Repeat("a", 300),
	} {
		t.Run(in, func(t *testing.T) {
			_, err := oci.ParseURL(in)
			if !errors.Is(err, oci.ErrInvalidReference) {
				t.Fatalf("ParseURL(%q) err = %v, want ErrInvalidReference", in, err)
			}
		})
	}
}

func TestParseDigest(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"sha256:" + hexA, true},
		{"sha512:" + hexA + hexA, true},
		{"sha256:" + hexA[:63], false},
		{"sha256:" + hexA + "a", false},
		{"sha256:" + strings.ToUpper(hexA), false},
		{"sha256:../../" + hexA[:58], false},
		{"sha384:" + hexA, false},
		{"sha256" + hexA, false},
		{":" + hexA, false},
		{"", false},
	} {
		_, err := oci.ParseDigest(tt.in)
		if tt.ok != (err == nil) {
			t.Errorf("ParseDigest(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if err != nil && !errors.Is(err, oci.ErrInvalidDigest) {
			t.Errorf("ParseDigest(%q) err = %v, want ErrInvalidDigest", tt.in, err)
		}
	}
}

func FuzzParseReference(f *testing.F) {
	for _, s := range []string{
		"ghcr.io/org/app:v1", "localhost:5000/app@sha256:" + hexA, "[::1]:1/a/b:c@sha256:" + hexA,
		"a/b", "x:y/z", "ghcr.io/app@sha256:../../x", "ghcr.io/a:b:c", "h/a\\..\\x",
		"user:secret@ghcr.io/app", "user:se/cret@ghcr.io/app", "ghcr.io/app:sha256-" + hexA + ".sig",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := oci.ParseReference(s)
		if err != nil {
			if !errors.Is(err, oci.ErrInvalidReference) {
				t.Fatalf("ParseReference(%q) error %v does not wrap ErrInvalidReference", s, err)
			}
			// What comes before an "@" in the host segment may be a password:
			// never repeated.
			// (The message's own example "user:password@host" is not a leak.)
			msg := strings.ReplaceAll(err.Error(), "user:password@host", "")
			if userinfo, _, ok := strings.Cut(s, "@"); ok && !strings.Contains(userinfo, "/") && len(userinfo) >= 4 && strings.Contains(msg, userinfo) {
				if _, pw, _ := strings.Cut(userinfo, ":"); pw != "" {
					t.Fatalf("ParseReference(%q) error repeats %q: %v", s, userinfo, err)
				}
			}
			return
		}
		if ref.Digest != "" {
			if err := ref.Digest.Validate(); err != nil {
				t.Fatalf("accepted invalid digest: %v", err)
			}
		}
		if strings.Contains(ref.Repository, "..") || strings.ContainsAny(ref.Repository+ref.Tag, "\\?#% ") {
			t.Fatalf("accepted unsafe reference %+v", ref)
		}
		back, err := oci.ParseReference(ref.String())
		if err != nil || back != ref {
			t.Fatalf("round trip of %q: %+v, %v", s, back, err)
		}
	})
}
