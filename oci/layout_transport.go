package oci

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
)

// layoutRepository is the repository name of a layout in the requests the
// Client sends to it.
const layoutRepository = "layout"

// layoutTransport answers the read-only part of the distribution API from
// an OCI image layout, in process: no socket is opened. The Client's read
// operations send it the requests they would send a registry, so resolve,
// tags, manifests, blobs and referrers work unchanged:
//
//   - GET/HEAD /v2/
//   - GET/HEAD /v2/layout/manifests/<tag|digest>: a tag is an index.json
//     entry's org.opencontainers.image.ref.name; a digest any manifest in
//     blobs/
//   - GET/HEAD /v2/layout/blobs/<digest>
//   - GET /v2/layout/tags/list: every tag, on one page
//   - GET /v2/layout/referrers/<digest>: an OCI index of the manifests
//     listed in index.json, or reachable from it through nested indexes,
//     whose subject is the digest
//
// Anything else is 404 or 405. Failures of the layout itself (no layout,
// an index.json over its limits) are returned as errors, not statuses.
//
// One layoutTransport serves one operation. A tar is indexed on its first
// request, and the index kept by the Client while the file stays the same
// (same file, size and modification time); index.json is read again for
// each request, so a layout that changes on disk is seen at once.
type layoutTransport struct {
	path        string
	maxManifest int64
	tars        *tarIndexCache

	once  sync.Once
	store layoutStore
	err   error
}

// layoutTransport is the transport of the layout ref names: the guard
// (which caps bodies by operation) over the in-process layout server.
func (c *Client) layoutTransport(ref Reference, repo name.Repository) http.RoundTripper {
	return &guardTransport{
		inner:           &layoutTransport{path: ref.Layout, maxManifest: c.opts.maxManifestSize, tars: &c.tars},
		registry:        repo.RegistryStr(),
		insecure:        c.opts.insecure,
		maxManifestSize: c.opts.maxManifestSize,
		maxErrorBody:    c.opts.maxErrorBody,
		logger:          c.opts.logger,
	}
}

func (t *layoutTransport) open() (layoutStore, error) {
	t.once.Do(func() { t.store, t.err = openLayoutStore(t.path, t.tars) })
	return t.store, t.err
}

func (t *layoutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return errorResponse(req, http.StatusMethodNotAllowed, "UNSUPPORTED", "an OCI image layout is read-only"), nil
	}
	p := req.URL.Path
	if p == "/v2/" || p == "/v2" {
		return response(req, http.StatusOK, http.Header{"Docker-Distribution-Api-Version": {"registry/2.0"}}, nil, 0), nil
	}
	rest, ok := strings.CutPrefix(p, "/v2/"+layoutRepository+"/")
	if !ok {
		return errorResponse(req, http.StatusNotFound, "NAME_UNKNOWN", "an OCI image layout holds one repository"), nil
	}
	st, err := t.open()
	if err != nil {
		return nil, err
	}
	kind, id, _ := strings.Cut(rest, "/")
	switch {
	case kind == "manifests":
		return t.manifest(req, st, id)
	case kind == "blobs":
		return t.blob(req, st, id)
	case kind == "tags" && id == "list":
		return t.tags(req, st)
	case kind == "referrers":
		return t.referrers(req, st, id)
	}
	return errorResponse(req, http.StatusNotFound, "UNSUPPORTED", "not part of the read-only API of an OCI image layout"), nil
}

func (t *layoutTransport) manifest(req *http.Request, st layoutStore, id string) (*http.Response, error) {
	var desc Descriptor
	if strings.Contains(id, ":") {
		d, err := ParseDigest(id)
		if err != nil {
			return errorResponse(req, http.StatusBadRequest, "DIGEST_INVALID", err.Error()), nil
		}
		desc.Digest = d
	} else {
		if checkTag(id) != nil {
			return errorResponse(req, http.StatusBadRequest, "TAG_INVALID", "invalid tag"), nil
		}
		idx, err := readLayoutIndex(st, t.maxManifest)
		if err != nil {
			return nil, err
		}
		if idx.conflicts[id] {
			return nil, fmt.Errorf("%w: index.json gives tag %q to two different manifests", ErrInvalidLayout, id)
		}
		d, ok := idx.tags[id]
		if !ok {
			return errorResponse(req, http.StatusNotFound, "MANIFEST_UNKNOWN", "no manifest tagged "+id+" in index.json"), nil
		}
		desc = d
	}
	raw, err := readLayoutFile(st, blobPath(desc.Digest), t.maxManifest)
	if errors.Is(err, fs.ErrNotExist) {
		return errorResponse(req, http.StatusNotFound, "MANIFEST_UNKNOWN", "no blob "+string(desc.Digest)), nil
	}
	if err != nil {
		return nil, err
	}
	// A registry serves a tag's manifest under the digest it recorded;
	// bytes that do not hash to it are not that manifest.
	if got := digestBytes(desc.Digest.Algorithm(), raw); got != desc.Digest {
		return nil, fmt.Errorf("%w: layout blob %s hashes to %s", ErrDigestMismatch, desc.Digest, got)
	}
	mt := desc.MediaType
	if mt == "" {
		mt = sniffMediaType(raw)
	}
	h := http.Header{"Content-Type": {mt}, "Docker-Content-Digest": {string(desc.Digest)}}
	return response(req, http.StatusOK, h, raw, int64(len(raw))), nil
}

// sniffMediaType is the media type a manifest declares, or a guess from its
// shape when it declares none.
func sniffMediaType(raw []byte) string {
	var m struct {
		MediaType string            `json:"mediaType"`
		Manifests []json.RawMessage `json:"manifests"`
	}
	_ = json.Unmarshal(raw, &m)
	switch {
	case m.MediaType != "":
		return m.MediaType
	case m.Manifests != nil:
		return MediaTypeOCIIndex
	}
	return MediaTypeOCIManifest
}

func (t *layoutTransport) blob(req *http.Request, st layoutStore, id string) (*http.Response, error) {
	d, err := ParseDigest(id)
	if err != nil {
		return errorResponse(req, http.StatusBadRequest, "DIGEST_INVALID", err.Error()), nil
	}
	rc, size, err := st.open(blobPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		return errorResponse(req, http.StatusNotFound, "BLOB_UNKNOWN", "no blob "+string(d)), nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidLayout, err)
	}
	h := http.Header{"Content-Type": {"application/octet-stream"}, "Docker-Content-Digest": {string(d)}}
	resp := response(req, http.StatusOK, h, nil, size)
	if req.Method == http.MethodHead {
		rc.Close()
	} else {
		resp.Body = rc
	}
	return resp, nil
}

func (t *layoutTransport) tags(req *http.Request, st layoutStore) (*http.Response, error) {
	idx, err := readLayoutIndex(st, t.maxManifest)
	if err != nil {
		return nil, err
	}
	tags := make([]string, 0, len(idx.tags))
	for tag := range idx.tags {
		tags = append(tags, tag)
	}
	slices.Sort(tags)
	body, err := json.Marshal(struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{layoutRepository, tags})
	if err != nil {
		return nil, err
	}
	return response(req, http.StatusOK, http.Header{"Content-Type": {"application/json"}}, body, int64(len(body))), nil
}

func (t *layoutTransport) referrers(req *http.Request, st layoutStore, id string) (*http.Response, error) {
	subject, err := ParseDigest(id)
	if err != nil {
		return errorResponse(req, http.StatusBadRequest, "DIGEST_INVALID", err.Error()), nil
	}
	idx, err := readLayoutIndex(st, t.maxManifest)
	if err != nil {
		return nil, err
	}
	w := referrerWalk{st: st, max: t.maxManifest, subject: subject, seen: map[Digest]bool{}, out: []Descriptor{}}
	if err := w.walk(idx.entries, 0); err != nil {
		return nil, err
	}
	h := http.Header{"Content-Type": {MediaTypeOCIIndex}}
	if at := req.URL.Query().Get("artifactType"); at != "" {
		w.out = slices.DeleteFunc(w.out, func(d Descriptor) bool { return d.ArtifactType != at })
		h.Set("OCI-Filters-Applied", "artifactType")
	}
	body, err := json.Marshal(struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Manifests     []Descriptor `json:"manifests"`
	}{2, MediaTypeOCIIndex, w.out})
	if err != nil {
		return nil, err
	}
	return response(req, http.StatusOK, h, body, int64(len(body))), nil
}

// referrerWalk finds the manifests whose subject is a digest, among the
// descriptors of index.json and of the indexes they lead to, reading at
// most [MaxLayoutEntries] manifests of at most max bytes each, each checked
// against its digest.
type referrerWalk struct {
	st      layoutStore
	max     int64
	subject Digest
	seen    map[Digest]bool
	reads   int
	out     []Descriptor
}

func (w *referrerWalk) walk(ds []Descriptor, depth int) error {
	for _, d := range ds {
		if w.seen[d.Digest] || !isManifestMediaType(d.MediaType) {
			continue
		}
		w.seen[d.Digest] = true
		if w.reads++; w.reads > MaxLayoutEntries {
			return fmt.Errorf("%w: listing referrers would read more than %d manifests", ErrInvalidLayout, MaxLayoutEntries)
		}
		raw, err := readLayoutFile(w.st, blobPath(d.Digest), w.max)
		if errors.Is(err, fs.ErrNotExist) {
			continue // a partial layout (e.g. one platform of an index)
		}
		if err != nil {
			return err
		}
		if got := digestBytes(d.Digest.Algorithm(), raw); got != d.Digest {
			return fmt.Errorf("%w: layout blob %s hashes to %s", ErrDigestMismatch, d.Digest, got)
		}
		m, err := ParseManifest(raw)
		if err != nil {
			return fmt.Errorf("%w: manifest %s: %w", ErrInvalidLayout, d.Digest, err)
		}
		if m.Subject != nil && m.Subject.Digest == w.subject {
			at := m.ArtifactType
			if at == "" {
				at = m.Config.MediaType
			}
			mt := m.MediaType
			if mt == "" {
				mt = d.MediaType
			}
			w.out = append(w.out, Descriptor{MediaType: mt, Digest: d.Digest, Size: int64(len(raw)), ArtifactType: at, Annotations: m.Annotations})
		}
		if len(m.Manifests) > 0 {
			if depth >= maxLayoutDepth {
				return fmt.Errorf("%w: indexes nested more than %d deep", ErrInvalidLayout, maxLayoutDepth)
			}
			if err := w.walk(m.Manifests, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func isManifestMediaType(mt string) bool {
	switch mt {
	case "", MediaTypeOCIManifest, MediaTypeOCIIndex, MediaTypeDockerManifest, MediaTypeDockerList:
		return true
	}
	return false
}

// layoutError returns the cause of a failed request to a layout, without
// the made-up URL it was sent to, or nil for any other error.
func layoutError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && strings.HasSuffix(u.Hostname(), layoutHostSuffix) {
			return ue.Err
		}
	}
	return nil
}

// response builds an answer to req; body nil is an empty body.
func response(req *http.Request, status int, h http.Header, body []byte, length int64) *http.Response {
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	resp := &http.Response{
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          http.NoBody,
		ContentLength: length,
		Request:       req,
	}
	if body != nil && req.Method != http.MethodHead {
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	return resp
}

func errorResponse(req *http.Request, status int, code, msg string) *http.Response {
	body, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"code": code, "message": truncate(msg)}}})
	return response(req, status, http.Header{"Content-Type": {"application/json"}}, body, int64(len(body)))
}
