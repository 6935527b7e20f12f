package semverref

import (
	"regexp"
	"regexp/syntax"
)

// compileFilter compiles a tag filter. Filters are matched unanchored, so a
// leading or trailing ".*" (as in Flux's documented ".*-rc.*") changes
// nothing about whether a tag matches, yet makes Go's matcher about seven
// times slower; the filter is compiled without them. Errors are those of
// regexp.Compile on expr as given.
func compileFilter(expr string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	if trimmed, ok := trimDotStars(expr); ok {
		if fast, err := regexp.Compile(trimmed); err == nil {
			return fast, nil
		}
	}
	return re, nil
}

// trimDotStars drops ".*" (or ".*?", or "(?s).*") from the start and end of a
// top-level concatenation, or returns "" for a lone ".*". Unanchored,
// "X" matches somewhere in a string exactly when ".*X.*" does: each ".*" can
// match the empty string, and a match of ".*X" contains one of X.
func trimDotStars(expr string) (string, bool) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return "", false
	}
	isDotStar := func(r *syntax.Regexp) bool {
		return r.Op == syntax.OpStar && len(r.Sub) == 1 &&
			(r.Sub[0].Op == syntax.OpAnyCharNotNL || r.Sub[0].Op == syntax.OpAnyChar)
	}
	switch {
	case isDotStar(re):
		return "", true
	case re.Op != syntax.OpConcat:
		return "", false
	}
	subs := re.Sub
	for len(subs) > 0 && isDotStar(subs[0]) {
		subs = subs[1:]
	}
	for len(subs) > 0 && isDotStar(subs[len(subs)-1]) {
		subs = subs[:len(subs)-1]
	}
	if len(subs) == len(re.Sub) {
		return "", false
	}
	if len(subs) == 0 {
		return "", true
	}
	trimmed := *re
	trimmed.Sub = subs
	return trimmed.String(), true
}
