package semverref_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"

	"github.com/ocisource/ocisource/semverref"
)

// FuzzSelect feeds arbitrary tag lists (one tag per line), constraints and
// filters to Resolve. It must never panic; a returned tag must be one of the
// input tags, satisfy the constraint, and be the tag Flux's algorithm (with
// the tie-break) picks, whatever the order of the list. The seed corpus is in
// testdata/fuzz/FuzzSelect.
func FuzzSelect(f *testing.F) {
	f.Add("1.0.0\nv1.0.0\n1.1.0-rc.1\nlatest", "~1.0", "", false, false)
	f.Add("0.1.5+b.min.minute\n0.1.5+a.min.hour\n0.1.5+c.now\n0.10.0\n0.9.0", "0.*", "", false, false)
	f.Add("1.0.0_b\n1.0.0\nv2.0.0_x", "*", "^v", true, true)
	f.Fuzz(func(t *testing.T, list, constraint, filter string, prereleases, helm bool) {
		tags := strings.Split(list, "\n")
		var o []semverref.Option
		if filter != "" {
			o = append(o, semverref.WithFilter(filter))
		}
		if prereleases {
			o = append(o, semverref.WithPrereleases())
		}
		if helm {
			o = append(o, semverref.WithHelmTags())
		}
		got, err := semverref.Resolve(tags, constraint, o...)
		if err != nil {
			if got != "" {
				t.Fatalf("Resolve returned %q with error %v", got, err)
			}
			switch {
			case errors.Is(err, semverref.ErrInvalidConstraint), errors.Is(err, semverref.ErrInvalidFilter):
				return
			case errors.Is(err, semverref.ErrNoMatch):
				if want, ok := reference(tags, constraint, filter, prereleases, helm); ok {
					t.Fatalf("Resolve found no match; the reference picks %q", want)
				}
				var nm *semverref.NoMatchError
				if !errors.As(err, &nm) || nm.Seen != len(tags) || nm.Candidates > nm.Seen || nm.Prereleases > nm.Candidates {
					t.Fatalf("inconsistent NoMatchError %+v for %d tags", nm, len(tags))
				}
				return
			default:
				t.Fatalf("Resolve error matches no sentinel: %v", err)
			}
		}
		if !slices.Contains(tags, got) {
			t.Fatalf("Resolve returned %q, which is not one of the tags", got)
		}
		cs, cerr := semver.NewConstraint(constraint)
		if cerr != nil {
			t.Fatalf("Resolve succeeded with a constraint Masterminds rejects: %v", cerr)
		}
		cs.IncludePrerelease = prereleases
		text := strings.TrimPrefix(got, "v")
		if helm {
			text = strings.ReplaceAll(text, "_", "+")
		}
		v, verr := semver.StrictNewVersion(text)
		if verr != nil || !cs.Check(v) {
			t.Fatalf("Resolve returned %q, which does not satisfy %q (%v)", got, constraint, verr)
		}
		if want, ok := reference(tags, constraint, filter, prereleases, helm); !ok || want != got {
			t.Fatalf("Resolve = %q; the reference picks %q (found %v)", got, want, ok)
		}
		slices.Reverse(tags)
		if again, err := semverref.Resolve(tags, constraint, o...); err != nil || again != got {
			t.Fatalf("Resolve on the reversed list = %q, %v; want %q", again, err, got)
		}
	})
}
