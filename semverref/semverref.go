// Package semverref picks the tag to pull from a list of OCI tags with a
// semantic version constraint, with the semantics of Flux's OCIRepository
// `.spec.ref.semver` and `.spec.ref.semverFilter`.
//
// A tag is a candidate when it
//   - matches the optional filter (WithFilter, Flux's semverFilter): a Go
//     regular expression matched anywhere in the tag, as Flux does; anchor it
//     with ^ and $ to match the whole tag;
//   - is a strict semantic version (https://semver.org), optionally with a
//     leading "v": "1.2.3", "v1.2.3", "1.2.3-rc.1", "1.2.3+build.5". Tags that
//     are not ("latest", "main", "1.2", "01.2.3", "v1.2.3.4") are ignored, as
//     Flux's version.ParseVersion ignores them;
//   - is not a cosign attachment tag (sha256-<hex>.sig, .att or .sbom).
//
// Of the candidates that satisfy the Masterminds semver v3 constraint, the one
// with the highest precedence wins. Pre-releases follow Masterminds: an
// OR-group of the constraint that names a pre-release (">=1.0.0-0") admits
// pre-releases, any other does not, unless WithPrereleases is given.
//
// Two tags can have the same precedence: "1.0.0" and "v1.0.0", or "1.0.0+a"
// and "1.0.0+b" (build metadata does not count for precedence). Flux leaves
// that choice to an unstable sort; here the byte-wise smallest tag wins, so
// the tag without "v" beats the one with it, and the tag without build
// metadata beats the ones with it. The result never depends on the order of
// the tag list.
//
// Helm stores a chart version "1.0.0+build" under the tag "1.0.0_build",
// because OCI tags cannot hold "+". WithHelmTags reads "_" as "+" and still
// returns the tag as it is in the registry.
//
// Resolve compiles and selects in one call; Compile returns a Selector that
// callers who resolve often keep and share between goroutines.
package semverref

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/Masterminds/semver/v3"
)

var (
	// ErrInvalidConstraint is returned (wrapped) when the semver constraint
	// does not parse.
	ErrInvalidConstraint = errors.New("semverref: invalid semver constraint")

	// ErrInvalidFilter is returned (wrapped) when the filter is not a valid
	// Go regular expression.
	ErrInvalidFilter = errors.New("semverref: invalid tag filter")

	// ErrInvalidOption is returned (wrapped) when options contradict each
	// other.
	ErrInvalidOption = errors.New("semverref: invalid option")

	// ErrNoMatch is matched (errors.Is) by a *NoMatchError: no tag satisfies
	// the constraint.
	ErrNoMatch = errors.New("semverref: no tag matches")
)

// NoMatchError reports that no tag satisfies the constraint (and filter). It
// matches ErrNoMatch with errors.Is; use errors.As to read the counts.
type NoMatchError struct {
	// Constraint is the semver constraint as given.
	Constraint string
	// Filter is the tag filter as given; "" when there was none.
	Filter string
	// Seen is the number of tags in the list.
	Seen int
	// Candidates is the number of tags that passed the filter and are
	// semantic versions: the tags the constraint was checked against.
	Candidates int
	// Prereleases is how many of the Candidates were pre-releases that the
	// constraint excluded because neither it nor WithPrereleases asks for
	// pre-releases.
	Prereleases int
}

// Error says what was asked for and what was seen.
func (e *NoMatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "semverref: no tag matches constraint %q", e.Constraint)
	if e.Filter != "" {
		fmt.Fprintf(&b, " with filter %q", e.Filter)
	}
	switch {
	case e.Seen == 0:
		b.WriteString(": the tag list is empty")
	case e.Filter != "":
		fmt.Fprintf(&b, ": %d tags seen, %d of them semantic versions that pass the filter", e.Seen, e.Candidates)
	default:
		fmt.Fprintf(&b, ": %d tags seen, %d of them semantic versions", e.Seen, e.Candidates)
	}
	switch {
	case e.Prereleases == 1:
		b.WriteString("; 1 pre-release was skipped")
	case e.Prereleases > 1:
		fmt.Fprintf(&b, "; %d pre-releases were skipped", e.Prereleases)
	}
	if e.Prereleases > 0 {
		b.WriteString(": name a pre-release in the constraint (e.g. \">=1.0.0-0\") or use WithPrereleases to include them")
	}
	return b.String()
}

// Unwrap returns ErrNoMatch.
func (e *NoMatchError) Unwrap() error { return ErrNoMatch }

// Option configures Compile and Resolve.
type Option func(*options) error

type options struct {
	filter      *regexp.Regexp
	filterExpr  string
	filterSet   bool
	prereleases bool
	helmTags    bool
}

// WithFilter keeps only the tags that the Go regular expression expr matches
// (anywhere in the tag, unanchored, as Flux's semverFilter) before the
// constraint is applied. An empty expr means no filter. Giving WithFilter
// twice is an error. The default is no filter.
func WithFilter(expr string) Option {
	return func(o *options) error {
		if o.filterSet {
			return fmt.Errorf("%w: WithFilter given more than once", ErrInvalidOption)
		}
		o.filterSet = true
		if expr == "" {
			return nil
		}
		re, err := compileFilter(expr)
		if err != nil {
			return fmt.Errorf("%w %q: %w", ErrInvalidFilter, expr, err)
		}
		o.filter, o.filterExpr = re, expr
		return nil
	}
}

// WithPrereleases lets pre-release tags ("1.1.0-rc.1") satisfy every part of
// the constraint, as if each named a pre-release. A release still beats its
// own pre-releases. The default is Masterminds' rule: only an OR-group of the
// constraint that itself names a pre-release (">=1.0.0-0", "~1.1.0-rc")
// admits pre-releases.
func WithPrereleases() Option {
	return func(o *options) error {
		o.prereleases = true
		return nil
	}
}

// WithHelmTags reads "_" in a tag as "+" (Helm pushes chart version
// "1.0.0+build" as tag "1.0.0_build"); the tag is returned unchanged. The
// default is to treat "_" as an ordinary character, which makes such tags
// invalid versions that are ignored.
func WithHelmTags() Option {
	return func(o *options) error {
		o.helmTags = true
		return nil
	}
}

// Selector is a compiled constraint and filter. It holds no mutable state and
// is safe for concurrent use.
type Selector struct {
	constraint string
	filterExpr string
	cs         *semver.Constraints
	filter     *regexp.Regexp
	helmTags   bool
	// skipPre is true when no part of the constraint admits pre-releases,
	// so a pre-release is rejected without asking Masterminds (which would
	// build an error message to say so).
	skipPre bool
	// spans bound the versions the constraint can accept, when bounded
	// (see bounds.go).
	spans   []span
	bounded bool
}

// Compile parses the Masterminds semver v3 constraint (such as "~1.0",
// ">=1.2.0 <2.0.0", "1.0 - 2.0", "^2 || ^3", "*") and the options. An empty
// constraint is an error rather than "anything": "*" asks for the latest
// release. Errors wrap ErrInvalidConstraint, ErrInvalidFilter or
// ErrInvalidOption.
func Compile(constraint string, opts ...Option) (*Selector, error) {
	var o options
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if strings.TrimSpace(constraint) == "" {
		return nil, fmt.Errorf("%w: the constraint is empty; use \"*\" for the latest release", ErrInvalidConstraint)
	}
	cs, err := semver.NewConstraint(constraint)
	if err != nil {
		return nil, &constraintError{constraint: constraint, cause: err}
	}
	cs.IncludePrerelease = o.prereleases
	s := &Selector{
		constraint: constraint,
		filterExpr: o.filterExpr,
		cs:         cs,
		filter:     o.filter,
		helmTags:   o.helmTags,
		skipPre:    !o.prereleases && !namesPrerelease(constraint),
	}
	s.spans, s.bounded = spansOf(cs)
	return s, nil
}

// namesPrerelease reports whether a constraint may name a pre-release. In
// Masterminds' grammar a pre-release part is a "-" glued to the version before
// it ("1.0.0-rc", "1.x-0"); the "-" of a range ("1.0 - 2.0") stands between
// spaces. Build metadata with a hyphen ("1.0.0+b-1") also counts, which only
// costs speed: the answer must never be false for a constraint that names a
// pre-release.
func namesPrerelease(constraint string) bool {
	for i := 1; i < len(constraint); i++ {
		if constraint[i] == '-' {
			switch constraint[i-1] {
			case ' ', '\t', '\n', '\r', '\v', '\f':
			default:
				return true
			}
		}
	}
	return false
}

// Resolve returns the tag with the highest semantic version that satisfies
// constraint, after the filter given by WithFilter. See the package
// documentation for the rules. Errors wrap ErrInvalidConstraint,
// ErrInvalidFilter or ErrInvalidOption, or are a *NoMatchError.
func Resolve(tags []string, constraint string, opts ...Option) (string, error) {
	s, err := Compile(constraint, opts...)
	if err != nil {
		return "", err
	}
	return s.Select(tags)
}

// Select returns the tag with the highest semantic version that satisfies the
// selector, or a *NoMatchError (errors.Is ErrNoMatch) when none does. The tag
// is returned exactly as it appears in tags.
func (s *Selector) Select(tags []string) (string, error) {
	var (
		best    version
		bestTag string
		found   bool
	)
	for _, tag := range tags {
		// A cosign tag is never a version; the check keeps it so should
		// parseTag ever become more lenient.
		v, ok := parseTag(tag, s.helmTags)
		if !ok || isCosignTag(tag) {
			continue
		}
		// The result is the maximum of a total order (precedence, then the
		// byte-wise smaller tag), so a tag that cannot beat the current best
		// is skipped before the costlier checks.
		c := 1
		if found {
			c = compareVersions(&v, &best)
			if c < 0 || (c == 0 && tag >= bestTag) {
				continue
			}
		}
		if c > 0 {
			// Cheap rejections first; the constraint ignores build
			// metadata and the "v", so a tag with the precedence of the
			// best (c == 0) satisfies it too.
			if v.pre != "" && s.skipPre {
				continue
			}
			if s.bounded && !within(s.spans, &v) {
				continue
			}
		}
		if s.filter != nil && !s.filter.MatchString(tag) {
			continue
		}
		if c > 0 && !s.check(&v) {
			continue
		}
		best, bestTag, found = v, tag, true
	}
	if !found {
		return "", s.noMatch(tags)
	}
	return bestTag, nil
}

// noMatch counts what Select saw, for the error. Select does not count as it
// goes, so that the path that finds a tag does no extra work.
func (s *Selector) noMatch(tags []string) error {
	e := &NoMatchError{Constraint: s.constraint, Filter: s.filterExpr, Seen: len(tags)}
	for _, tag := range tags {
		v, ok := parseTag(tag, s.helmTags)
		if !ok || isCosignTag(tag) || (s.filter != nil && !s.filter.MatchString(tag)) {
			continue
		}
		e.Candidates++
		if v.pre != "" && s.skipPre {
			e.Prereleases++
		}
	}
	return e
}

// check asks Masterminds whether v satisfies the constraint.
func (s *Selector) check(v *version) bool {
	text := v.text
	if s.helmTags && strings.IndexByte(text, '_') >= 0 {
		text = strings.ReplaceAll(text, "_", "+")
	}
	sv, err := semver.StrictNewVersion(text)
	if err != nil {
		// parseTag accepts exactly what StrictNewVersion accepts (tested
		// and fuzzed); should they ever disagree, the tag is not a version.
		return false
	}
	return s.cs.Check(sv)
}

// isCosignTag reports whether tag names a cosign attachment:
// "<algorithm>-<hex>.sig", ".att" or ".sbom" (sha256-<64 hex>.sig).
func isCosignTag(tag string) bool {
	var rest string
	switch {
	case strings.HasSuffix(tag, ".sig"), strings.HasSuffix(tag, ".att"):
		rest = tag[:len(tag)-4]
	case strings.HasSuffix(tag, ".sbom"):
		rest = tag[:len(tag)-5]
	default:
		return false
	}
	alg, hex, ok := strings.Cut(rest, "-")
	if !ok || alg == "" || hex == "" {
		return false
	}
	for i := 0; i < len(alg); i++ {
		if c := alg[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	for i := 0; i < len(hex); i++ {
		if c := hex[i]; (c < 'a' || c > 'f') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// constraintError reports a constraint Masterminds semver refused. Its
// message names the constraint once (Masterminds' own repeats it) and shows
// what a valid one looks like; it matches ErrInvalidConstraint and the
// Masterminds error.
type constraintError struct {
	constraint string
	cause      error
}

func (e *constraintError) Error() string {
	c := e.constraint
	if len(c) > 64 {
		c = c[:64] + "..."
	}
	return fmt.Sprintf("%v %q: write a range such as \">=1.2.0 <2.0.0\", \"~1.2\", \"^1\", \"1.x\" or \"*\" (Masterminds semver syntax)", ErrInvalidConstraint, c)
}

func (e *constraintError) Unwrap() []error { return []error{ErrInvalidConstraint, e.cause} }
