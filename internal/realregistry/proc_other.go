//go:build !linux

package realregistry

import "os/exec"

// setParentDeathSignal does nothing outside Linux: there the registry is only
// stopped by the test's cleanup.
func setParentDeathSignal(*exec.Cmd) {}
