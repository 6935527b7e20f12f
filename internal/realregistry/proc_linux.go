package realregistry

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill the registry if the test binary
// dies without running its cleanups (a test timeout panics the process, for
// one), so no registry outlives `go test`.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
