package semverref_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ocisource/ocisource/semverref"
)

// benchTags returns n tags as a busy repository holds them, in random order:
// releases with and without "v" (~55%), pre-releases (~25%), Helm build tags
// (~5%), cosign attachments (~5%) and branch or commit tags (~10%).
func benchTags(n int) []string {
	r := rand.New(rand.NewPCG(42, 42))
	tags := make([]string, n)
	for i := range tags {
		major, minor, patch := r.IntN(10), r.IntN(30), r.IntN(40)
		v := ""
		if r.IntN(10) < 3 {
			v = "v"
		}
		switch k := r.IntN(100); {
		case k < 55:
			tags[i] = fmt.Sprintf("%s%d.%d.%d", v, major, minor, patch)
		case k < 80:
			pre := []string{"rc", "alpha", "beta"}[r.IntN(3)]
			tags[i] = fmt.Sprintf("%s%d.%d.%d-%s.%d", v, major, minor, patch, pre, r.IntN(20))
		case k < 85:
			tags[i] = fmt.Sprintf("%d.%d.%d_build.%d", major, minor, patch, r.IntN(1000))
		case k < 90:
			tags[i] = fmt.Sprintf("sha256-%064x.%s", r.Uint64(), []string{"sig", "att", "sbom"}[r.IntN(3)])
		default:
			tags[i] = []string{"latest", "main", "stable", "1.2", fmt.Sprintf("sha-%07x", r.IntN(1<<28)), fmt.Sprintf("pr-%d", r.IntN(5000))}[r.IntN(6)]
		}
	}
	return tags
}

var benchSelectCases = []struct {
	name       string
	constraint string
	opts       []semverref.Option
}{
	{"latest", "*", nil},
	{"tilde", "~1.0", nil},
	{"range", ">=2.0.0 <3.0.0", nil},
	{"prerelease", ">=5.0.0-0", nil},
	{"with-prereleases", "^3", []semverref.Option{semverref.WithPrereleases()}},
	{"filter", "~1.0", []semverref.Option{semverref.WithFilter(`^v`)}},
	{"helm", "~4.2", []semverref.Option{semverref.WithHelmTags()}},
	{"filter-rc-channel", ">= 1.x-0", []semverref.Option{semverref.WithFilter(`.*-rc.*`)}},
	// Nothing matches: every candidate is checked. The slowest case.
	{"nomatch", ">=100", nil},
	{"nomatch-prereleases", ">=100", []semverref.Option{semverref.WithPrereleases()}},
	{"nomatch-filter", ">=100", []semverref.Option{semverref.WithFilter(`.*-rc.*`)}},
}

// BenchmarkSelect resolves over 10,000 tags with a compiled Selector. The
// target is well under 10 ms per resolution.
func BenchmarkSelect(b *testing.B) {
	tags := benchTags(10_000)
	for _, bc := range benchSelectCases {
		b.Run(bc.name, func(b *testing.B) {
			s, err := semverref.Compile(bc.constraint, bc.opts...)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				_, _ = s.Select(tags)
			}
		})
	}
}

// BenchmarkResolve includes compiling the constraint.
func BenchmarkResolve(b *testing.B) {
	tags := benchTags(10_000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := semverref.Resolve(tags, "~1.0"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFluxAlgorithm is the reference (Flux's getTagBySemver: parse and
// check every tag, sort the matches) over the same tags, for the ratio.
func BenchmarkFluxAlgorithm(b *testing.B) {
	tags := benchTags(10_000)
	for _, bc := range []struct{ name, constraint string }{{"tilde", "~1.0"}, {"nomatch", ">=100"}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = reference(tags, bc.constraint, "", false, false)
			}
		})
	}
}
