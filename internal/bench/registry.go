package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
)

// Environment variables that point the benchmark at a real registry.
const (
	envRegistry = "OCISOURCE_BENCH_REGISTRY" // "host[:port]"; unset: in-memory ocitest
	envInsecure = "OCISOURCE_BENCH_INSECURE" // "1": plain HTTP
	envCAFile   = "OCISOURCE_BENCH_CA_FILE"  // PEM bundle trusted besides the system roots
)

// benchRepo is the repository the payload is pushed to.
const benchRepo = "ocisource-bench/payload"

// request is one HTTP request a fetch made, as the log saw it.
type request struct {
	method, path string
	status       int
	err          error // a round trip that failed (no response)
}

func (r request) String() string {
	if r.err != nil {
		return fmt.Sprintf("%-4s %s -> failed: %v", r.method, r.path, r.err)
	}
	return fmt.Sprintf("%-4s %s -> %d", r.method, r.path, r.status)
}

// registry is where the payload lives: the in-memory ocitest registry or a
// real one, with a way to make fresh clients, a raw HTTP client for the
// "GET alone" stage, and the log of requests.
type registry struct {
	desc     string
	host     string
	scheme   string
	inMemory bool

	// newClient returns a fresh oci.Client (new connections, new auth), as
	// a new process would have.
	newClient func() (*oci.Client, error)
	// rawClient returns an http.Client that can GET blobs of benchRepo:
	// the same network transport settings as oci.NewClient's default,
	// plus registry auth for a real registry.
	rawClient func(ctx context.Context) (*http.Client, error)
	// reset empties the request logs; requests returns the requests the
	// registry answered (its own log for the in-memory registry), trips
	// every round trip the clients attempted, failed ones included (a
	// counting transport under the oci.Client).
	reset    func()
	requests func() []request
	trips    func() []request
	close    func()
}

// ref returns benchRepo at tag in this registry.
func (r *registry) ref(tag string) oci.Reference {
	return oci.Reference{Registry: r.host, Repository: benchRepo, Tag: tag}
}

// blobURL is the URL of a blob of benchRepo.
func (r *registry) blobURL(d oci.Digest) string {
	return r.scheme + "://" + r.host + "/v2/" + benchRepo + "/blobs/" + string(d)
}

// networkTransport is what oci.NewClient builds by default (see
// oci/client.go): a clone of http.DefaultTransport with a 256 KiB read
// buffer, trusting the system roots plus pool.
func networkTransport(pool *x509.CertPool) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	t.ReadBufferSize = 256 << 10
	t.MaxIdleConnsPerHost = 8
	return t
}

func openRegistry() (*registry, error) {
	host := os.Getenv(envRegistry)
	if host == "" {
		return memoryRegistry(), nil
	}
	return realRegistry(host, os.Getenv(envInsecure) == "1", os.Getenv(envCAFile))
}

func memoryRegistry() *registry {
	reg := ocitest.New()
	log := &requestLog{}
	return &registry{
		desc: fmt.Sprintf("in-memory ocitest registry at %s, in this process: its CPU time counts in the GET stage and the fetch, "+
			"its copy of the blob in the RSS (so RSS is reported above idle)", reg.Host()),
		host:     reg.Host(),
		scheme:   "http",
		inMemory: true,
		newClient: func() (*oci.Client, error) {
			return reg.Client(oci.WithTransport(&countingTransport{inner: networkTransport(nil), log: log})), nil
		},
		rawClient: func(context.Context) (*http.Client, error) {
			return &http.Client{Transport: networkTransport(nil)}, nil
		},
		reset: func() { reg.ResetRequests(); log.reset() },
		trips: log.list,
		requests: func() []request {
			var out []request
			for _, q := range reg.Requests() {
				out = append(out, request{method: q.Method, path: q.Path, status: q.Status})
			}
			return out
		},
		close: reg.Close,
	}
}

func realRegistry(host string, insecure bool, caFile string) (*registry, error) {
	var pool *x509.CertPool
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envCAFile, err)
		}
		if pool, err = x509.SystemCertPool(); err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate in %s", envCAFile, caFile)
		}
	}
	log := &requestLog{}
	scheme := "https"
	if insecure {
		scheme = "http"
	}
	r := &registry{
		desc:     fmt.Sprintf("%s://%s (%s=%s), credentials from the docker config ($DOCKER_CONFIG or ~/.docker); its CPU time is not counted", scheme, host, envRegistry, host),
		host:     host,
		scheme:   scheme,
		reset:    log.reset,
		requests: log.list,
		trips:    log.list,
		close:    func() {},
	}
	r.newClient = func() (*oci.Client, error) {
		// A new network transport per client: a cold fetch pays for its
		// connection and TLS handshake, as in a new process.
		opts := []oci.Option{oci.WithTransport(&countingTransport{inner: networkTransport(pool), log: log})}
		if insecure {
			opts = append(opts, oci.WithInsecure())
		}
		return oci.NewClient(opts...)
	}
	r.rawClient = func(ctx context.Context) (*http.Client, error) {
		var nopts []name.Option
		if insecure {
			nopts = append(nopts, name.Insecure)
		}
		repo, err := name.NewRepository(host+"/"+benchRepo, nopts...)
		if err != nil {
			return nil, err
		}
		auth, err := authn.Resolve(ctx, authn.DefaultKeychain, repo)
		if err != nil {
			return nil, fmt.Errorf("credentials for %s: %w", host, err)
		}
		rt, err := transport.NewWithContext(ctx, repo.Registry, auth, networkTransport(pool), []string{repo.Scope(transport.PullScope)})
		if err != nil {
			return nil, fmt.Errorf("authenticating to %s: %w", host, err)
		}
		return &http.Client{Transport: rt}, nil
	}
	return r, nil
}

// countingTransport logs every request that leaves for the network
// (registry, token realm, redirect targets).
type countingTransport struct {
	inner http.RoundTripper
	log   *requestLog
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.inner.RoundTrip(req)
	q := request{method: req.Method, path: req.URL.Path}
	if req.URL.Host != "" {
		q.path = req.URL.Host + req.URL.Path
	}
	if resp != nil {
		q.status = resp.StatusCode
	}
	q.err = err
	t.log.add(q)
	return resp, err
}

type requestLog struct {
	mu   sync.Mutex
	reqs []request
}

func (l *requestLog) add(q request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, q)
}

func (l *requestLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = nil
}

func (l *requestLog) list() []request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]request(nil), l.reqs...)
}
