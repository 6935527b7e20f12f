//go:build !linux

package sigstorestack

import (
	"os/exec"
	"testing"
)

// Isolate needs Linux network namespaces; elsewhere the test fails if
// realregistry.IntegrationEnv is set and skips otherwise.
func Isolate(t *testing.T) bool {
	t.Helper()
	unavailable(t, "sigstorestack: the private Sigstore runs in a Linux network namespace; this is not Linux")
	return false
}

func inNamespace() bool { return false }

func setParentDeathSignal(*exec.Cmd) {}
