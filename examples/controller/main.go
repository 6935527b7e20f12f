// Command controller is a long-running program that keeps Flux
// OCIRepository sources in sync on disk, the way source-controller does
// inside a cluster, built on ocisource.Reconciler.
//
// It reads OCIRepository manifests (apiVersion source.toolkit.fluxcd.io/v1;
// the spec fields url, ref, layerSelector, ignore, interval, timeout,
// insecure, suspend, and verify: provider cosign with a secretRef of public
// keys or matchOIDCIdentity, or provider notation with a secretRef holding
// trustpolicy.json and CA certificates) from --config, reloads the file when it changes,
// fetches each source into --data/<namespace>/<name>, logs condition
// changes with slog, and serves Prometheus metrics on /metrics and a health
// check on /healthz.
//
//	controller --config sources.yaml --data /var/lib/sources --metrics-addr 127.0.0.1:8080
//
// A verify.secretRef names a directory --secrets/<namespace>/<name> holding
// *.pub keys (a Secret mounted as a volume); matchOIDCIdentity is checked
// against the Sigstore trusted root given by --trusted-root.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/oci"
)

type config struct {
	configFile, dataDir, secretsDir, trustedRoot string
	metricsAddr                                  string
	caFile, dockerConfig                         string
	workers, perRegistry                         int
	reload                                       time.Duration
	verifiers                                    verifierCache
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "controller: %v\n", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.configFile, "config", "", "YAML file of OCIRepository objects (required)")
	fs.StringVar(&c.dataDir, "data", "", "directory under which each source is kept as <namespace>/<name> (required)")
	fs.StringVar(&c.secretsDir, "secrets", "", "directory of verify.secretRef Secrets, as <namespace>/<name>/*.pub")
	fs.StringVar(&c.trustedRoot, "trusted-root", "", "Sigstore trusted_root.json for verify.matchOIDCIdentity")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "127.0.0.1:8080", "address of /metrics and /healthz")
	fs.StringVar(&c.caFile, "ca-file", "", "PEM CA certificates trusted besides the system roots")
	fs.StringVar(&c.dockerConfig, "docker-config", "", "directory of the docker config.json with registry credentials")
	fs.IntVar(&c.workers, "workers", 8, "sources reconciled at once")
	fs.IntVar(&c.perRegistry, "per-registry", 4, "sources of one registry reconciled at once")
	fs.DurationVar(&c.reload, "reload-interval", 2*time.Second, "how often --config is checked for changes")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case c.configFile == "" || c.dataDir == "":
		return nil, errors.New("--config and --data are required")
	case c.workers < 1 || c.perRegistry < 1 || c.reload <= 0:
		return nil, errors.New("--workers, --per-registry and --reload-interval must be positive")
	}
	return c, nil
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	fetchers, err := newFetchers(cfg)
	if err != nil {
		return err
	}
	m := newMetrics()
	conds := newConditionLog(log, m)
	rec, err := ocisource.NewReconciler(fetchers[false],
		ocisource.WithWorkers(cfg.workers), ocisource.WithRegistryConcurrency(cfg.perRegistry),
		ocisource.WithStatusHandler(conds.changed), ocisource.WithObserver(m.observe))
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.metricsAddr)
	if err != nil {
		return fmt.Errorf("--metrics-addr: %w", err)
	}
	srv := &http.Server{Handler: m.handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	log.Info("serving metrics", "addr", ln.Addr().String())

	w := &watcher{cfg: cfg, rec: rec, fetchers: fetchers, log: log}
	if err := w.load(); err != nil {
		return err // a bad file at startup is fatal; later, the old one stays
	}
	done := make(chan error, 1)
	go func() { done <- rec.Run(ctx) }()
	tick := time.NewTicker(cfg.reload)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			err := <-done
			log.Info("stopped")
			return err
		case <-tick.C:
			if err := w.load(); err != nil {
				log.Error("config not reloaded; the previous one stays in force", "file", cfg.configFile, "error", err)
			}
		}
	}
}

// newFetchers builds one Fetcher for TLS registries and one for
// spec.insecure ones.
func newFetchers(cfg *config) (map[bool]*ocisource.Fetcher, error) {
	out := map[bool]*ocisource.Fetcher{}
	for _, insecure := range []bool{false, true} {
		var opts []oci.Option
		if cfg.dockerConfig != "" {
			opts = append(opts, oci.WithDockerConfig(cfg.dockerConfig))
		}
		if insecure {
			opts = append(opts, oci.WithInsecure())
		} else if cfg.caFile != "" {
			opts = append(opts, oci.WithCAFile(cfg.caFile))
		}
		client, err := oci.NewClient(opts...)
		if err != nil {
			return nil, err
		}
		f, err := ocisource.NewFetcher(ocisource.WithClient(client))
		if err != nil {
			return nil, err
		}
		out[insecure] = f
	}
	return out, nil
}

// watcher reloads the config file when its content changes.
type watcher struct {
	cfg      *config
	rec      *ocisource.Reconciler
	fetchers map[bool]*ocisource.Fetcher
	log      *slog.Logger
	sum      [32]byte
	names    map[string]bool
}

func (w *watcher) load() error {
	b, err := os.ReadFile(w.cfg.configFile)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	if w.names != nil && sum == w.sum {
		return nil
	}
	specs, err := parseConfig(bytesReader(b), w.cfg)
	if err != nil {
		return err
	}
	// Check every spec before applying any, so a bad file changes nothing.
	for _, s := range specs {
		if err := s.spec.Validate(); err != nil {
			return fmt.Errorf("OCIRepository %s: %w", s.name, err)
		}
	}
	names := map[string]bool{}
	for _, s := range specs {
		s.spec.Fetcher = w.fetchers[s.insecure]
		if err := w.rec.Set(s.name, s.spec); err != nil {
			return err
		}
		names[s.name] = true
	}
	for n := range w.names {
		if !names[n] {
			w.rec.Remove(n)
			w.log.Info("source removed; its directory is kept", "source", n)
		}
	}
	w.sum, w.names = sum, names
	w.log.Info("config loaded", "file", w.cfg.configFile, "sources", len(specs))
	return nil
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
