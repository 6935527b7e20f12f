package semverref

import (
	"fmt"
	"math"
	"testing"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-cmp/cmp"
)

var spanConstraints = func() []string {
	var cs []string
	ops := []string{"", "=", "!=", ">", "<", ">=", "=>", "<=", "=<", "~", "~>", "^"}
	vers := []string{
		"*", "x", "X", "1", "1.x", "1.*", "1.2", "1.2.x", "1.2.3", "0", "0.x", "0.0", "0.0.x", "0.0.0", "0.0.2", "0.2",
		"0.2.3", "2.0.0", "v1.2", "01.02", "1.2.3-rc.1", "1.x-0", "*-0", "0.0.0-0", "1.2.3+b", "2.x.1", "x.1.2",
	}
	for _, op := range ops {
		for _, v := range vers {
			cs = append(cs, op+v)
		}
	}
	return append(cs,
		">=1.0 <2.0", "1.0 - 2.0", "1.0.0 - 2", "~1.1, !=1.1.1", "^1 || ^0.2 || 3.x", ">1.2 <=2.x", ">=2.0.0-rc.1 <3",
		">= 1.0, < 1.5 || >= 2.0", "<=1.2 >=1.2", ">2 <1", "=> 0.2, =< 0.3",
	)
}()

func spanVersions() []string {
	var vs []string
	for _, major := range []int{0, 1, 2, 3} {
		for _, minor := range []int{0, 1, 2, 3} {
			for _, patch := range []int{0, 1, 2, 3, 4} {
				for _, pre := range []string{"", "-0", "-rc.1"} {
					vs = append(vs, fmt.Sprintf("%d.%d.%d%s", major, minor, patch, pre))
				}
			}
		}
	}
	return vs
}

// TestSpansAreSound checks that every version Masterminds accepts lies within
// the bounds, with and without IncludePrerelease.
func TestSpansAreSound(t *testing.T) {
	versions := spanVersions()
	for _, c := range spanConstraints {
		cs, err := semver.NewConstraint(c)
		if err != nil {
			continue // not a constraint; Compile reports it
		}
		spans, ok := spansOf(cs)
		if !ok {
			t.Errorf("spansOf(%q) cannot read %q", c, cs.String())
			continue
		}
		for _, pre := range []bool{false, true} {
			cs.IncludePrerelease = pre
			for _, vs := range versions {
				v, _ := parseTag(vs, false)
				if cs.Check(semver.MustParse(vs)) && !within(spans, &v) {
					t.Errorf("constraint %q (IncludePrerelease %v) accepts %s, outside its spans %v", c, pre, vs, spans)
				}
			}
		}
	}
}

// TestSpans pins a few bounds, so that a change that widens them all (still
// sound, but slow) is noticed.
func TestSpans(t *testing.T) {
	inf := uint64(math.MaxUint64)
	tests := []struct {
		constraint string
		want       []span
	}{
		{"*", []span{{triple{}, unbounded}}},
		{"~1.0", []span{{triple{1, 0, 0}, triple{1, 0, inf}}}},
		{"^1.2", []span{{triple{1, 2, 0}, triple{1, inf, inf}}}},
		{"^0.2.3", []span{{triple{0, 2, 3}, triple{0, 2, inf}}}},
		{"^0.0.3", []span{{triple{0, 0, 3}, triple{0, 0, 3}}}},
		{">=1.0 <2.0", []span{{triple{1, 0, 0}, triple{2, 0, 0}}}},
		{"1.0 - 2.0", []span{{triple{1, 0, 0}, triple{2, 0, inf}}}},
		{"1.2.3", []span{{triple{1, 2, 3}, triple{1, 2, 3}}}},
		{"!=1.2.3", []span{{triple{}, unbounded}}},
		{"^1 || >=3.1", []span{{triple{1, 0, 0}, triple{1, inf, inf}}, {triple{3, 1, 0}, unbounded}}},
		{">2 <1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.constraint, func(t *testing.T) {
			cs, err := semver.NewConstraint(tt.constraint)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := spansOf(cs)
			if !ok {
				t.Fatalf("spansOf(%q) cannot read it", tt.constraint)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(span{}, triple{})); diff != "" {
				t.Errorf("spansOf(%q) mismatch (-want +got):\n%s", tt.constraint, diff)
			}
		})
	}
}

// FuzzSpans checks the soundness of the bounds on arbitrary constraints and
// versions.
func FuzzSpans(f *testing.F) {
	for _, c := range spanConstraints {
		f.Add(c, "1.2.3", false)
	}
	f.Add("^0.0", "0.0.9-rc.1", true)
	f.Fuzz(func(t *testing.T, constraint, ver string, pre bool) {
		cs, err := semver.NewConstraint(constraint)
		if err != nil {
			return
		}
		v, ok := parseTag(ver, false)
		if !ok {
			return
		}
		spans, ok := spansOf(cs)
		if !ok {
			return // no bounds: every tag is checked
		}
		cs.IncludePrerelease = pre
		sv, err := semver.StrictNewVersion(v.text)
		if err != nil {
			t.Fatalf("parseTag accepted %q, StrictNewVersion did not: %v", ver, err)
		}
		if cs.Check(sv) && !within(spans, &v) {
			t.Fatalf("constraint %q (%q) accepts %s, outside its spans %v", constraint, cs.String(), ver, spans)
		}
	})
}
