package semverref_test

import (
	"errors"
	"fmt"

	"github.com/ocisource/ocisource/semverref"
)

func ExampleResolve() {
	tags := []string{"latest", "v1.0.0", "1.0.1", "1.1.0-rc.1", "1.1.0", "2.0.0", "sha256-3b6c.sig"}

	tag, err := semverref.Resolve(tags, "~1.0")
	fmt.Println(tag, err)

	// Pre-releases only when the constraint names one.
	tag, err = semverref.Resolve(tags, ">=1.1.0-0 <2.0.0")
	fmt.Println(tag, err)

	// Same version with and without "v": the tag without it wins, whatever
	// the order of the list.
	tag, err = semverref.Resolve([]string{"v3.0.0", "3.0.0"}, "^3")
	fmt.Println(tag, err)
	// Output:
	// 1.0.1 <nil>
	// 1.1.0 <nil>
	// 3.0.0 <nil>
}

func ExampleCompile() {
	// A release-candidate channel, as Flux's semverFilter: the filter picks
	// the tags, the constraint (with a pre-release part) the version.
	rc, err := semverref.Compile(">= 6.1.x-0", semverref.WithFilter(`-rc\.`))
	if err != nil {
		fmt.Println(err)
		return
	}
	// The Selector is reused for every poll and may be shared.
	for _, tags := range [][]string{
		{"6.1.4", "6.1.5-rc.1", "6.1.5"},
		{"6.1.4", "6.1.5-rc.1", "6.1.5", "6.2.0-rc.1", "6.2.0-beta.1"},
	} {
		tag, err := rc.Select(tags)
		fmt.Println(tag, err)
	}
	// Output:
	// 6.1.5-rc.1 <nil>
	// 6.2.0-rc.1 <nil>
}

func ExampleWithHelmTags() {
	// Helm pushes chart version 1.2.0+build.7 as tag 1.2.0_build.7.
	tags := []string{"1.1.0", "1.2.0_build.7", "1.2.0-rc.1_build.6"}
	tag, err := semverref.Resolve(tags, "^1", semverref.WithHelmTags())
	fmt.Println(tag, err)
	// Output:
	// 1.2.0_build.7 <nil>
}

func ExampleNoMatchError() {
	_, err := semverref.Resolve([]string{"1.0.0", "2.0.0-rc.1", "main"}, ">=2.0.0")
	var nm *semverref.NoMatchError
	if errors.As(err, &nm) {
		fmt.Println(errors.Is(err, semverref.ErrNoMatch), nm.Seen, nm.Candidates, nm.Prereleases)
	}
	fmt.Println(err)
	// Output:
	// true 3 2 1
	// semverref: no tag matches constraint ">=2.0.0": 3 tags seen, 2 of them semantic versions; 1 pre-release was skipped: name a pre-release in the constraint (e.g. ">=1.0.0-0") or use WithPrereleases to include them
}
