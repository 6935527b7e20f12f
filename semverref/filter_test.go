package semverref

import (
	"regexp"
	"testing"
)

func TestCompileFilterMatchesRegexp(t *testing.T) {
	tests := []struct {
		expr    string
		trimmed string // "" when nothing is trimmed
	}{
		{expr: `.*-rc.*`, trimmed: `-rc`},
		{expr: `.*?-rc.*?`, trimmed: `-rc`},
		{expr: `(?s).*-rc.*`, trimmed: `-rc`},
		{expr: `.*`, trimmed: `(?:)`},
		{expr: `.*.*`, trimmed: `(?:)`},
		{expr: `.*-(rc|beta)\.[0-9]+`, trimmed: `-(rc|beta)\.[0-9]+`},
		{expr: `(?i).*RC.*`, trimmed: `(?i:RC)`},
		{expr: `^.*-rc.*$`},
		{expr: `^v.*`, trimmed: `\Av`},
		{expr: `a.*b`},
		{expr: `.*a|b`},
		{expr: `(.*)-rc`},
		{expr: `-rc`},
		{expr: ``},
		{expr: `.+-rc`},
		{expr: `sha256-.*..*`, trimmed: `(?-s:sha256-.*.)`},
	}
	tags := []string{"", "1.0.0", "1.0.0-rc.1", "v1.0.0-RC.2", "v2.0.0", "1.0.0-beta.3", "x\n-rc", "-rc", "ab", "b", "a\nb",
		"sha256-e2688bb75ee43df49c9bfb2aa30dd98173649db53955e87c347024ba71bc1c80.sig"}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			fast, err := compileFilter(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.trimmed
			if want == "" {
				want = tt.expr
			}
			if got := fast.String(); got != want && !(tt.trimmed == "(?:)" && got == "") {
				t.Errorf("compileFilter(%q) compiled %q, want %q", tt.expr, got, want)
			}
			slow := regexp.MustCompile(tt.expr)
			for _, tag := range tags {
				if got, want := fast.MatchString(tag), slow.MatchString(tag); got != want {
					t.Errorf("compileFilter(%q).MatchString(%q) = %v, regexp says %v", tt.expr, tag, got, want)
				}
			}
		})
	}
}

func TestCompileFilterError(t *testing.T) {
	if _, err := compileFilter(`.*(`); err == nil {
		t.Error("compileFilter accepted an invalid expression")
	}
}
