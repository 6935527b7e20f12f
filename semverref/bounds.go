package semverref

import (
	"math"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Masterminds' Check builds an error message for every version it rejects,
// which makes a rejection cost about as much as thirty accepted checks. A
// constraint such as "~1.0" rejects most tags of a long-lived repository, so
// Select first compares each tag with bounds derived from the constraint and
// asks Masterminds only about the tags within them.
//
// The bounds are necessary conditions, never sufficient ones: every version
// Check accepts lies within the span of one of the constraint's OR-groups.
// They are derived from the same reading of each comparison that Masterminds'
// constraint functions make (constraints.go of semver v3.5.0), over
// major.minor.patch only: a pre-release of 2.0.0 may satisfy "<2.0.0", and
// its triple 2.0.0 is within the inclusive bound (2,0,0). When the constraint
// text is not what this code expects, there are no bounds and every tag goes
// to Check. TestSpansAreSound and FuzzSpans check the soundness.

// triple is major.minor.patch; unbounded is larger than any version.
type triple struct{ major, minor, patch uint64 }

var unbounded = triple{math.MaxUint64, math.MaxUint64, math.MaxUint64}

func compareTriple(a, b triple) int {
	if c := compareUint(a.major, b.major); c != 0 {
		return c
	}
	if c := compareUint(a.minor, b.minor); c != 0 {
		return c
	}
	return compareUint(a.patch, b.patch)
}

// span is the inclusive range [lo, hi] of triples an OR-group can accept.
type span struct{ lo, hi triple }

// spansOf derives one span per OR-group of cs. It returns ok == false when it
// cannot read the constraint, and then the caller must check every tag.
// Groups that can accept nothing have no span.
func spansOf(cs *semver.Constraints) (spans []span, ok bool) {
	// String gives the parsed constraint back: groups joined by " || ",
	// comparisons joined by " ", each the operator followed by the version
	// as written ("1.0 - 2.0" is already ">=1.0 <=2.0").
	for _, group := range strings.Split(cs.String(), " || ") {
		g := span{hi: unbounded}
		for _, cmp := range strings.Fields(group) {
			s, ok := spanOf(cmp)
			if !ok {
				return nil, false
			}
			if compareTriple(s.lo, g.lo) > 0 {
				g.lo = s.lo
			}
			if compareTriple(s.hi, g.hi) < 0 {
				g.hi = s.hi
			}
		}
		if compareTriple(g.lo, g.hi) <= 0 {
			spans = append(spans, g)
		}
	}
	return spans, true
}

// spanOf bounds one comparison such as ">=1.2", "~1.x" or "^0.2.3-rc".
func spanOf(cmp string) (span, bool) {
	i := strings.IndexFunc(cmp, func(r rune) bool { return !strings.ContainsRune("=!<>~^", r) })
	if i < 0 {
		return span{}, false
	}
	op, ver := cmp[:i], cmp[i:]
	con, minorDirty, patchDirty, ok := parseConstraintVersion(ver)
	if !ok {
		return span{}, false
	}
	dirty := minorDirty || patchDirty || con.dirtyMajor
	c := con.t
	all := span{hi: unbounded}
	switch op {
	case "", "=":
		if dirty {
			return tildeSpan(c, minorDirty, patchDirty), true
		}
		return span{c, c}, true // v equals con
	case "!=":
		return all, true
	case ">", ">=", "=>":
		// v > con or v >= con; the dirty forms of ">" accept less, still
		// never below con.
		return span{lo: c, hi: unbounded}, true
	case "<":
		return span{hi: c}, true
	case "<=", "=<":
		if !dirty {
			return span{hi: c}, true
		}
		// Rejects a larger major, and a larger minor unless the minor is
		// a wildcard.
		if minorDirty {
			return span{hi: triple{c.major, math.MaxUint64, math.MaxUint64}}, true
		}
		return span{hi: triple{c.major, c.minor, math.MaxUint64}}, true
	case "~", "~>":
		return tildeSpan(c, minorDirty, patchDirty), true
	case "^":
		s := span{lo: c}
		switch {
		case c.major > 0 || minorDirty:
			s.hi = triple{c.major, math.MaxUint64, math.MaxUint64}
		case c.minor > 0 || patchDirty:
			s.hi = triple{0, c.minor, math.MaxUint64}
		default:
			s.hi = triple{0, 0, c.patch}
		}
		return s, true
	}
	return span{}, false
}

// tildeSpan bounds "~": not below con, same major, and same minor unless the
// minor is a wildcard; "~0.0.0" and "~*" accept everything from 0.0.0 up.
func tildeSpan(c triple, minorDirty, patchDirty bool) span {
	s := span{lo: c}
	switch {
	case c == (triple{}) && !minorDirty && !patchDirty:
		s.hi = unbounded
	case minorDirty:
		s.hi = triple{c.major, math.MaxUint64, math.MaxUint64}
	default:
		s.hi = triple{c.major, c.minor, math.MaxUint64}
	}
	return s
}

type constraintVersion struct {
	t          triple
	dirtyMajor bool
}

// parseConstraintVersion reads the version of a comparison as Masterminds'
// parseConstraint does: "v1.2.3-pre+meta", where a missing or wildcard
// ("x", "X", "*") part makes the version "dirty" and zeroes it and the parts
// after it. Numbers may have leading zeros (Masterminds coerces them).
func parseConstraintVersion(s string) (v constraintVersion, minorDirty, patchDirty, ok bool) {
	s = strings.TrimPrefix(s, "v")
	// The pre-release and metadata do not move the triple bounds.
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) > 3 || parts[0] == "" {
		return v, false, false, false
	}
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	isX := func(p string) bool { return p == "x" || p == "X" || p == "*" }
	num := func(p string) (uint64, bool) {
		n, err := strconv.ParseUint(p, 10, 64)
		return n, err == nil
	}
	var okM, okm, okp bool
	switch {
	case isX(parts[0]):
		v.dirtyMajor = true
		return v, false, false, true
	case parts[1] == "" || isX(parts[1]):
		v.t.major, okM = num(parts[0])
		return v, true, false, okM
	case parts[2] == "" || isX(parts[2]):
		v.t.major, okM = num(parts[0])
		v.t.minor, okm = num(parts[1])
		return v, false, true, okM && okm
	}
	v.t.major, okM = num(parts[0])
	v.t.minor, okm = num(parts[1])
	v.t.patch, okp = num(parts[2])
	return v, false, false, okM && okm && okp
}

// within reports whether v lies in one of the spans.
func within(spans []span, v *version) bool {
	t := triple{v.major, v.minor, v.patch}
	for _, s := range spans {
		if compareTriple(s.lo, t) <= 0 && compareTriple(t, s.hi) <= 0 {
			return true
		}
	}
	return false
}
