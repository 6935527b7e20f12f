package oci

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Media types of the OCI image specification and of Flux artifacts.
const (
	MediaTypeOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeOCIIndex       = "application/vnd.oci.image.index.v1+json"
	MediaTypeOCIEmptyJSON   = "application/vnd.oci.empty.v1+json"
	MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	// MediaTypeFluxConfig is the config media type of artifacts made by `flux push artifact`.
	MediaTypeFluxConfig = "application/vnd.cncf.flux.config.v1+json"
	// MediaTypeFluxContent is the layer media type of artifacts made by `flux push artifact`.
	MediaTypeFluxContent = "application/vnd.cncf.flux.content.v1.tar+gzip"
	// MediaTypeHelmChart is the layer of a Helm chart pushed with `helm
	// push`: the chart's .tgz.
	MediaTypeHelmChart = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	// MediaTypeHelmConfig is the config of a Helm chart (its Chart.yaml as JSON).
	MediaTypeHelmConfig = "application/vnd.cncf.helm.config.v1+json"
)

// Annotation keys of the OCI image specification that Flux artifacts carry.
const (
	AnnotationCreated  = "org.opencontainers.image.created"
	AnnotationSource   = "org.opencontainers.image.source"
	AnnotationRevision = "org.opencontainers.image.revision"
	// AnnotationTitle names a layer's file, or (on a Helm chart's
	// manifest) the chart.
	AnnotationTitle = "org.opencontainers.image.title"
	// AnnotationVersion is a Helm chart's version, on its manifest.
	AnnotationVersion = "org.opencontainers.image.version"
)

var manifestAccept = strings.Join([]string{MediaTypeOCIManifest, MediaTypeOCIIndex, MediaTypeDockerManifest, MediaTypeDockerList}, ", ")

// Descriptor describes content in a registry: what it is, its digest and size.
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       Digest            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	// Platform is the platform an index entry declares, or nil.
	Platform *Platform `json:"platform,omitempty"`
}

// Manifest is a parsed image manifest or index, with the exact bytes it was
// parsed from.
type Manifest struct {
	// Descriptor describes the manifest itself; its Digest is computed from Raw.
	Descriptor Descriptor `json:"-"`
	// Raw holds the bytes as served (and as hashed).
	Raw []byte `json:"-"`

	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Config       Descriptor        `json:"config"`
	Layers       []Descriptor      `json:"layers"`
	Manifests    []Descriptor      `json:"manifests,omitempty"`
	Subject      *Descriptor       `json:"subject,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// Resolve returns the descriptor of the manifest ref names (by digest, tag,
// or "latest" when it has neither): its digest, size and media type. It asks
// with a HEAD request and falls back to GET when the registry's answer to
// HEAD is incomplete or refused (405, no digest header). When ref carries a
// digest, the answer must name the same one, or the error wraps
// [ErrDigestMismatch].
func (c *Client) Resolve(ctx context.Context, ref Reference) (Descriptor, error) {
	desc, err := c.resolve(ctx, ref)
	return desc, opError("resolve", ref.display(), err)
}

func (c *Client) resolve(ctx context.Context, ref Reference) (Descriptor, error) {
	if err := ref.Validate(); err != nil {
		return Descriptor{}, err
	}
	ctx = withOp(ctx, opManifest)
	rt, repo, err := c.transport(ctx, ref, false)
	if err != nil {
		return Descriptor{}, err
	}
	u := c.url(repo, "manifests", ref.identifier())
	resp, err := c.do(ctx, rt, http.MethodHead, u, http.Header{"Accept": {manifestAccept}}, http.StatusOK)
	if err == nil {
		resp.Body.Close()
		desc, ok := c.descriptorFromHeaders(resp)
		if ok {
			if desc.Size > c.opts.maxManifestSize {
				return Descriptor{}, fmt.Errorf("%w: manifest of %d bytes exceeds the limit of %d", ErrTooLarge, desc.Size, c.opts.maxManifestSize)
			}
			if ref.Digest != "" && desc.Digest != ref.Digest {
				return Descriptor{}, fmt.Errorf("%w: asked for %s, registry answered %s", ErrDigestMismatch, ref.Digest, desc.Digest)
			}
			return desc, nil
		}
	} else if errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnauthorized) || ctx.Err() != nil || errors.Is(err, ErrInsecureAuth) || errors.Is(err, ErrPlainHTTP) {
		return Descriptor{}, err
	}
	m, err := c.manifest(ctx, ref)
	if err != nil {
		return Descriptor{}, err
	}
	return m.Descriptor, nil
}

func (c *Client) descriptorFromHeaders(resp *http.Response) (Descriptor, bool) {
	d, err := ParseDigest(resp.Header.Get("Docker-Content-Digest"))
	if err != nil {
		return Descriptor{}, false
	}
	size, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
	if err != nil || size < 0 {
		return Descriptor{}, false
	}
	mt := mediaTypeOf(resp.Header.Get("Content-Type"))
	if mt == "" {
		return Descriptor{}, false
	}
	return Descriptor{MediaType: mt, Digest: d, Size: size}, true
}

func mediaTypeOf(contentType string) string {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.TrimSpace(mt)
}

// Manifest fetches and parses the manifest ref names. The body is capped
// ([DefaultMaxManifestSize] unless changed), and its digest is computed from
// the bytes received: when ref carries a digest, a different one is an error
// wrapping [ErrDigestMismatch] and nothing is returned.
func (c *Client) Manifest(ctx context.Context, ref Reference) (*Manifest, error) {
	m, err := c.manifest(ctx, ref)
	return m, opError("manifest", ref.display(), err)
}

func (c *Client) manifest(ctx context.Context, ref Reference) (*Manifest, error) {
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	ctx = withOp(ctx, opManifest)
	rt, repo, err := c.transport(ctx, ref, false)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, rt, http.MethodGet, c.url(repo, "manifests", ref.identifier()), http.Header{"Accept": {manifestAccept}}, http.StatusOK)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.ContentLength > c.opts.maxManifestSize {
		return nil, fmt.Errorf("%w: manifest of %d bytes exceeds the limit of %d", ErrTooLarge, resp.ContentLength, c.opts.maxManifestSize)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	algo := "sha256"
	if ref.Digest != "" {
		algo = ref.Digest.Algorithm()
	}
	got := digestBytes(algo, raw)
	if ref.Digest != "" && got != ref.Digest {
		return nil, fmt.Errorf("%w: asked for %s, received bytes hash to %s", ErrDigestMismatch, ref.Digest, got)
	}
	m, err := ParseManifest(raw)
	if err != nil {
		return nil, err
	}
	if m.MediaType == "" {
		m.MediaType = mediaTypeOf(resp.Header.Get("Content-Type"))
	}
	m.Descriptor = Descriptor{MediaType: m.MediaType, Digest: got, Size: int64(len(raw)), ArtifactType: m.ArtifactType}
	return m, nil
}

// ErrInvalidManifest reports a manifest that is not valid JSON of the
// expected shape, or that holds invalid digests.
var ErrInvalidManifest = errors.New("invalid manifest")

// ParseManifest parses raw as an OCI or Docker image manifest or index and
// validates every digest in it. Descriptor is set from raw (sha256).
func ParseManifest(raw []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidManifest, err)
	}
	check := func(where string, d Descriptor) error {
		if err := d.Digest.Validate(); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalidManifest, where, err)
		}
		if d.Size < 0 {
			return fmt.Errorf("%w: %s: negative size %d", ErrInvalidManifest, where, d.Size)
		}
		return nil
	}
	isIndex := m.MediaType == MediaTypeOCIIndex || m.MediaType == MediaTypeDockerList || (len(m.Manifests) > 0 && len(m.Layers) == 0)
	if !isIndex {
		if err := check("config", m.Config); err != nil {
			return nil, err
		}
	}
	for i, l := range m.Layers {
		if err := check(fmt.Sprintf("layer %d", i), l); err != nil {
			return nil, err
		}
	}
	for i, l := range m.Manifests {
		if err := check(fmt.Sprintf("manifest %d", i), l); err != nil {
			return nil, err
		}
	}
	if m.Subject != nil {
		if err := check("subject", *m.Subject); err != nil {
			return nil, err
		}
	}
	m.Raw = raw
	m.Descriptor = Descriptor{MediaType: m.MediaType, Digest: DigestOf(raw), Size: int64(len(raw)), ArtifactType: m.ArtifactType}
	return &m, nil
}

func newHash(algo string) hash.Hash {
	if algo == "sha512" {
		return sha512.New()
	}
	return sha256.New()
}

func digestBytes(algo string, b []byte) Digest {
	h := newHash(algo)
	h.Write(b)
	return Digest(algo + ":" + hex.EncodeToString(h.Sum(nil)))
}
