package ocisource_test

import (
	"os/exec"
	"strings"
	"testing"
)

// forbidden are import path prefixes the core packages must not depend on,
// directly or transitively.
var forbidden = []string{
	"github.com/sigstore/",
	"github.com/theupdateframework/",
	"github.com/in-toto/",
}

func TestCorePackagesImportNoSigstore(t *testing.T) {
	for _, pkg := range []string{
		"github.com/ocisource/ocisource/oci",
		"github.com/ocisource/ocisource/oci/ocitest",
		"github.com/ocisource/ocisource/semverref",
		"github.com/ocisource/ocisource/tarball",
		"github.com/ocisource/ocisource/verify",
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

// The check itself must be able to fail: verify/cosign does depend on Sigstore.
func TestCheckDetectsSigstore(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/ocisource/ocisource/verify/cosign").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "github.com/sigstore/") {
		t.Fatal("verify/cosign shows no Sigstore dependency: the check is blind")
	}
}

// The registry client a controller imports carries no write-side layout
// and no tar code: oci imports no other package of this module.
func TestOCIImportsNothingOfOurs(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/ocisource/ocisource/oci").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, d := range strings.Fields(string(out)) {
		if strings.HasPrefix(d, "github.com/ocisource/ocisource/") && d != "github.com/ocisource/ocisource/oci" {
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
