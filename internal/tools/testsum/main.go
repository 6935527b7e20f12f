// Command testsum reads the output of `go test -json` and prints what a CI
// log needs: the package result lines, the full output of every failed test,
// the result of each integration test (a top-level test whose name contains
// "Integration"), the skipped tests with their reasons, and a closing line
// "tests: N passed, N failed, N skipped".
//
// Usage:
//
//	go test -json ./... 2>&1 | testsum [-require-integration] [-summary-file FILE]
//
// Lines that are not test2json events (errors printed by the go command) are
// passed through. It exits 1 when a test, a package or a build failed, or when
// -require-integration is set and no integration test passed.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

func main() {
	requireIntegration := flag.Bool("require-integration", false, "fail unless at least one integration test passed")
	summaryFile := flag.String("summary-file", "", "also write the closing lines to this file")
	flag.Parse()

	res, err := summarize(os.Stdin, os.Stdout, *requireIntegration)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		os.Exit(2)
	}
	if *summaryFile != "" {
		if err := os.WriteFile(*summaryFile, []byte(res.closing), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "testsum:", err)
			os.Exit(2)
		}
	}
	if !res.ok {
		os.Exit(1)
	}
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

type testKey struct{ pkg, test string }

// result is what summarize found.
type result struct {
	ok      bool
	closing string // the lines summarize printed last
}

// summarize copies the interesting part of a go test -json stream from r to
// w. It returns an error only when reading r fails.
func summarize(r io.Reader, w io.Writer, requireIntegration bool) (result, error) {
	var (
		buffered                = map[testKey]*strings.Builder{}
		passed, failed, skipped int
		badPackages             []string
		buildFailed             bool
		integration             []string
		integrationPassed       int
		skips                   []string
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil || ev.Action == "" {
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		key := testKey{ev.Package, ev.Test}
		isIntegration := ev.Test != "" && !strings.Contains(ev.Test, "/") && strings.Contains(ev.Test, "Integration")
		switch ev.Action {
		case "build-output":
			io.WriteString(w, ev.Output)
		case "build-fail":
			buildFailed = true
		case "output":
			if ev.Test == "" {
				if ev.Output != "PASS\n" && ev.Output != "FAIL\n" {
					io.WriteString(w, ev.Output)
				}
				continue
			}
			b := buffered[key]
			if b == nil {
				b = new(strings.Builder)
				buffered[key] = b
			}
			b.WriteString(ev.Output)
		case "pass", "fail", "skip":
			if ev.Test == "" {
				if ev.Action == "fail" {
					badPackages = append(badPackages, ev.Package)
				}
				continue
			}
			out := ""
			if b := buffered[key]; b != nil {
				out = b.String()
				delete(buffered, key)
			}
			switch ev.Action {
			case "pass":
				passed++
				if isIntegration {
					integrationPassed++
				}
			case "fail":
				failed++
				io.WriteString(w, out)
			case "skip":
				skipped++
				skips = append(skips, fmt.Sprintf("SKIP %s %s: %s", ev.Package, ev.Test, skipReason(out)))
			}
			if isIntegration {
				integration = append(integration, fmt.Sprintf("%s %s %s (%.2fs)", strings.ToUpper(ev.Action), ev.Package, ev.Test, ev.Elapsed))
			}
		}
	}
	if err := sc.Err(); err != nil {
		return result{}, fmt.Errorf("reading go test -json output: %w", err)
	}

	// Tests that started but never reported (the test binary died): show
	// what they printed.
	keys := make([]testKey, 0, len(buffered))
	for k := range buffered {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b testKey) int { return strings.Compare(a.pkg+" "+a.test, b.pkg+" "+b.test) })
	for _, k := range keys {
		fmt.Fprintf(w, "--- NO RESULT: %s %s\n%s", k.pkg, k.test, buffered[k].String())
		failed++
	}

	if len(skips) > 0 {
		fmt.Fprintf(w, "\nskipped tests (%d):\n", len(skips))
		const maxShown = 100
		for _, s := range skips[:min(len(skips), maxShown)] {
			fmt.Fprintln(w, "  "+s)
		}
		if len(skips) > maxShown {
			fmt.Fprintf(w, "  ... and %d more\n", len(skips)-maxShown)
		}
	}
	fmt.Fprintf(w, "\nintegration tests (%d passed of %d):\n", integrationPassed, len(integration))
	for _, s := range integration {
		fmt.Fprintln(w, "  "+s)
	}

	ok := failed == 0 && len(badPackages) == 0 && !buildFailed
	var closing strings.Builder
	if len(badPackages) > 0 {
		fmt.Fprintf(&closing, "failed packages: %s\n", strings.Join(slices.Compact(badPackages), " "))
	}
	if buildFailed {
		closing.WriteString("some packages did not build (see above)\n")
	}
	if requireIntegration && integrationPassed == 0 {
		ok = false
		closing.WriteString("no integration test passed: the real registry and cosign were not exercised\n")
	}
	fmt.Fprintf(&closing, "tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
	fmt.Fprint(w, "\n"+closing.String())
	return result{ok: ok, closing: closing.String()}, nil
}

// skipReason picks the message of t.Skip out of a skipped test's output.
func skipReason(out string) string {
	var lines []string
	for l := range strings.SplitSeq(out, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- SKIP") {
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		return "(no reason given)"
	}
	reason := strings.Join(lines, " ")
	if len(reason) > 300 {
		reason = reason[:300] + "..."
	}
	return reason
}
