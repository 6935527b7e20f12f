package semverref

import (
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-cmp/cmp"
)

// fluxParse is the reference for parseTag: Flux's version.ParseVersion
// (fluxcd/pkg version/version.go: StrictNewVersion of the tag without a leading
// "v", then NewVersion of the tag), after Helm's "_" -> "+" when helm is set.
func fluxParse(tag string, helm bool) (*semver.Version, bool) {
	if helm {
		tag = strings.ReplaceAll(tag, "_", "+")
	}
	if _, err := semver.StrictNewVersion(strings.TrimPrefix(tag, "v")); err != nil {
		return nil, false
	}
	v, err := semver.NewVersion(tag)
	if err != nil {
		return nil, false
	}
	return v, true
}

// parseTagCases are tags on both sides of every rule of StrictNewVersion.
var parseTagCases = []string{
	// From fluxcd/pkg version/version_test.go (TestParseVersion).
	"v1.2.3", "v1.0", "v1", "v1.2.beta", "v1.2-5", "v1.2-beta.5", "\nv1.2",
	"v1.2.0-x.Y.0+metadata", "v1.2.0-x.Y.0+metadata-width-hypen", "v1.2.3-rc1-with-hypen", "v1.2.3.4",
	// More.
	"", "v", "vv1.2.3", "V1.2.3", "1.2.3", "0.0.0", "1.2.3 ", " 1.2.3", "1..3", ".1.2", "1.2.",
	"01.2.3", "1.02.3", "1.2.03", "1.2.3-01", "1.2.3-0", "1.2.3-0a", "1.2.3-a.01", "1.2.3+01",
	"1.2.3-", "1.2.3+", "1.2.3-+", "1.2.3-a..b", "1.2.3+a..b", "1.2.3-.a", "1.2.3-a.", "1.2.3+.a",
	"1.2.3-rc.1+build.5", "1.2.3+build-x", "1.2.3+b+c", "1.2.3-a+b-c.d", "1.2.3-a-b", "1.2.3--",
	"1.2.3-é", "1.2.3+é", "1.2.3-a_b", "1.2.3_b", "1.2.3_b_c", "1.2.3-rc_1", "v1.2.3_b", "1.2_3.4",
	"1_2.3.4", "1.2.3+b_c", "1.2.3+b.c_d",
	"18446744073709551615.0.0", "18446744073709551616.0.0", "0.18446744073709551616.0", "0.0.18446744073709551616",
	"1.2.3-18446744073709551616", "1.2.3-99999999999999999999999",
	"latest", "main", "sha-abc1234", "staging-fb3355b", "sha256-abc.sig", "1", "1.2", "1.2.3.4.5",
	"v" + strings.Repeat("1", 255) + ".0.0", "1.0.0-" + strings.Repeat("a", 250), "1.0.0-" + strings.Repeat("a", 251),
	"v1.0.0-" + strings.Repeat("a", 249), "v1.0.0-" + strings.Repeat("a", 250),
}

func TestParseTagMatchesFlux(t *testing.T) {
	for _, helm := range []bool{false, true} {
		for _, tag := range parseTagCases {
			checkParseTag(t, tag, helm)
		}
	}
}

func checkParseTag(t *testing.T, tag string, helm bool) {
	t.Helper()
	want, wantOK := fluxParse(tag, helm)
	got, gotOK := parseTag(tag, helm)
	if gotOK != wantOK {
		t.Fatalf("parseTag(%q, helm=%v) ok = %v, Flux's ParseVersion ok = %v", tag, helm, gotOK, wantOK)
	}
	if !gotOK {
		return
	}
	type parts struct {
		Major, Minor, Patch uint64
		Pre, Meta           string
	}
	w := parts{want.Major(), want.Minor(), want.Patch(), want.Prerelease(), want.Metadata()}
	g := parts{got.major, got.minor, got.patch, got.pre, got.meta}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Fatalf("parseTag(%q, helm=%v) mismatch (-want +got):\n%s", tag, helm, diff)
	}
	if !strings.HasSuffix(tag, got.text) || len(tag)-len(got.text) > 1 {
		t.Fatalf("parseTag(%q).text = %q, want the tag without its leading v", tag, got.text)
	}
}

func TestCompareVersionsMatchesMasterminds(t *testing.T) {
	versions := []string{
		"0.0.0", "0.0.1", "0.1.0", "1.0.0", "1.0.0+b", "v1.0.0", "1.0.1", "1.1.0", "2.0.0", "10.0.0",
		"1.0.0-0", "1.0.0-1", "1.0.0-2", "1.0.0-10", "1.0.0-a", "1.0.0-b", "1.0.0-A", "1.0.0-a.1", "1.0.0-a.2",
		"1.0.0-a.10", "1.0.0-a.b", "1.0.0-a.1.1", "1.0.0-rc", "1.0.0-rc.0", "1.0.0-rc-1", "1.0.0--",
		"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",
		"1.0.0-99999999999999999999", "1.0.0-99999999999999999998", "1.0.0-18446744073709551615", "1.0.0-1a",
		"18446744073709551615.0.0",
	}
	for _, a := range versions {
		for _, b := range versions {
			va, _ := parseTag(a, false)
			vb, _ := parseTag(b, false)
			want := semver.MustParse(a).Compare(semver.MustParse(b))
			if got := compareVersions(&va, &vb); got != want {
				t.Errorf("compareVersions(%q, %q) = %d, Masterminds Compare = %d", a, b, got, want)
			}
		}
	}
}

// FuzzParseTag checks parseTag against Flux's parse and compareVersions
// against Masterminds' Compare on arbitrary input.
func FuzzParseTag(f *testing.F) {
	for _, tag := range parseTagCases {
		f.Add(tag, "1.0.0-rc.1", false)
	}
	f.Add("1.0.0_b", "v1.0.0+a", true)
	f.Fuzz(func(t *testing.T, a, b string, helm bool) {
		checkParseTag(t, a, helm)
		checkParseTag(t, b, helm)
		va, okA := parseTag(a, helm)
		vb, okB := parseTag(b, helm)
		if !okA || !okB {
			return
		}
		ma, _ := fluxParse(a, helm)
		mb, _ := fluxParse(b, helm)
		if got, want := compareVersions(&va, &vb), ma.Compare(mb); got != want {
			t.Fatalf("compareVersions(%q, %q) = %d, Masterminds Compare = %d", a, b, got, want)
		}
	})
}

func TestIsCosignTag(t *testing.T) {
	tests := []struct {
		tag  string
		want bool
	}{
		// Tags from fluxcd/pkg oci/client/list_test.go.
		{"sha256-e2688bb75ee43df49c9bfb2aa30dd98173649db53955e87c347024ba71bc1c80.sig", true},
		{"sha256-e2688bb75ee43df49c9bfb2aa30dd98173649db53955e87c347024ba71bc1c80.sbom", true},
		{"sha256-e2688bb75ee43df49c9bfb2aa30dd98173649db53955e87c347024ba71bc1c80.att", true},
		{"sha512-0123abcdef.sig", true},
		{"sha256-E2688BB.sig", false},
		{"sha256-.sig", false},
		{"-abc.sig", false},
		{"sha256-abc.sigs", false},
		{"sha256-abc", false},
		{"sha256-xyz.sig", false},
		{"staging-fb3355b", false},
		{"1.0.0", false},
		{"v1.0.0-rc.1", false},
		{".sig", false},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			if got := isCosignTag(tt.tag); got != tt.want {
				t.Errorf("isCosignTag(%q) = %v, want %v", tt.tag, got, tt.want)
			}
		})
	}
}

// TestNamesPrerelease checks the shortcut that rejects pre-releases without
// asking Masterminds: whenever it says "no pre-release", Masterminds must
// reject every pre-release for that constraint.
func TestNamesPrerelease(t *testing.T) {
	tests := []struct {
		constraint string
		want       bool
	}{
		{"*", false},
		{"~1.0", false},
		{">=1.0.0 <2.0.0", false},
		{"1.0 - 2.0", false},
		{"1.0.0 - 2.0.0 || 3.x", false},
		{">=1.0.0-0", true},
		{"1.x-0", true},
		{"*-0", true},
		{"~1.1.0-rc", true},
		{"^1 || >=2.0.0-rc.1", true},
		{"1.0.0-rc.1 - 2.0.0", true},
		{"1.0.0+b-1", true}, // metadata with a hyphen: a harmless false positive
	}
	probes := []string{"0.0.0-0", "1.0.0-rc.1", "1.5.0-rc.1", "2.0.0-0", "3.1.0-beta", "5.0.0-a"}
	for _, tt := range tests {
		t.Run(tt.constraint, func(t *testing.T) {
			if got := namesPrerelease(tt.constraint); got != tt.want {
				t.Fatalf("namesPrerelease(%q) = %v, want %v", tt.constraint, got, tt.want)
			}
			if tt.want {
				return
			}
			cs, err := semver.NewConstraint(tt.constraint)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range probes {
				if cs.Check(semver.MustParse(p)) {
					t.Errorf("Masterminds admits pre-release %q for %q, which namesPrerelease says names none", p, tt.constraint)
				}
			}
		})
	}
}
