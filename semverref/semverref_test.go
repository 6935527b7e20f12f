package semverref_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource/semverref"
)

// Tags pushed by fluxcd/pkg oci/client/list_test.go (Test_List).
var (
	fluxAppTags = []string{
		"v0.0.1", "v0.0.2", "v0.0.3", "v6.0.0", "v6.0.1", "v6.0.2", "v6.0.2-rc.1", "v6.0.2-alpha",
		"staging-fb3355b",
	}
	fluxCosignTags = []string{
		"sha256-e2688bb75ee43df49c9bfb2aa30dd98173649db53955e87c347024ba71bc1c80.sig",
		"sha256-e2688bb75ee43df49c9bfb2aa30dd98173649db53955e87c347024ba71bc1c80.sbom",
		"sha256-e2688bb75ee43df49c9bfb2aa30dd98173649db53955e87c347024ba71bc1c80.att",
	}
	fluxAllTags = append(slices.Clone(fluxCosignTags), fluxAppTags...)

	// Tags of fluxcd/source-controller
	// internal/helm/repository/oci_chart_repository_test.go
	// (TestOCIChartRepository_Get).
	fluxHelmTags = []string{
		"0.0.1", "0.1.0", "0.1.1", "0.1.5+b.min.minute", "0.1.5+a.min.hour", "0.1.5+c.now",
		"0.2.0", "0.9.0", "0.10.0", "1.0.0", "1.1.0-rc.1",
	}

	// Tags of fluxcd/source-controller
	// internal/controller/ocirepository_controller_test.go
	// (TestOCIRepository_Reconcile, TestOCIRepository_getArtifactRef).
	fluxPodinfoTags = []string{"6.1.4", "6.1.5", "6.1.6"}
)

type resolveCase struct {
	name       string
	tags       []string
	constraint string
	opts       []semverref.Option
	want       string
	// wantErr is the sentinel the error must match; nil means success.
	wantErr error
	// wantNoMatch, when set, is the exact *NoMatchError expected.
	wantNoMatch *semverref.NoMatchError
}

func fluxCases() []resolveCase {
	return []resolveCase{
		// fluxcd/source-controller ocirepository_controller_test.go.
		{name: "flux/ocirepository/public semver", tags: fluxPodinfoTags, constraint: ">= 6.1 <= 6.1.5", want: "6.1.5"},
		{name: "flux/ocirepository/semver reference", tags: fluxPodinfoTags, constraint: ">= 6.1.6", want: "6.1.6"},

		// fluxcd/source-controller oci_chart_repository_test.go.
		{name: "flux/helm/latest stable (asterisk)", tags: fluxHelmTags, constraint: "*", want: "1.0.0"},
		{name: "flux/helm/latest stable (semver range)", tags: fluxHelmTags, constraint: ">=0.1.5", want: "1.0.0"},
		{name: "flux/helm/0.2.x", tags: fluxHelmTags, constraint: "0.2.x", want: "0.2.0"},
		{name: "flux/helm/exact", tags: fluxHelmTags, constraint: "0.1.0", want: "0.1.0"},
		{name: "flux/helm/0.* sorts numerically", tags: fluxHelmTags, constraint: "0.*", want: "0.10.0"},
		{name: "flux/helm/unfulfilled range", tags: fluxHelmTags, constraint: ">2.0.0", wantErr: semverref.ErrNoMatch,
			wantNoMatch: &semverref.NoMatchError{Constraint: ">2.0.0", Seen: 11, Candidates: 11, Prereleases: 1}},
		// Flux leaves the choice among 0.1.5+a/b/c to sort.Sort; here the smallest tag wins.
		{name: "flux/helm/build metadata tie", tags: fluxHelmTags, constraint: "0.1.5", want: "0.1.5+a.min.hour"},

		// fluxcd/pkg oci/client/list_test.go.
		{name: "flux/list/6.0.x", tags: fluxAllTags, constraint: "6.0.x", want: "v6.0.2"},
		{name: "flux/list/alpha 6.0.x", tags: fluxAllTags, constraint: ">=6.0.0-rc", opts: opts(semverref.WithFilter("alpha")), want: "v6.0.2-alpha"},
		{name: "flux/list/pre-release without filter: rc beats alpha", tags: fluxAllTags, constraint: ">=6.0.0-rc <6.0.2", want: "v6.0.2-rc.1"},
		{name: "flux/list/staging is not a version", tags: fluxAllTags, constraint: "*", opts: opts(semverref.WithFilter("^staging.*$")),
			wantErr: semverref.ErrNoMatch, wantNoMatch: &semverref.NoMatchError{Constraint: "*", Filter: "^staging.*$", Seen: 12}},
		{name: "flux/list/cosign tags are never selected", tags: fluxAllTags, constraint: "*",
			opts:    opts(semverref.WithFilter("sha256-.*..*"), semverref.WithPrereleases(), semverref.WithHelmTags()),
			wantErr: semverref.ErrNoMatch, wantNoMatch: &semverref.NoMatchError{Constraint: "*", Filter: "sha256-.*..*", Seen: 12}},

		// The semverFilter example of Flux's OCIRepository documentation
		// (docs/spec/v1/ocirepositories.md): semver ">= 6.1.x-0", semverFilter ".*-rc.*".
		{name: "flux/docs/rc channel", tags: []string{"6.1.4", "6.1.5-rc.1", "6.1.5-rc.2", "6.1.5", "6.1.6-beta.1", "6.2.0-rc.1"},
			constraint: ">= 6.1.x-0", opts: opts(semverref.WithFilter(".*-rc.*")), want: "6.2.0-rc.1"},
	}
}

func edgeCases() []resolveCase {
	mixed := []string{"latest", "main", "1.2", "01.2.3", "v1.2.3.4", "1.0.0", "v1.1.0", "1.1.1-rc.1", "V1.9.0", "vv1.8.0", "2.0.0-beta.1"}
	return []resolveCase{
		// Invalid tags ignored, "v" accepted.
		{name: "invalid tags ignored", tags: mixed, constraint: "*", want: "v1.1.0"},
		{name: "uppercase V and double v are not versions", tags: []string{"V1.9.0", "vv1.8.0", "1.0.0"}, constraint: ">=1.0.0", want: "1.0.0"},
		{name: "loose versions are not versions", tags: []string{"1", "1.2", "1.0.0"}, constraint: ">=1.0.0", want: "1.0.0"},
		{name: "v prefix", tags: []string{"v1.0.0", "v1.0.1", "v0.9.0"}, constraint: "~1.0", want: "v1.0.1"},
		{name: "leading zero is not a version", tags: []string{"1.0.0", "1.01.0"}, constraint: "*", want: "1.0.0"},

		// Pre-releases.
		{name: "pre-releases excluded by default", tags: mixed, constraint: ">=1.1.0", want: "v1.1.0"},
		{name: "pre-release constraint includes them", tags: mixed, constraint: ">=1.1.0-0", want: "2.0.0-beta.1"},
		{name: "pre-release part only opens its own OR group", tags: mixed, constraint: ">=1.1.1-0 <1.2.0 || >=2.0.0", want: "1.1.1-rc.1"},
		{name: "WithPrereleases", tags: mixed, constraint: "^1", opts: opts(semverref.WithPrereleases()), want: "1.1.1-rc.1"},
		{name: "release beats its pre-release", tags: []string{"1.0.0-rc.2", "1.0.0", "1.0.0-rc.10"}, constraint: "*",
			opts: opts(semverref.WithPrereleases()), want: "1.0.0"},
		{name: "pre-release numeric identifiers compare as numbers", tags: []string{"1.0.0-rc.2", "1.0.0-rc.10", "1.0.0-rc.9"},
			constraint: ">=1.0.0-0", want: "1.0.0-rc.10"},
		{name: "only pre-releases", tags: []string{"1.0.0-rc.1", "2.0.0-rc.1"}, constraint: "*",
			wantErr: semverref.ErrNoMatch, wantNoMatch: &semverref.NoMatchError{Constraint: "*", Seen: 2, Candidates: 2, Prereleases: 2}},

		// Tie-breaks.
		{name: "tie: 1.0.0 beats v1.0.0", tags: []string{"v1.0.0", "1.0.0"}, constraint: "*", want: "1.0.0"},
		{name: "tie: 1.0.0 beats v1.0.0 (other order)", tags: []string{"1.0.0", "v1.0.0"}, constraint: "*", want: "1.0.0"},
		{name: "tie: v alone", tags: []string{"v1.0.0", "0.9.0"}, constraint: "*", want: "v1.0.0"},
		{name: "tie: no metadata beats metadata", tags: []string{"1.0.0+b", "v1.0.0", "1.0.0+a", "1.0.0"}, constraint: "*", want: "1.0.0"},
		{name: "tie: smallest metadata", tags: []string{"1.0.0+b", "v1.0.0+a", "1.0.0+c"}, constraint: "*", want: "1.0.0+b"},
		{name: "tie: pre-release", tags: []string{"v2.0.0-rc.1", "2.0.0-rc.1+x", "2.0.0-rc.1"}, constraint: ">=2.0.0-0", want: "2.0.0-rc.1"},
		{name: "duplicates", tags: []string{"1.0.0", "1.0.0", "1.0.0"}, constraint: "*", want: "1.0.0"},

		// Helm's "_" for "+".
		{name: "helm: _ read as +", tags: []string{"0.9.0", "1.0.0_build.1", "latest"}, constraint: "*", opts: opts(semverref.WithHelmTags()), want: "1.0.0_build.1"},
		{name: "helm: without the option _ is invalid", tags: []string{"0.9.0", "1.0.0_build.1"}, constraint: "*", want: "0.9.0"},
		{name: "helm: ties with plain release", tags: []string{"1.0.0_b", "1.0.0"}, constraint: "*", opts: opts(semverref.WithHelmTags()), want: "1.0.0"},
		{name: "helm: + and _ tie, + is smaller", tags: []string{"1.0.0_b", "1.0.0+b"}, constraint: "*", opts: opts(semverref.WithHelmTags()), want: "1.0.0+b"},
		{name: "helm: two _ are invalid", tags: []string{"1.0.0_a_b", "0.1.0"}, constraint: "*", opts: opts(semverref.WithHelmTags()), want: "0.1.0"},
		{name: "helm: pre-release and build", tags: []string{"1.0.0-rc.1_abc", "0.1.0"}, constraint: ">=1.0.0-0", opts: opts(semverref.WithHelmTags()), want: "1.0.0-rc.1_abc"},
		{name: "helm: v prefix", tags: []string{"v2.0.0_x"}, constraint: "^2", opts: opts(semverref.WithHelmTags()), want: "v2.0.0_x"},

		// Filters.
		{name: "filter is unanchored like Flux", tags: []string{"1.0.0", "2.0.0", "1.5.0"}, constraint: "*", opts: opts(semverref.WithFilter("1")), want: "1.5.0"},
		{name: "filter anchored", tags: []string{"v1.0.0", "1.5.0", "v1.2.0"}, constraint: "*", opts: opts(semverref.WithFilter(`^v`)), want: "v1.2.0"},
		{name: "filter decides among ties", tags: []string{"1.0.0", "v1.0.0"}, constraint: "*", opts: opts(semverref.WithFilter(`^v`)), want: "v1.0.0"},
		{name: "empty filter is no filter", tags: []string{"1.0.0"}, constraint: "*", opts: opts(semverref.WithFilter("")), want: "1.0.0"},
		{name: "nil option ignored", tags: []string{"1.0.0"}, constraint: "*", opts: []semverref.Option{nil}, want: "1.0.0"},

		// Constraints.
		{name: "or", tags: []string{"1.9.0", "2.5.0", "3.1.0"}, constraint: "^1 || ^2", want: "2.5.0"},
		{name: "not equal", tags: []string{"1.0.0", "1.0.1", "1.0.2"}, constraint: "~1.0, !=1.0.2", want: "1.0.1"},
		{name: "hyphen range", tags: []string{"1.0.0", "2.0.0", "2.1.0"}, constraint: "1.0 - 2.0", want: "2.0.0"},
		{name: "v in constraint", tags: []string{"1.0.0", "1.2.0"}, constraint: "v1.0.0", want: "1.0.0"},
		{name: "huge numbers", tags: []string{"18446744073709551615.0.0", "18446744073709551616.0.0", "1.0.0"}, constraint: "*", want: "18446744073709551615.0.0"},

		// No match.
		{name: "empty tag list", tags: nil, constraint: "*", wantErr: semverref.ErrNoMatch,
			wantNoMatch: &semverref.NoMatchError{Constraint: "*"}},
		{name: "no version tags", tags: []string{"latest", "main"}, constraint: "*", wantErr: semverref.ErrNoMatch,
			wantNoMatch: &semverref.NoMatchError{Constraint: "*", Seen: 2}},
		{name: "filter removes all", tags: []string{"1.0.0", "2.0.0"}, constraint: "*", opts: opts(semverref.WithFilter("^v")), wantErr: semverref.ErrNoMatch,
			wantNoMatch: &semverref.NoMatchError{Constraint: "*", Filter: "^v", Seen: 2}},
		{name: "constraint removes all", tags: []string{"1.0.0", "2.0.0", "x"}, constraint: ">=3", wantErr: semverref.ErrNoMatch,
			wantNoMatch: &semverref.NoMatchError{Constraint: ">=3", Seen: 3, Candidates: 2}},

		// Invalid input.
		{name: "invalid constraint", tags: []string{"1.0.0"}, constraint: "latest", wantErr: semverref.ErrInvalidConstraint},
		{name: "empty constraint", tags: []string{"1.0.0"}, constraint: "", wantErr: semverref.ErrInvalidConstraint},
		{name: "blank constraint", tags: []string{"1.0.0"}, constraint: "  ", wantErr: semverref.ErrInvalidConstraint},
		{name: "too long constraint", tags: []string{"1.0.0"}, constraint: strings.Repeat(">=1.0.0 ", 100), wantErr: semverref.ErrInvalidConstraint},
		{name: "invalid filter", tags: []string{"1.0.0"}, constraint: "*", opts: opts(semverref.WithFilter("(")), wantErr: semverref.ErrInvalidFilter},
		{name: "filter given twice", tags: []string{"1.0.0"}, constraint: "*", opts: opts(semverref.WithFilter("a"), semverref.WithFilter("b")), wantErr: semverref.ErrInvalidOption},
	}
}

func opts(o ...semverref.Option) []semverref.Option { return o }

func TestResolve(t *testing.T) {
	for _, tt := range append(fluxCases(), edgeCases()...) {
		t.Run(tt.name, func(t *testing.T) {
			got, err := semverref.Resolve(tt.tags, tt.constraint, tt.opts...)
			checkResult(t, tt, got, err)

			// Every order of the tags gives the same answer.
			r := rand.New(rand.NewPCG(1, uint64(len(tt.tags))))
			tags := slices.Clone(tt.tags)
			for range 20 {
				r.Shuffle(len(tags), func(i, j int) { tags[i], tags[j] = tags[j], tags[i] })
				got, err := semverref.Resolve(tags, tt.constraint, tt.opts...)
				checkResult(t, tt, got, err)
			}
		})
	}
}

func checkResult(t *testing.T, tt resolveCase, got string, err error) {
	t.Helper()
	if tt.wantErr == nil {
		if err != nil {
			t.Fatalf("Resolve(%q, %q) error: %v", tt.tags, tt.constraint, err)
		}
		if got != tt.want {
			t.Fatalf("Resolve(%q, %q) = %q, want %q", tt.tags, tt.constraint, got, tt.want)
		}
		return
	}
	if !errors.Is(err, tt.wantErr) {
		t.Fatalf("Resolve(%q, %q) = %q, %v; want an error matching %v", tt.tags, tt.constraint, got, err, tt.wantErr)
	}
	if got != "" {
		t.Errorf("Resolve returned tag %q with an error", got)
	}
	if tt.wantNoMatch != nil {
		var nm *semverref.NoMatchError
		if !errors.As(err, &nm) {
			t.Fatalf("error %v is not a *NoMatchError", err)
		}
		if diff := cmp.Diff(tt.wantNoMatch, nm); diff != "" {
			t.Errorf("NoMatchError mismatch (-want +got):\n%s", diff)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		name       string
		tags       []string
		constraint string
		opts       []semverref.Option
		want       string
	}{
		{
			name: "no match", tags: []string{"1.0.0", "latest", "2.0.0-rc.1"}, constraint: ">=2.0.0",
			want: `semverref: no tag matches constraint ">=2.0.0": 3 tags seen, 2 of them semantic versions; ` +
				`1 pre-release was skipped: name a pre-release in the constraint (e.g. ">=1.0.0-0") or use WithPrereleases to include them`,
		},
		{
			name: "no match, only pre-releases", tags: []string{"1.0.0-rc.1", "2.0.0-rc.1"}, constraint: "*",
			want: `semverref: no tag matches constraint "*": 2 tags seen, 2 of them semantic versions; ` +
				`2 pre-releases were skipped: name a pre-release in the constraint (e.g. ">=1.0.0-0") or use WithPrereleases to include them`,
		},
		{
			name: "no match with filter", tags: []string{"1.0.0", "v1.0.0", "main"}, constraint: ">=2", opts: opts(semverref.WithFilter("^v")),
			want: `semverref: no tag matches constraint ">=2" with filter "^v": 3 tags seen, 1 of them semantic versions that pass the filter`,
		},
		{
			name: "empty list", constraint: "~1.0",
			want: `semverref: no tag matches constraint "~1.0": the tag list is empty`,
		},
		{
			name: "invalid constraint", tags: []string{"1.0.0"}, constraint: "latest",
			want: `semverref: invalid semver constraint "latest": write a range such as ">=1.2.0 <2.0.0", "~1.2", "^1", "1.x" or "*" (Masterminds semver syntax)`,
		},
		{
			name: "empty constraint", tags: []string{"1.0.0"}, constraint: "",
			want: `semverref: invalid semver constraint: the constraint is empty; use "*" for the latest release`,
		},
		{
			name: "invalid filter", tags: []string{"1.0.0"}, constraint: "*", opts: opts(semverref.WithFilter("a(")),
			want: "semverref: invalid tag filter \"a(\": error parsing regexp: missing closing ): `a(`",
		},
		{
			name: "filter twice", tags: []string{"1.0.0"}, constraint: "*", opts: opts(semverref.WithFilter("a"), semverref.WithFilter("a")),
			want: "semverref: invalid option: WithFilter given more than once",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := semverref.Resolve(tt.tags, tt.constraint, tt.opts...)
			if err == nil {
				t.Fatal("Resolve succeeded, want an error")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error message mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInvalidConstraintWrapsMasterminds(t *testing.T) {
	_, err := semverref.Compile(strings.Repeat("1", semver.MaxConstraintLen+1))
	if !errors.Is(err, semverref.ErrInvalidConstraint) || !errors.Is(err, semver.ErrConstraintTooLong) {
		t.Errorf("Compile(too long) = %v; want ErrInvalidConstraint wrapping semver.ErrConstraintTooLong", err)
	}
	_, err = semverref.Compile("*", semverref.WithFilter("["))
	var syntaxErr interface{ Error() string }
	if !errors.Is(err, semverref.ErrInvalidFilter) || !errors.As(err, &syntaxErr) {
		t.Errorf("Compile(filter [) = %v; want ErrInvalidFilter", err)
	}
}

// reference is Flux's algorithm (fluxcd/source-controller
// internal/controller/ocirepository_controller.go getTagBySemver: filterTags,
// version.ParseVersion, constraint.Check, sort, take the highest) with Helm's
// "_" -> "+" and this package's tie-break (the smallest tag) added. It is
// slow and obviously right; Select must agree with it.
func reference(tags []string, constraint, filter string, prereleases, helm bool) (string, bool) {
	cs, err := semver.NewConstraint(constraint)
	if err != nil {
		return "", false
	}
	cs.IncludePrerelease = prereleases
	var re *regexp.Regexp
	if filter != "" {
		if re, err = regexp.Compile(filter); err != nil {
			return "", false
		}
	}
	type match struct {
		tag string
		v   *semver.Version
	}
	var matches []match
	for _, tag := range tags {
		if re != nil && !re.MatchString(tag) {
			continue
		}
		s := tag
		if helm {
			s = strings.ReplaceAll(s, "_", "+")
		}
		if len(tag) > semver.MaxVersionLen {
			continue
		}
		v, err := semver.StrictNewVersion(strings.TrimPrefix(s, "v"))
		if err != nil || !cs.Check(v) {
			continue
		}
		matches = append(matches, match{tag, v})
	}
	if len(matches) == 0 {
		return "", false
	}
	slices.SortFunc(matches, func(a, b match) int {
		if c := b.v.Compare(a.v); c != 0 {
			return c
		}
		return strings.Compare(a.tag, b.tag)
	})
	return matches[0].tag, true
}

// TestSelectMatchesReference compares Select with the reference on random
// tag lists built from pieces that hit every rule.
func TestSelectMatchesReference(t *testing.T) {
	constraints := []string{"*", "~1.0", "^1", ">=1.1.0-0", "1.x-0", ">=0.1.0 <2.0.0", "^0.1 || ^2", "~1.1, !=1.1.1", "1.0 - 1.2", ">=2.0.0-rc.1", "0.0.x"}
	filters := []string{"", "^v", "rc", "_", "^[0-9]"}
	r := rand.New(rand.NewPCG(7, 7))
	for i := range 400 {
		tags := randomTags(r, 1+r.IntN(40))
		for _, c := range constraints {
			f := filters[i%len(filters)]
			pre := i%3 == 0
			helm := i%2 == 0
			var o []semverref.Option
			if f != "" {
				o = append(o, semverref.WithFilter(f))
			}
			if pre {
				o = append(o, semverref.WithPrereleases())
			}
			if helm {
				o = append(o, semverref.WithHelmTags())
			}
			got, err := semverref.Resolve(tags, c, o...)
			want, ok := reference(tags, c, f, pre, helm)
			if !ok {
				if !errors.Is(err, semverref.ErrNoMatch) {
					t.Fatalf("Resolve(%q, %q, filter %q, pre %v, helm %v) = %q, %v; the reference finds no match", tags, c, f, pre, helm, got, err)
				}
				continue
			}
			if err != nil || got != want {
				t.Fatalf("Resolve(%q, %q, filter %q, pre %v, helm %v) = %q, %v; the reference picks %q", tags, c, f, pre, helm, got, err, want)
			}
		}
	}
}

func randomTags(r *rand.Rand, n int) []string {
	pres := []string{"", "", "", "-rc.1", "-rc.2", "-rc.10", "-alpha", "-0", "-beta.1", "-01", "-"}
	metas := []string{"", "", "", "+b", "+a.1", "_h", "_h_i", "+"}
	tags := make([]string, n)
	for i := range tags {
		var b strings.Builder
		switch r.IntN(10) {
		case 0:
			b.WriteString([]string{"latest", "main", "1.2", "sha256-abcdef.sig", "01.1.0", "v1.1.0.1"}[r.IntN(6)])
			tags[i] = b.String()
			continue
		case 1, 2:
			b.WriteByte('v')
		}
		fmt.Fprintf(&b, "%d.%d.%d", r.IntN(3), r.IntN(3), r.IntN(3))
		b.WriteString(pres[r.IntN(len(pres))])
		b.WriteString(metas[r.IntN(len(metas))])
		tags[i] = b.String()
	}
	return tags
}

func TestSelectorConcurrent(t *testing.T) {
	s, err := semverref.Compile("~1.0", semverref.WithFilter(`^v?1\.`), semverref.WithHelmTags())
	if err != nil {
		t.Fatal(err)
	}
	tags := []string{"1.0.0", "v1.0.3", "1.0.3_b", "1.1.0", "2.0.0", "latest"}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 200 {
				got, err := s.Select(tags)
				if err != nil || got != "1.0.3_b" {
					errs <- fmt.Errorf("Select = %q, %v; want 1.0.3_b", got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestSelectLongTags checks that tags past Masterminds' length limit are
// ignored without reaching the filter.
func TestSelectLongTags(t *testing.T) {
	long := "1.0.0-" + strings.Repeat("a", semver.MaxVersionLen)
	got, err := semverref.Resolve([]string{long, "0.1.0"}, "*", semverref.WithPrereleases())
	if err != nil || got != "0.1.0" {
		t.Errorf("Resolve = %q, %v; want 0.1.0", got, err)
	}
}
