package ocisource_test

import (
	"os/exec"
	"strings"
	"testing"
)

// forbidden are import path prefixes the core packages (and the root
// package) must not depend on, directly or transitively: Sigstore, cosign and
// notation code (with the oras-go that notation-go brings), and the verifier
// implementations under verify/.
var forbidden = []string{
	"github.com/sigstore/",
	"github.com/theupdateframework/",
	"github.com/in-toto/",
	"github.com/notaryproject/",
	"oras.land/",
	"github.com/ocisource/ocisource/verify/",
}

func TestCorePackagesImportNoSigstore(t *testing.T) {
	for _, pkg := range []string{
		"github.com/ocisource/ocisource/oci",
		"github.com/ocisource/ocisource/oci/ocitest",
		"github.com/ocisource/ocisource/semverref",
		"github.com/ocisource/ocisource/tarball",
		"github.com/ocisource/ocisource/verify",
		"github.com/ocisource/ocisource",
	} {
		t.Run(pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
			}
			deps := strings.Fields(string(out))
			if len(deps) < 2 {
				t.Fatalf("go list -deps %s listed %d packages; the check would prove nothing", pkg, len(deps))
			}
			for _, d := range deps {
				for _, f := range forbidden {
					if strings.HasPrefix(d, f) {
						t.Errorf("%s depends on %s", pkg, d)
					}
				}
			}
		})
	}
}

// The check itself must be able to fail: verify/cosign does depend on
// Sigstore, and verify/notation on notation-go.
func TestCheckDetectsSigstore(t *testing.T) {
	for pkg, dep := range map[string]string{
		"github.com/ocisource/ocisource/verify/cosign":   "github.com/sigstore/",
		"github.com/ocisource/ocisource/verify/notation": "github.com/notaryproject/",
	} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), dep) {
			t.Errorf("%s shows no %s dependency: the check is blind", pkg, dep)
		}
	}
}

// The registry client a controller imports carries no write-side layout
// and no tar code: oci imports no other package of this module but small
// internal helpers (the flock wait it shares with the root package).
func TestOCIImportsNothingOfOurs(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/ocisource/ocisource/oci").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, d := range strings.Fields(string(out)) {
		if strings.HasPrefix(d, "github.com/ocisource/ocisource/") && d != "github.com/ocisource/ocisource/oci" && !strings.HasPrefix(d, "github.com/ocisource/ocisource/internal/") {
			t.Errorf("oci depends on %s", d)
		}
	}
	// The check can fail: oci/push does import tarball.
	out, err = exec.Command("go", "list", "-deps", "github.com/ocisource/ocisource/oci/push").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "github.com/ocisource/ocisource/tarball") {
		t.Error("oci/push shows no tarball dependency: the check is blind")
	}
}
