package tarball

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Ignore patterns
//
// Patterns are gitignore-style (see parseIgnore) and are compiled once, each
// into an RE2 regular expression over the slash-separated path. Go's regexp
// runs in time linear in the length of the path whatever the pattern, so no
// pattern, however many "**" it repeats, can make matching backtrack. This
// is written here rather than taken from a library on purpose: the gitignore
// matchers in Go's ecosystem (go-git's plumbing/format/gitignore, which
// Flux's source-controller uses; doublestar; ports of git's wildmatch)
// match "**" by backtracking, which is exponential in the number of "**"
// for a hostile pattern, and the regexp-based one (sabhiram/go-gitignore)
// is unmaintained and does not anchor character classes to one component.
// The translation is small and its cases are all in ignore_test.go.

// DefaultIgnorePatterns returns the ignore patterns for version-control
// metadata: ".git/", ".hg/", ".svn/" and ".jj/" directories at any depth.
// [Build] ignores nothing unless given patterns; pass these with
// [WithIgnorePatterns] to leave such directories out, as Flux does.
func DefaultIgnorePatterns() []string {
	return []string{".git/", ".hg/", ".svn/", ".jj/"}
}

// ignoreRule is one compiled gitignore-style pattern.
type ignoreRule struct {
	// re matches, for a pattern with "**" only at its start (the common
	// "*.tmp", "node_modules/", "a/b" unanchored) or none at all, the last
	// n components of a path ("a/b", no trailing slash): the components
	// before them are then irrelevant, so matching costs the length of the
	// tail, not of the path. For any other pattern (n == 0) it matches the
	// whole path with a "/" appended.
	re      *regexp.Regexp
	n       int
	rooted  bool   // with n > 0: the path must have exactly n components
	negate  bool   // "!" prefix: re-include
	dirOnly bool   // trailing "/": directories only
	source  string // the pattern as given, for Settings
}

// maxPatternLength bounds one ignore pattern, so that compiling it stays
// cheap and its regexp small.
const maxPatternLength = 4096

// parseIgnore parses gitignore-style patterns. It supports blank lines and
// "#" comments, "!" negation, "\" escapes of a leading "#" or "!", "*", "?"
// and "[...]" within a component (as path.Match), "**" as a whole component,
// a leading or inner "/" anchoring the pattern to the root, and a trailing
// "/" matching only directories. A pattern without an inner slash matches a
// name at any depth. Trailing spaces are trimmed.
func parseIgnore(patterns []string) ([]ignoreRule, error) {
	var rules []ignoreRule
	for _, raw := range patterns {
		if len(raw) > maxPatternLength {
			return nil, fmt.Errorf("tarball: %w: ignore pattern of %d bytes (the limit is %d)", ErrInvalidOption, len(raw), maxPatternLength)
		}
		p := strings.TrimRight(raw, " \t\r\n")
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		r := ignoreRule{source: raw}
		if strings.HasPrefix(p, "!") {
			r.negate = true
			p = p[1:]
		} else if strings.HasPrefix(p, `\#`) || strings.HasPrefix(p, `\!`) {
			p = p[1:]
		}
		if strings.HasSuffix(p, "/") {
			r.dirOnly = true
			p = strings.TrimRight(p, "/")
		}
		anchored := strings.Contains(p, "/")
		p = strings.TrimPrefix(p, "/")
		if p == "" {
			return nil, fmt.Errorf("tarball: %w: ignore pattern %q matches nothing", ErrInvalidOption, raw)
		}
		segs := strings.Split(p, "/")
		if !anchored {
			segs = append([]string{"**"}, segs...)
		}
		// "**/**" is "**".
		segs = slices.CompactFunc(segs, func(a, b string) bool { return a == "**" && b == "**" })
		if err := r.compile(segs); err != nil {
			return nil, fmt.Errorf("tarball: %w: ignore pattern %q: %w", ErrInvalidOption, raw, err)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// compile sets r.re (and r.n, r.rooted) for the components of a pattern.
func (r *ignoreRule) compile(segs []string) error {
	fixed := segs
	if segs[0] == "**" {
		fixed = segs[1:]
	}
	if len(fixed) == 0 || slices.Contains(fixed, "**") {
		re, err := compileSegs(segs)
		r.re = re
		return err
	}
	var b strings.Builder
	b.WriteString(`^`)
	for i, s := range fixed {
		if s == "" {
			// "a//b": an empty component matches nothing, as in git.
			r.re, r.n = regexp.MustCompile(`\A\z.`), len(fixed)
			return nil
		}
		if _, err := path.Match(s, ""); err != nil {
			return err
		}
		if i > 0 {
			b.WriteString(`/`)
		}
		if err := globToRegexp(&b, s); err != nil {
			return err
		}
	}
	b.WriteString(`$`)
	re, err := regexp.Compile(b.String())
	r.re, r.n, r.rooted = re, len(fixed), segs[0] != "**"
	return err
}

// match reports whether r's pattern matches rel, ignoring dirOnly and negate.
func (r *ignoreRule) match(rel string, components int) bool {
	if r.n == 0 {
		return r.re.MatchString(rel + "/")
	}
	if components < r.n || r.rooted && components != r.n {
		return false
	}
	// The tail of rel made of its last r.n components.
	start := len(rel)
	for range r.n {
		start = strings.LastIndexByte(rel[:start], '/')
		if start < 0 {
			break
		}
	}
	return r.re.MatchString(rel[start+1:])
}

// compileSegs turns the components of a pattern into one regexp that
// matches a slash-separated path followed by a "/": each component is
// matched with its "/", "**" stands for any number of whole components (at
// least one when it ends the pattern: "a/**" matches what is inside a, not
// a itself).
func compileSegs(segs []string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString(`^`)
	for i, s := range segs {
		switch {
		case s == "**" && i == len(segs)-1:
			b.WriteString(`(?:[^/]+/)+`)
		case s == "**":
			b.WriteString(`(?:[^/]+/)*`)
		case s == "":
			// "a//b": an empty component matches nothing, as before.
			return regexp.Compile(`\A\z.`)
		default:
			if _, err := path.Match(s, ""); err != nil {
				return nil, err
			}
			if err := globToRegexp(&b, s); err != nil {
				return nil, err
			}
			b.WriteString(`/`)
		}
	}
	b.WriteString(`$`)
	return regexp.Compile(b.String())
}

// globToRegexp writes the regexp for one path.Match component (already
// checked to be well formed): "*" any run of characters but "/", "?" one,
// "[...]" a class (never matching "/"), "\x" a literal x.
func globToRegexp(b *strings.Builder, glob string) error {
	for i := 0; i < len(glob); i++ {
		c := glob[i]
		switch c {
		case '*':
			b.WriteString(`[^/]*`)
		case '?':
			b.WriteString(`[^/]`)
		case '\\':
			i++
			if i < len(glob) {
				b.WriteString(regexp.QuoteMeta(glob[i : i+1]))
			}
		case '[':
			end, class, err := globClass(glob, i)
			if err != nil {
				return err
			}
			b.WriteString(class)
			i = end
		default:
			b.WriteString(regexp.QuoteMeta(glob[i : i+1]))
		}
	}
	return nil
}

// globClass translates the character class that starts at glob[start] and
// returns the index of its closing "]". Characters are written as code
// points (\x{...}), so nothing in the class is special to regexp but "-".
func globClass(glob string, start int) (int, string, error) {
	var b strings.Builder
	i := start + 1
	b.WriteString("[")
	if i < len(glob) && glob[i] == '^' {
		b.WriteString("^/")
		i++
	}
	first := true
	for i < len(glob) {
		r, size := utf8.DecodeRuneInString(glob[i:])
		switch {
		case r == ']' && !first:
			b.WriteString("]")
			return i, b.String(), nil
		case r == '-':
			b.WriteString("-")
		case r == '\\':
			i += size
			if i >= len(glob) {
				return 0, "", path.ErrBadPattern
			}
			r, size = utf8.DecodeRuneInString(glob[i:])
			fmt.Fprintf(&b, `\x{%x}`, r)
		default:
			fmt.Fprintf(&b, `\x{%x}`, r)
		}
		first = false
		i += size
	}
	return 0, "", path.ErrBadPattern
}

// ignored reports whether rel (slash-separated, relative to the root) is
// ignored. The last matching rule decides, as in git. It looks at rel
// alone; callers handle ignored parent directories (which git does not
// descend into, so a negation cannot re-include a file below one).
func ignored(rules []ignoreRule, rel string, isDir bool) bool {
	if len(rules) == 0 {
		return false
	}
	components := strings.Count(rel, "/") + 1
	ign := false
	for i := len(rules) - 1; i >= 0; i-- {
		r := &rules[i]
		if r.dirOnly && !isDir {
			continue
		}
		if r.match(rel, components) {
			ign = !r.negate
			break
		}
	}
	return ign
}
