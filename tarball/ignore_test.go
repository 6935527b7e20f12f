package tarball

import (
	"errors"
	"math/rand/v2"
	"path"
	"strings"
	"testing"
)

func TestIgnorePatterns(t *testing.T) {
	cases := []struct {
		patterns []string
		path     string
		dir      bool
		want     bool
	}{
		{[]string{"*.log"}, "a.log", false, true},
		{[]string{"*.log"}, "deep/er/a.log", false, true},
		{[]string{"*.log"}, "a.logx", false, false},
		{[]string{"/*.log"}, "a.log", false, true},
		{[]string{"/*.log"}, "sub/a.log", false, false},
		{[]string{"build/"}, "build", true, true},
		{[]string{"build/"}, "build", false, false},
		{[]string{"build/"}, "src/build", true, true},
		{[]string{"docs/*.md"}, "docs/a.md", false, true},
		{[]string{"docs/*.md"}, "x/docs/a.md", false, false},
		{[]string{"docs/*.md"}, "docs/sub/a.md", false, false},
		{[]string{"**/vendor"}, "vendor", true, true},
		{[]string{"**/vendor"}, "a/b/vendor", true, true},
		{[]string{"a/**"}, "a", true, false},
		{[]string{"a/**"}, "a/x", false, true},
		{[]string{"a/**"}, "a/x/y", false, true},
		{[]string{"a/**/b"}, "a/b", true, true},
		{[]string{"a/**/b"}, "a/x/y/b", true, true},
		{[]string{"a/**/b"}, "a/x/y/c", true, false},
		{[]string{"fil?.txt"}, "file.txt", false, true},
		{[]string{"fil?.txt"}, "fi/e.txt", false, false},
		{[]string{"[ab].txt"}, "b.txt", false, true},
		{[]string{"*.yaml", "!keep.yaml"}, "keep.yaml", false, false},
		{[]string{"*.yaml", "!keep.yaml"}, "drop.yaml", false, true},
		{[]string{"!keep.yaml", "*.yaml"}, "keep.yaml", false, true},
		{[]string{"# comment", "", "  "}, "# comment", false, false},
		{[]string{`\#hash`}, "#hash", false, true},
		{[]string{`\!bang`}, "!bang", false, true},
		{[]string{"trailing   "}, "trailing", false, true},
		{DefaultIgnorePatterns(), ".git", true, true},
		{DefaultIgnorePatterns(), "sub/.git", true, true},
		{DefaultIgnorePatterns(), ".gitignore", false, false},
		{nil, "anything", false, false},
		{[]string{"[^a].txt"}, "b.txt", false, true},
		{[]string{"[^a].txt"}, "a.txt", false, false},
		{[]string{"a[^x]b"}, "a/b", false, false},
		{[]string{"/a?b"}, "a/b", false, false},
		{[]string{`\*.txt`}, "*.txt", false, true},
		{[]string{`\*.txt`}, "a.txt", false, false},
		{[]string{"[a-c]"}, "b", false, true},
		{[]string{"[a-c]"}, "d", false, false},
		{[]string{`[\]]`}, "]", false, true},
		{[]string{"[é]x"}, "éx", false, true},
		{[]string{"[.]x"}, "ax", false, false},
		{[]string{"a.b"}, "axb", false, false},
		{[]string{"a/*/c"}, "a/b/c", false, true},
		{[]string{"a/*/c"}, "a/b/d/c", false, false},
		{[]string{"a/*/c"}, "x/a/b/c", false, false},
		{[]string{"b/c"}, "a/b/c", false, false},
		{[]string{"**/b/c"}, "a/b/c", false, true},
		{[]string{"**/**/x"}, "a/b/x", false, true},
		{[]string{"**/**/x"}, "x", false, true},
		{[]string{"a/**/**/b"}, "a/b", false, true},
		{[]string{"a//b"}, "a/b", false, false},
		{[]string{strings.Repeat("**/", 12) + "x"}, strings.Repeat("d/", 250) + "x", false, true},
		{[]string{strings.Repeat("a/**/", 12) + "x"}, strings.Repeat("a/", 250) + "y", false, false},
	}
	for _, c := range cases {
		rules, err := parseIgnore(c.patterns)
		if err != nil {
			t.Fatalf("parseIgnore(%q): %v", c.patterns, err)
		}
		if got := ignored(rules, c.path, c.dir); got != c.want {
			t.Errorf("ignored(%q, %q, dir=%v) = %v, want %v", c.patterns, c.path, c.dir, got, c.want)
		}
	}
}

func TestIgnorePatternErrors(t *testing.T) {
	for _, p := range []string{"[unclosed", "/", "!"} {
		if _, err := parseIgnore([]string{p}); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("parseIgnore(%q) error = %v, want ErrInvalidOption", p, err)
		}
	}
}

// refMatch is the matcher ignore.go replaced: segment by segment with
// path.Match, "**" by backtracking. It is exponential in the number of "**"
// but obviously right, so it is the reference for small inputs.
func refMatch(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			if len(pat) == 1 {
				return len(name) > 0
			}
			for i := 0; i <= len(name); i++ {
				if refMatch(pat[1:], name[i:]) {
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

// TestIgnoreMatchesReference compares the compiled matcher with refMatch on
// random patterns and paths over a small alphabet.
func TestIgnoreMatchesReference(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	atoms := []string{"a", "b", "*", "?", "[ab]", "[^a]", "a*", "*b", "**"}
	names := []string{"a", "b", "ab", "ba", "aa", "x"}
	for range 20000 {
		var segs []string
		for range 1 + rnd.IntN(4) {
			segs = append(segs, atoms[rnd.IntN(len(atoms))])
		}
		pattern := strings.Join(segs, "/")
		if rnd.IntN(2) == 0 {
			pattern = "/" + pattern
		}
		var comps []string
		for range 1 + rnd.IntN(5) {
			comps = append(comps, names[rnd.IntN(len(names))])
		}
		rel := strings.Join(comps, "/")
		rules, err := parseIgnore([]string{pattern})
		if err != nil {
			t.Fatalf("parseIgnore(%q): %v", pattern, err)
		}
		refSegs := strings.Split(strings.TrimPrefix(pattern, "/"), "/")
		if !strings.Contains(pattern, "/") {
			refSegs = append([]string{"**"}, refSegs...)
		}
		if got, want := ignored(rules, rel, false), refMatch(refSegs, comps); got != want {
			t.Fatalf("pattern %q, path %q: ignored = %v, reference = %v", pattern, rel, got, want)
		}
	}
}
