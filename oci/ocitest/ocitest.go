// Package ocitest runs an in-memory OCI registry for tests: go-containerregistry's
// pkg/registry (with the OCI 1.1 referrers API on) behind an httptest server,
// with a log of every request, fault injection (error statuses, delays,
// wrong bytes, truncated bodies, extra headers), tag-list pagination, basic
// or token auth, and helpers that push Flux-layout artifacts.
//
// Import it in your own tests to exercise supply-chain logic offline:
//
//	reg := ocitest.NewT(t)
//	desc, err := reg.PushFiles(ctx, "app:v1.0.0", map[string]string{"app.yaml": "kind: ConfigMap"})
//	client := reg.Client()
//	...
//	if n := reg.CountRequests(http.MethodGet, "/blobs/"); n != 0 { t.Errorf(...) }
//
// The server speaks plain HTTP on 127.0.0.1; [Registry.Client] returns an
// [oci.Client] configured for it.
//
// For tests of many sources sharing one client, a registry can stand for a
// real one some distance away: token auth with expiring tokens
// ([WithTokenAuth], [WithTokenLifetime]), latency on every request
// ([WithLatency]), a ping that hangs ([Registry.StallPing]), and counters of
// what a client cost it ([Registry.Pings], [Registry.TokenRequests],
// [Registry.Connections]):
//
//	reg := ocitest.NewT(t, ocitest.WithTokenAuth("user", "pass"), ocitest.WithLatency(5*time.Millisecond))
//	... fetch from many repositories through one reg.Client() ...
//	if reg.Pings() != 1 { t.Errorf(...) }
package ocitest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/push"
)

// Registry is a running in-memory registry.
type Registry struct {
	srv      *httptest.Server
	inner    http.Handler
	pageSize int
	user     string
	pass     string

	tokenAuth bool
	tokenLife time.Duration
	latency   time.Duration
	conns     atomic.Int64

	mu     sync.Mutex
	log    []Request
	faults []*Fault
	tokens map[string]grant
	stall  *Stall

	pushOnce   sync.Once
	pushClient *oci.Client
}

// pusher is the client the Push helpers share, so a test that pushes many
// artifacts pays for one ping, not one per push.
func (r *Registry) pusher() *oci.Client {
	r.pushOnce.Do(func() { r.pushClient = r.Client() })
	return r.pushClient
}

// Request is one request the registry received, as the log records it.
type Request struct {
	Method string
	// Path is the URL path, e.g. "/v2/app/manifests/v1".
	Path string
	// Query is the raw query string.
	Query string
	// Status is the status code the client received; 0 when the client
	// gave up before the answer ([WithLatency], [Registry.StallPing]).
	Status int
	// Authorization is the request's Authorization header ("" when none).
	Authorization string
	// BytesWritten counts the response body bytes sent.
	BytesWritten int64
	// Fault is true when an injected fault shaped the response.
	Fault bool
}

// Option configures a [Registry].
type Option func(*Registry)

// WithBasicAuth requires HTTP basic auth with this username and password on
// every /v2/ request, answering 401 with a Basic challenge otherwise, as a
// registry with htpasswd auth does. It replaces [WithTokenAuth]. The default
// is no auth.
func WithBasicAuth(username, password string) Option {
	return func(r *Registry) {
		r.user, r.pass = username, password
		r.tokenAuth = false
	}
}

// WithTagPageSize makes tag listings paginate: each page holds at most n
// tags and links to the next with a Link header, as real registries do.
// The default is one page with every tag.
func WithTagPageSize(n int) Option {
	return func(r *Registry) { r.pageSize = n }
}

// New starts a registry. Call Close when done (or use [NewT]).
func New(opts ...Option) *Registry {
	r := &Registry{
		inner:     registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))),
		tokenLife: DefaultTokenLifetime,
		tokens:    map[string]grant{},
	}
	for _, o := range opts {
		o(r)
	}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.srv.Config.ConnState = r.connState
	r.srv.Start()
	return r
}

// NewT starts a registry that is closed when t's test ends.
func NewT(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	r := New(opts...)
	t.Cleanup(r.Close)
	return r
}

// Close stops the server.
func (r *Registry) Close() { r.srv.Close() }

// Host returns "127.0.0.1:<port>".
func (r *Registry) Host() string { return strings.TrimPrefix(r.srv.URL, "http://") }

// URL returns "oci://127.0.0.1:<port>/<repo>".
func (r *Registry) URL(repo string) string { return oci.URLScheme + r.Host() + "/" + repo }

// Ref parses "<repo>[:tag][@digest]" relative to this registry. It panics
// on a malformed reference: the argument is the test's own constant.
func (r *Registry) Ref(repo string) oci.Reference {
	ref, err := oci.ParseReference(r.Host() + "/" + repo)
	if err != nil {
		panic(fmt.Sprintf("ocitest: Ref(%q): %v", repo, err))
	}
	return ref
}

// Client returns an [oci.Client] for this registry: plain HTTP
// ([oci.WithInsecure]), no retries ([oci.WithRetries](0, 0)), and the
// registry's own credentials ([WithBasicAuth] or [WithTokenAuth], given as
// [oci.WithBasicAuth]) or none ([oci.WithAnonymous]),
// configured further by opts. An option in opts for one of these settings
// (any auth option, WithRetries, WithInsecure) replaces the default; any
// other invalid or contradictory option panics: opts are the test's own
// constants.
func (r *Registry) Client(opts ...oci.Option) *oci.Client {
	auth := oci.WithAnonymous()
	if r.user != "" {
		auth = oci.WithBasicAuth(r.user, r.pass)
	}
	defaults := []struct {
		name string
		opt  oci.Option
	}{
		{"WithInsecure", oci.WithInsecure()},
		{"WithRetries", oci.WithRetries(0, 0)},
		{"WithAnonymous", auth},
	}
	if r.user != "" {
		defaults[2].name = "WithBasicAuth"
	}
	for {
		all := make([]oci.Option, 0, len(defaults)+len(opts))
		for _, d := range defaults {
			all = append(all, d.opt)
		}
		c, err := oci.NewClient(append(all, opts...)...)
		if err == nil {
			return c
		}
		// A default that an option of the test makes again gives way to it.
		var conflict *oci.OptionConflictError
		dropped := false
		if errors.As(err, &conflict) && conflict.Setting != "" {
			for i, d := range defaults {
				if d.name == conflict.First {
					defaults = append(defaults[:i], defaults[i+1:]...)
					dropped = true
					break
				}
			}
		}
		if !dropped {
			panic(fmt.Sprintf("ocitest: Client: %v", err))
		}
	}
}

// Requests returns a copy of the request log.
func (r *Registry) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.log...)
}

// ResetRequests empties the request log, and so the counts taken from it
// ([Registry.CountRequests], [Registry.Pings], [Registry.TokenRequests]),
// and sets [Registry.Connections] back to 0.
func (r *Registry) ResetRequests() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = nil
	r.conns.Store(0)
}

// CountRequests counts logged requests whose method is method ("" for any)
// and whose path contains pathContains ("" for any).
func (r *Registry) CountRequests(method, pathContains string) int {
	n := 0
	for _, q := range r.Requests() {
		if (method == "" || q.Method == method) && strings.Contains(q.Path, pathContains) {
			n++
		}
	}
	return n
}

// Fault changes the responses to matching requests. Zero fields do nothing,
// so a Fault sets only what it changes.
type Fault struct {
	// Method matches the request method; "" matches any.
	Method string
	// PathContains matches requests whose path contains it; "" matches any.
	PathContains string
	// Times limits how many requests the fault applies to; 0 means all.
	Times int

	// Status replaces the response with this status and a registry error body.
	Status int
	// Delay holds the response back this long (or until the client gives up).
	Delay time.Duration
	// Body replaces the response body (Content-Length adjusted): wrong bytes
	// for a digest, a lying manifest, an endless error...
	Body []byte
	// Truncate, when > 0, sends only this many body bytes while announcing
	// the full length, then drops the connection.
	Truncate int
	// Header adds or replaces response headers (e.g. Location, Link,
	// WWW-Authenticate). With Status 3xx this makes a redirect.
	Header http.Header
	// Reset drops the connection before any response is sent, as a reset
	// connection or a crashed proxy would.
	Reset bool

	used int
}

// Inject adds a fault. Faults are tried in the order added; the first that
// matches a request shapes its response.
func (r *Registry) Inject(f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, &f)
}

// ClearFaults removes every fault.
func (r *Registry) ClearFaults() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = nil
}

func (r *Registry) match(req *http.Request) *Fault {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.faults {
		if f.Method != "" && f.Method != req.Method {
			continue
		}
		if !strings.Contains(req.URL.Path, f.PathContains) {
			continue
		}
		if f.Times > 0 && f.used >= f.Times {
			continue
		}
		f.used++
		c := *f
		return &c
	}
	return nil
}

func (r *Registry) record(q Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, q)
}

func (r *Registry) serve(w http.ResponseWriter, req *http.Request) {
	q := Request{Method: req.Method, Path: req.URL.Path, Query: req.URL.RawQuery, Authorization: req.Header.Get("Authorization")}
	cw := &countingWriter{ResponseWriter: w}
	gaveUp := false // the client left before the answer
	defer func() {
		q.Status = cw.status
		if q.Status == 0 && !gaveUp {
			q.Status = http.StatusOK
		}
		q.BytesWritten = cw.n
		r.record(q)
	}()

	if r.latency > 0 && !wait(req.Context(), r.latency) {
		gaveUp = true
		return
	}
	if req.Method == http.MethodGet && req.URL.Path == "/v2/" {
		if s := r.currentStall(); s != nil && !s.hold(req.Context()) {
			gaveUp = true
			return
		}
	}
	if r.tokenAuth {
		if strings.HasPrefix(req.URL.Path, "/v2/") && !r.checkToken(cw, req) {
			return
		}
	} else if r.user != "" {
		u, p, ok := req.BasicAuth()
		if !ok || u != r.user || p != r.pass {
			cw.Header().Set("WWW-Authenticate", `Basic realm="ocitest"`)
			cw.Header().Set("Content-Type", "application/json")
			cw.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(cw, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
	}
	f := r.match(req)
	if f != nil {
		q.Fault = true
		if f.Delay > 0 {
			t := time.NewTimer(f.Delay)
			select {
			case <-t.C:
			case <-req.Context().Done():
				t.Stop()
				return
			}
		}
		if f.Reset {
			panic(http.ErrAbortHandler)
		}
		if f.Status != 0 || f.Body != nil || f.Truncate > 0 || f.Header != nil {
			r.serveFault(cw, req, f)
			return
		}
	}
	if r.tokenAuth && req.URL.Path == TokenPath {
		r.serveToken(cw, req)
		return
	}
	if r.pageSize > 0 && req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, "/tags/list") {
		r.serveTagPage(cw, req)
		return
	}
	r.inner.ServeHTTP(cw, req)
}

func (r *Registry) serveFault(w http.ResponseWriter, req *http.Request, f *Fault) {
	// Let the registry answer first, so faults can change a real answer.
	rec := httptest.NewRecorder()
	if f.Status == 0 {
		r.inner.ServeHTTP(rec, req)
	}
	status, body := rec.Code, rec.Body.Bytes()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	if f.Status != 0 {
		status = f.Status
		body = []byte(fmt.Sprintf(`{"errors":[{"code":"INJECTED","message":"ocitest: injected HTTP %d"}]}`, f.Status))
		w.Header().Set("Content-Type", "application/json")
	}
	if f.Body != nil {
		body = f.Body
	}
	if req.Method != http.MethodHead || f.Status != 0 {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	for k, v := range f.Header {
		w.Header()[k] = v
	}
	if f.Truncate > 0 && f.Truncate < len(body) {
		w.WriteHeader(status)
		if req.Method != http.MethodHead {
			_, _ = w.Write(body[:f.Truncate])
		}
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		panic(http.ErrAbortHandler) // drop the connection mid-body
	}
	w.WriteHeader(status)
	if req.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// serveTagPage paginates the registry's full tag list with n/last and a
// Link header, as the distribution spec describes.
func (r *Registry) serveTagPage(w http.ResponseWriter, req *http.Request) {
	full := req.Clone(req.Context())
	full.URL.RawQuery = ""
	rec := httptest.NewRecorder()
	r.inner.ServeHTTP(rec, full)
	if rec.Code != http.StatusOK {
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	var list struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	sort.Strings(list.Tags)
	if last := req.URL.Query().Get("last"); last != "" {
		i := sort.SearchStrings(list.Tags, last)
		for i < len(list.Tags) && list.Tags[i] <= last {
			i++
		}
		list.Tags = list.Tags[i:]
	}
	n := r.pageSize
	if s := req.URL.Query().Get("n"); s != "" {
		if v, err := strconv.Atoi(s); err == nil && v > 0 && v < n {
			n = v
		}
	}
	if len(list.Tags) > n {
		list.Tags = list.Tags[:n]
		next := url.Values{"n": {strconv.Itoa(n)}, "last": {list.Tags[n-1]}}
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, req.URL.Path, next.Encode()))
	}
	b, _ := json.Marshal(list)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (c *countingWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// PushBytes pushes content as a one-layer Flux-layout artifact tagged
// ref ("<repo>:<tag>") and returns the manifest's descriptor.
func (r *Registry) PushBytes(ctx context.Context, ref string, mediaType string, content []byte, opts ...push.Option) (oci.Descriptor, error) {
	return push.Artifact(ctx, r.pusher(), r.Ref(ref), push.LayerFromBytes(mediaType, content), opts...)
}

// PushDir packs dir with [push.LayerFromDir] and pushes it as a Flux-layout
// artifact tagged ref ("<repo>:<tag>"), returning the manifest's descriptor.
func (r *Registry) PushDir(ctx context.Context, ref string, dir string, opts ...push.Option) (oci.Descriptor, error) {
	layer, cleanup, err := push.LayerFromDir(ctx, dir)
	if err != nil {
		return oci.Descriptor{}, err
	}
	defer cleanup()
	return push.Artifact(ctx, r.pusher(), r.Ref(ref), layer, opts...)
}

// PushFiles writes files (slash-separated relative path -> content) to a
// temporary directory and pushes it with [Registry.PushDir].
func (r *Registry) PushFiles(ctx context.Context, ref string, files map[string]string, opts ...push.Option) (oci.Descriptor, error) {
	dir, err := os.MkdirTemp("", "ocitest-push-*")
	if err != nil {
		return oci.Descriptor{}, err
	}
	defer os.RemoveAll(dir)
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return oci.Descriptor{}, err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return oci.Descriptor{}, err
		}
	}
	return r.PushDir(ctx, ref, dir, opts...)
}

// PushIndex pushes an image index of mediaType ([oci.MediaTypeOCIIndex], or
// [oci.MediaTypeDockerList] for a Docker manifest list; "" means the OCI
// one) listing manifests, tagged ref ("<repo>:<tag>", or "<repo>" to push
// it untagged, by digest), and returns its descriptor. Each entry is a
// descriptor an earlier push returned, with Platform set to the platform it
// stands for (or nil); the manifests must already be in the repository.
func (r *Registry) PushIndex(ctx context.Context, ref string, mediaType string, manifests ...oci.Descriptor) (oci.Descriptor, error) {
	if mediaType == "" {
		mediaType = oci.MediaTypeOCIIndex
	}
	if manifests == nil {
		manifests = []oci.Descriptor{}
	}
	raw, err := json.Marshal(struct {
		SchemaVersion int              `json:"schemaVersion"`
		MediaType     string           `json:"mediaType"`
		Manifests     []oci.Descriptor `json:"manifests"`
	}{2, mediaType, manifests})
	if err != nil {
		return oci.Descriptor{}, err
	}
	target := r.Ref(ref)
	if target.Tag == "" && target.Digest == "" {
		target = target.WithDigest(oci.DigestOf(raw))
	}
	return r.pusher().PushManifest(ctx, target, mediaType, raw)
}
