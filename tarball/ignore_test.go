package tarball

import (
	"errors"
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
