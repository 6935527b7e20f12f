package sigstorestack

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// namespaceEnv marks the re-executed test binary: its value is the name of
// the test that runs inside the private network namespace.
const namespaceEnv = "OCISOURCE_SIGSTORESTACK_NETNS"

// parentNamespaceEnv carries the parent's network namespace (the target of
// /proc/self/ns/net), so the child can check that it really has another one.
const parentNamespaceEnv = "OCISOURCE_SIGSTORESTACK_PARENT_NETNS"

// Isolate runs the calling top-level test in a private network namespace.
// In the test process it re-executes the test binary for this test alone
// (-test.run=^Name$) in a new network namespace, waits for it, logs its
// output, fails the test if it failed and skips it if it skipped, and
// returns false: the caller returns at once. In the re-executed binary it
// brings the loopback interface up and returns true: the caller goes on with
// the test, and everything it starts (the registry, Fulcio, the timestamp
// authority, cosign) shares that namespace and nothing else.
//
// When a tool the stack needs is missing, or the namespace cannot be made,
// the test fails if realregistry.IntegrationEnv is set and skips otherwise.
func Isolate(t *testing.T) bool {
	t.Helper()
	if os.Getenv(namespaceEnv) == t.Name() {
		if err := checkNewNamespace(); err != nil {
			t.Fatal(err)
		}
		if err := loopbackUp(); err != nil {
			t.Fatalf("sigstorestack: bringing up lo in the private network namespace: %v", err)
		}
		return true
	}
	if strings.Contains(t.Name(), "/") {
		t.Fatalf("sigstorestack.Isolate(%s): call it from a top-level test, not a subtest", t.Name())
	}
	for _, name := range stackTools {
		tool(t, name)
	}
	parentNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		unavailable(t, "sigstorestack: reading this process's network namespace: %v", err)
	}

	args := []string{"-test.run=^" + regexp.QuoteMeta(t.Name()) + "$", "-test.v=true", "-test.count=1"}
	if d, ok := t.Deadline(); ok {
		// Leave the child's own timeout room to report before ours.
		args = append(args, "-test.timeout="+max(time.Until(d)-10*time.Second, time.Second).String())
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), namespaceEnv+"="+t.Name(), parentNamespaceEnv+"="+parentNS)
	cmd.SysProcAttr = namespaceAttr()
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	runErr := cmd.Run()
	output := quote(out.String())
	if runErr != nil && cmd.ProcessState == nil {
		unavailable(t, "sigstorestack: re-running %s in a new network namespace: %v", t.Name(), runErr)
	}
	switch {
	case runErr != nil:
		t.Fatalf("%s in its private network namespace failed (%v, %s):\n%s", t.Name(), runErr, time.Since(start).Round(time.Millisecond), output)
	case skipped(out.String(), t.Name()):
		t.Skipf("%s skipped in its private network namespace:\n%s", t.Name(), output)
	case !passed(out.String(), t.Name()):
		t.Fatalf("%s in its private network namespace did not report a pass (was it run?):\n%s", t.Name(), output)
	default:
		t.Logf("%s passed in its private network namespace (%s):\n%s", t.Name(), time.Since(start).Round(time.Millisecond), output)
	}
	return false
}

// namespaceAttr makes the child's network namespace: root (CI) may create
// one directly; anyone else needs a user namespace in which they are root.
func namespaceAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if os.Geteuid() != 0 {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		attr.GidMappingsEnableSetgroups = false
	}
	return attr
}

// checkNewNamespace makes sure the re-executed binary does not share the
// parent's network namespace: a server binding all interfaces there would
// be reachable from outside.
func checkNewNamespace() error {
	ns, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return fmt.Errorf("sigstorestack: reading the network namespace: %w", err)
	}
	if parent := os.Getenv(parentNamespaceEnv); parent == "" || parent == ns {
		return fmt.Errorf("sigstorestack: running in network namespace %s, parent's %q: not a private one", ns, parent)
	}
	return nil
}

// loopbackUp sets IFF_UP on lo, as `ip link set lo up` does: a new network
// namespace has only lo, and down.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCSIFFLAGS: %w", err)
	}
	return nil
}

// setParentDeathSignal makes the kernel kill a server of the stack if the
// test binary dies without its cleanups (a test timeout panics the process).
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// inNamespace reports whether this process is a test binary Isolate
// re-executed.
func inNamespace() bool { return os.Getenv(namespaceEnv) != "" }

// skipped and passed read the child's verdict on test name from its -test.v
// output.
func skipped(out, name string) bool {
	return strings.Contains(out, "\n--- SKIP: "+name+" (") || strings.HasPrefix(out, "--- SKIP: "+name+" (")
}
func passed(out, name string) bool { return strings.Contains(out, "\n--- PASS: "+name+" (") }

// quote prefixes each line of the child's output with "| ", so that go
// test -json (test2json) does not take the child's "=== RUN" and "--- PASS"
// lines, which end up in our test's log, for events of the parent.
func quote(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "| " + l
	}
	return strings.Join(lines, "\n")
}
