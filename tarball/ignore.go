package tarball

import (
	"fmt"
	"path"
	"strings"
)

// DefaultIgnorePatterns returns the ignore patterns for version-control
// metadata: ".git/", ".hg/", ".svn/" and ".jj/" directories at any depth.
// [Build] ignores nothing unless given patterns; pass these with
// [WithIgnorePatterns] to leave such directories out, as Flux does.
func DefaultIgnorePatterns() []string {
	return []string{".git/", ".hg/", ".svn/", ".jj/"}
}

// ignoreRule is one parsed gitignore-style pattern.
type ignoreRule struct {
	segs    []string // pattern split on "/"; "**" segments match any number of components
	negate  bool     // "!" prefix: re-include
	dirOnly bool     // trailing "/": directories only
}

// parseIgnore parses gitignore-style patterns. It supports blank lines and
// "#" comments, "!" negation, "\" escapes of a leading "#" or "!", "*", "?"
// and "[...]" within a component (as path.Match), "**" as a whole component,
// a leading or inner "/" anchoring the pattern to the root, and a trailing
// "/" matching only directories. A pattern without an inner slash matches a
// name at any depth. Trailing spaces are trimmed.
func parseIgnore(patterns []string) ([]ignoreRule, error) {
	var rules []ignoreRule
	for _, raw := range patterns {
		p := strings.TrimRight(raw, " \t\r\n")
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		var r ignoreRule
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
		r.segs = strings.Split(p, "/")
		if !anchored {
			r.segs = append([]string{"**"}, r.segs...)
		}
		for _, s := range r.segs {
			if s == "**" {
				continue
			}
			if _, err := path.Match(s, ""); err != nil {
				return nil, fmt.Errorf("tarball: %w: ignore pattern %q: %w", ErrInvalidOption, raw, err)
			}
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// ignored reports whether rel (slash-separated, relative to the root) is
// ignored. The last matching rule decides, as in git. A directory that is
// ignored is not descended into, so a negation cannot re-include a file
// below it (also as in git).
func ignored(rules []ignoreRule, rel string, isDir bool) bool {
	if len(rules) == 0 {
		return false
	}
	name := strings.Split(rel, "/")
	ign := false
	for _, r := range rules {
		if r.dirOnly && !isDir {
			continue
		}
		if matchSegs(r.segs, name) {
			ign = !r.negate
		}
	}
	return ign
}

func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			if len(pat) == 1 {
				// A trailing "/**" matches everything inside, not the
				// directory itself; a lone "**" matches everything.
				return len(name) > 0
			}
			for i := 0; i <= len(name); i++ {
				if matchSegs(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}
