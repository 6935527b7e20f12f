package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/ocisource/ocisource/oci/ocitest"
)

// The fleet's registries live in a child process (this binary run with
// -serve-registries), so that the parent's RSS and heap are the client's.
// The child serves two ocitest registries, "healthy" (with the latency) and
// "sick" (for the stalled ping), and a small control API on loopback: push
// a fleet, read and reset the counters, stall and release the ping.

type remoteRegistries struct {
	cmd   *exec.Cmd
	base  string // base URL of the control API
	hosts map[string]string
	http  *http.Client
}

// startRemoteRegistries starts the child and reads its addresses.
func startRemoteRegistries(ctx context.Context, fc fleetConfig) (*remoteRegistries, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "-serve-registries", "-latency", fc.latency.String())
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var hello struct {
		Control string            `json:"control"`
		Hosts   map[string]string `json:"hosts"`
	}
	if err := json.NewDecoder(bufio.NewReader(stdout)).Decode(&hello); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("the registry process did not start: %w", err)
	}
	return &remoteRegistries{cmd: cmd, base: "http://" + hello.Control, hosts: hello.Hosts, http: &http.Client{}}, nil
}

func (r *remoteRegistries) close() {
	r.cmd.Process.Kill()
	r.cmd.Wait()
}

func (r *remoteRegistries) url(reg, repo string) string { return "oci://" + r.hosts[reg] + "/" + repo }

// control calls an action of the child and fails unless it answers 200.
func (r *remoteRegistries) control(action, query string) error {
	_, err := r.call(action, query)
	return err
}

func (r *remoteRegistries) call(action, query string) ([]byte, error) {
	resp, err := r.http.Post(r.base+"/"+action+"?"+query, "text/plain", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %s", action, resp.Status, b)
	}
	return b, nil
}

// pushFleet pushes n artifacts prefix%05d:version, for i = 0, step, 2*step ...
func (r *remoteRegistries) pushFleet(reg, prefix string, n, step int, version string) error {
	return r.control("push", fmt.Sprintf("reg=%s&prefix=%s&n=%d&step=%d&version=%s", reg, prefix, n, step, version))
}

type registryCounts struct {
	Kinds                map[string]int `json:"kinds"`
	Pings, Tokens, Conns int
}

func (r *remoteRegistries) counts(reg string) registryCounts {
	var c registryCounts
	if b, err := r.call("counts", "reg="+reg); err == nil {
		_ = json.Unmarshal(b, &c)
	}
	return c
}

func (r *remoteRegistries) reset(reg string) { _ = r.control("reset", "reg="+reg) }

// serveRegistries is the child: it never returns.
func serveRegistries(latency time.Duration) error {
	regs := map[string]*ocitest.Registry{
		"healthy": ocitest.New(ocitest.WithTokenAuth(fleetUser, fleetPass), ocitest.WithLatency(latency)),
		"sick":    ocitest.New(ocitest.WithTokenAuth(fleetUser, fleetPass)),
	}
	var mu sync.Mutex
	stalls := map[string]*ocitest.Stall{}
	mux := http.NewServeMux()
	get := func(w http.ResponseWriter, q *http.Request) *ocitest.Registry {
		reg := regs[q.URL.Query().Get("reg")]
		if reg == nil {
			http.Error(w, "no such registry", http.StatusNotFound)
		}
		return reg
	}
	mux.HandleFunc("/push", func(w http.ResponseWriter, q *http.Request) {
		reg := get(w, q)
		if reg == nil {
			return
		}
		v := q.URL.Query()
		n, _ := strconv.Atoi(v.Get("n"))
		step, _ := strconv.Atoi(v.Get("step"))
		prefix, version := v.Get("prefix"), v.Get("version")
		err := parallel(32, n, func(i int) error {
			_, err := reg.PushFiles(q.Context(), fmt.Sprintf("%s%05d:%s", prefix, i*step, version), fleetFiles(i*step, version))
			return err
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("/counts", func(w http.ResponseWriter, q *http.Request) {
		reg := get(w, q)
		if reg == nil {
			return
		}
		json.NewEncoder(w).Encode(registryCounts{Kinds: kindsOf(reg.Requests()), Pings: reg.Pings(), Tokens: reg.TokenRequests(), Conns: reg.Connections()})
	})
	mux.HandleFunc("/reset", func(w http.ResponseWriter, q *http.Request) {
		if reg := get(w, q); reg != nil {
			reg.ResetRequests()
		}
	})
	mux.HandleFunc("/stall", func(w http.ResponseWriter, q *http.Request) {
		reg := get(w, q)
		if reg == nil {
			return
		}
		d, err := time.ParseDuration(q.URL.Query().Get("d"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		stalls[q.URL.Query().Get("reg")] = reg.StallPing(d)
		mu.Unlock()
	})
	stallOf := func(w http.ResponseWriter, q *http.Request) *ocitest.Stall {
		mu.Lock()
		defer mu.Unlock()
		s := stalls[q.URL.Query().Get("reg")]
		if s == nil {
			http.Error(w, "no stall", http.StatusNotFound)
		}
		return s
	}
	mux.HandleFunc("/holding", func(w http.ResponseWriter, q *http.Request) {
		if s := stallOf(w, q); s != nil {
			select {
			case <-s.Holding():
			case <-time.After(10 * time.Second):
				http.Error(w, "no ping held", http.StatusGatewayTimeout)
			}
		}
	})
	mux.HandleFunc("/held", func(w http.ResponseWriter, q *http.Request) {
		if s := stallOf(w, q); s != nil && s.Held() == 0 {
			http.Error(w, "the stall holds no ping", http.StatusConflict)
		}
	})
	mux.HandleFunc("/release", func(w http.ResponseWriter, q *http.Request) {
		if s := stallOf(w, q); s != nil {
			s.Release()
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hosts := map[string]string{}
	for name, reg := range regs {
		hosts[name] = reg.Host()
	}
	if err := json.NewEncoder(os.Stdout).Encode(map[string]any{"control": ln.Addr().String(), "hosts": hosts}); err != nil {
		return err
	}
	return http.Serve(ln, mux)
}
