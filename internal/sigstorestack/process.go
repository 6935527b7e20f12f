package sigstorestack

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/ocisource/ocisource/internal/realregistry"
)

// process is a running server of the stack.
type process struct {
	name   string
	cmd    *exec.Cmd
	cancel context.CancelFunc
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's result, valid after done
	logs   *realregistry.OutputBuffer
}

// launch starts bin with args and env added to a copy of ours that drops
// what the servers would read as configuration (their viper reads the
// environment) or tracing settings.
func (s *Stack) launch(name, bin string, env []string, args ...string) (*process, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = s.dir
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "HOST" || k == "PORT" || strings.HasPrefix(k, "OTEL_") || strings.HasPrefix(k, "FULCIO_") || strings.HasPrefix(k, "TIMESTAMP_") {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "HOME="+s.dir, "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none")
	cmd.Env = append(cmd.Env, env...)
	logs := realregistry.NewOutputBuffer(1 << 20)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.WaitDelay = 5 * time.Second
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("sigstorestack: starting %s: %w", bin, err)
	}
	p := &process{name: name, cmd: cmd, cancel: cancel, done: make(chan struct{}), logs: logs}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.procs = append(s.procs, p)
	return p, nil
}

// kill stops the process and waits for it.
func (p *process) kill() {
	p.cancel()
	<-p.done
}

// waitReady polls url until it answers 200, the process exits, or
// StartTimeout passes.
func (p *process) waitReady(url string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(StartTimeout)
	delay := 10 * time.Millisecond
	var last error
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s answered %d, want 200", url, resp.StatusCode)
		}
		last = err
		select {
		case <-p.done:
			return fmt.Errorf("sigstorestack: %s exited: %v (last probe: %v)", p.name, p.err, last)
		case <-time.After(delay):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sigstorestack: %s: no 200 from GET %s within %s (last probe: %v)", p.name, url, StartTimeout, last)
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}
