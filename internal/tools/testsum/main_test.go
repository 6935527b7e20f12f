package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		name               string
		fixture            string // file in testdata, or inline input when it has no .json suffix
		requireIntegration bool
		wantOK             bool
		wantClosing        string
		wantOut            []string // substrings of the output
		wantNotOut         []string
	}{
		{
			name:        "all pass",
			fixture:     "pass.json",
			wantOK:      true,
			wantClosing: "tests: 3 passed, 0 failed, 0 skipped\n",
			wantOut:     []string{"ok  \tfix/d\t", "integration tests (1 passed of 1):\n  PASS fix/d TestIntegrationGood ("},
			wantNotOut:  []string{"d_test.go:3: ok", "=== RUN", "PASS\n"},
		},
		{
			name:               "all pass, integration required and present",
			fixture:            "pass.json",
			requireIntegration: true,
			wantOK:             true,
			wantClosing:        "tests: 3 passed, 0 failed, 0 skipped\n",
		},
		{
			name:               "integration required but only failing",
			fixture:            "fail-skip.json",
			requireIntegration: true,
			wantOK:             false,
			wantClosing:        "failed packages: fix\nno integration test passed: the real registry and cosign were not exercised\ntests: 1 passed, 2 failed, 1 skipped\n",
		},
		{
			name:        "failed subtest, skip with reason",
			fixture:     "fail-skip.json",
			wantOK:      false,
			wantClosing: "failed packages: fix\ntests: 1 passed, 2 failed, 1 skipped\n",
			wantOut: []string{
				"    a_test.go:4: bad sub\n--- FAIL: TestIntegrationX/sub",
				"SKIP fix TestSkip: a_test.go:5: needs the registry; run make test\n",
				"  FAIL fix TestIntegrationX (0.00s)\n",
				"FAIL\tfix\t",
			},
			wantNotOut: []string{"a_test.go:3: hello"},
		},
		{
			name:        "build failure",
			fixture:     "build-fail.json",
			wantOK:      false,
			wantClosing: "failed packages: fix/b\nsome packages did not build (see above)\ntests: 0 passed, 0 failed, 0 skipped\n",
			wantOut:     []string{"b/b_test.go:3:33: undefined: undefinedThing\n", "FAIL\tfix/b [build failed]\n"},
		},
		{
			name:        "panic shows the stack",
			fixture:     "panic.json",
			wantOK:      false,
			wantClosing: "failed packages: fix/c\ntests: 0 passed, 1 failed, 0 skipped\n",
			wantOut:     []string{"about to panic", "panic: assignment to entry in nil map", "c_test.go:3 +0x54"},
		},
		{
			name: "text lines pass through, a test without result counts as failed",
			fixture: "go: downloading example.com/x v1.0.0\n" +
				`{"Action":"run","Package":"p","Test":"TestHang"}` + "\n" +
				`{"Action":"output","Package":"p","Test":"TestHang","Output":"=== RUN   TestHang\n"}` + "\n",
			wantOK:      false,
			wantClosing: "tests: 0 passed, 1 failed, 0 skipped\n",
			wantOut:     []string{"go: downloading example.com/x v1.0.0\n", "--- NO RESULT: p TestHang\n=== RUN   TestHang\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.fixture
			if strings.HasSuffix(tc.fixture, ".json") {
				b, err := os.ReadFile(filepath.Join("testdata", tc.fixture))
				if err != nil {
					t.Fatal(err)
				}
				in = string(b)
			}
			var out strings.Builder
			res, err := summarize(strings.NewReader(in), &out, tc.requireIntegration)
			if err != nil {
				t.Fatal(err)
			}
			if res.ok != tc.wantOK {
				t.Errorf("ok = %t, want %t", res.ok, tc.wantOK)
			}
			if diff := cmp.Diff(tc.wantClosing, res.closing); diff != "" {
				t.Errorf("closing lines (-want +got):\n%s", diff)
			}
			if !strings.HasSuffix(out.String(), "\n"+tc.wantClosing) {
				t.Errorf("output does not end with the closing lines:\n%s", out.String())
			}
			for _, want := range tc.wantOut {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
			for _, notWant := range tc.wantNotOut {
				if strings.Contains(out.String(), notWant) {
					t.Errorf("output has %q:\n%s", notWant, out.String())
				}
			}
		})
	}
}

func TestSkipReason(t *testing.T) {
	tests := []struct{ out, want string }{
		{"=== RUN   TestX\n    x_test.go:9: no tool\n--- SKIP: TestX (0.00s)\n", "x_test.go:9: no tool"},
		{"=== RUN   TestX\n--- SKIP: TestX (0.00s)\n", "(no reason given)"},
		{"    a.go:1: first\n        second line\n", "a.go:1: first second line"},
		{strings.Repeat("x", 400), strings.Repeat("x", 300) + "..."},
	}
	for _, tc := range tests {
		if got := skipReason(tc.out); got != tc.want {
			t.Errorf("skipReason(%q) = %q, want %q", tc.out, got, tc.want)
		}
	}
}

func Example() {
	stream := `{"Action":"run","Package":"example.com/p","Test":"TestIntegrationPush"}
{"Action":"output","Package":"example.com/p","Test":"TestIntegrationPush","Output":"=== RUN   TestIntegrationPush\n"}
{"Action":"pass","Package":"example.com/p","Test":"TestIntegrationPush","Elapsed":0.25}
{"Action":"output","Package":"example.com/p","Output":"PASS\n"}
{"Action":"output","Package":"example.com/p","Output":"ok  \texample.com/p\t0.3s\n"}
{"Action":"pass","Package":"example.com/p","Elapsed":0.3}
`
	_, _ = summarize(strings.NewReader(stream), os.Stdout, true)
	// Output:
	// ok  	example.com/p	0.3s
	//
	// integration tests (1 passed of 1):
	//   PASS example.com/p TestIntegrationPush (0.25s)
	//
	// tests: 1 passed, 0 failed, 0 skipped
}
