package sigstorestack

import (
	"strings"
	"testing"
)

// The child's output reaches the parent's log with no line test2json would
// take for an event of the parent.
func TestQuote(t *testing.T) {
	out := "=== RUN   TestX\n    --- PASS: TestX/a (0.00s)\n--- PASS: TestX (0.01s)\nPASS\n"
	for _, l := range strings.Split(quote(out), "\n") {
		if !strings.HasPrefix(l, "| ") {
			t.Errorf("line %q is not quoted", l)
		}
	}
	if !passed(out, "TestX") || passed(out, "TestY") || skipped(out, "TestX") {
		t.Errorf("passed/skipped misread %q", out)
	}
	if !skipped("=== RUN   TestX\n--- SKIP: TestX (0.00s)\n", "TestX") {
		t.Error("skip not seen")
	}
}
