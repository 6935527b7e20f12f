package oci

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Bounds on image indexes, applied by [SelectPlatform] and
// [Client.PlatformManifest] before an entry is chosen.
const (
	// MaxIndexManifests bounds the entries of one index.
	MaxIndexManifests = 1000
	// MaxIndexDepth bounds how many indexes are followed to reach an image
	// manifest: an index whose entry is an index counts two.
	MaxIndexDepth = 4
)

// IsIndex reports whether m is an image index (OCI) or a manifest list
// (Docker): by its media type, or, without one, by listing manifests and no
// layers.
func (m *Manifest) IsIndex() bool {
	return m.MediaType == MediaTypeOCIIndex || m.MediaType == MediaTypeDockerList || (m.MediaType == "" && len(m.Manifests) > 0 && len(m.Layers) == 0)
}

// ErrPlatformNotFound reports an image index that has no entry for the
// requested platform, or that offers several platforms when none was
// requested. It comes as a [*PlatformError] listing what the index offers.
var ErrPlatformNotFound = errors.New("no manifest for the platform")

// PlatformError reports that no entry of an index could be chosen: none
// matches Platform, or Platform is empty and the index offers several. It
// wraps [ErrPlatformNotFound].
type PlatformError struct {
	// Index is the digest of the index.
	Index Digest
	// Platform is the platform requested, or "" when none was.
	Platform string
	// Offered lists the platforms the index offers, in its order, once each
	// ("linux/amd64", "linux/arm64/v8"; "unknown" for an entry that declares
	// none).
	Offered []string
}

// Error implements error.
func (e *PlatformError) Error() string {
	if len(e.Offered) == 0 {
		return fmt.Sprintf("%v: index %s lists no manifest", ErrPlatformNotFound, e.Index)
	}
	offered := strings.Join(e.Offered, ", ")
	if e.Platform == "" {
		return fmt.Sprintf("%v: index %s offers several platforms (%s) and none was chosen", ErrPlatformNotFound, e.Index, offered)
	}
	return fmt.Sprintf("%v: index %s has no manifest for %s; it offers %s", ErrPlatformNotFound, e.Index, e.Platform, offered)
}

// Unwrap returns [ErrPlatformNotFound].
func (e *PlatformError) Unwrap() error { return ErrPlatformNotFound }

// IndexLimitError reports an index past one of the bounds: more entries than
// [MaxIndexManifests], or nested deeper than [MaxIndexDepth]. It wraps
// [ErrTooLarge].
type IndexLimitError struct {
	// Index is the digest of the index where the bound was passed.
	Index Digest
	// Limit is "manifests" or "depth".
	Limit string
	// Max is the bound that was passed.
	Max int
}

// Error implements error.
func (e *IndexLimitError) Error() string {
	if e.Limit == "depth" {
		return fmt.Sprintf("%v: index %s is nested more than %d indexes deep", ErrTooLarge, e.Index, e.Max)
	}
	return fmt.Sprintf("%v: index %s lists more than %d manifests", ErrTooLarge, e.Index, e.Max)
}

// Unwrap returns [ErrTooLarge].
func (e *IndexLimitError) Unwrap() error { return ErrTooLarge }

// isAttestation reports an index entry that is not an image for a platform
// but what docker buildx attaches to one (provenance, SBOM): it is never
// chosen, nor listed.
func isAttestation(d Descriptor) bool {
	return d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" ||
		(d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown")
}

// SelectPlatform chooses the entry of index for platform:
//
//   - with a platform, the first entry that declares a matching one
//     ([Platform.Matches]), as docker and go-containerregistry choose; an
//     index whose only entry declares no platform gives that entry (the
//     platform is then checked further down, if at all);
//   - without one, the only entry; an index with several is an error.
//
// Entries docker buildx adds for attestations are skipped. An index with more
// than [MaxIndexManifests] entries is an [*IndexLimitError], and no entry to
// choose a [*PlatformError] listing what the index offers.
func SelectPlatform(index *Manifest, platform *Platform) (Descriptor, error) {
	if len(index.Manifests) > MaxIndexManifests {
		return Descriptor{}, &IndexLimitError{Index: index.Descriptor.Digest, Limit: "manifests", Max: MaxIndexManifests}
	}
	var candidates []Descriptor
	for _, d := range index.Manifests {
		if !isAttestation(d) {
			candidates = append(candidates, d)
		}
	}
	if len(candidates) == 1 && (platform == nil || candidates[0].Platform == nil) {
		return candidates[0], nil
	}
	if platform != nil {
		for _, d := range candidates {
			if d.Platform != nil && platform.Matches(*d.Platform) {
				return d, nil
			}
		}
	}
	e := &PlatformError{Index: index.Descriptor.Digest}
	if platform != nil {
		e.Platform = platform.String()
	}
	seen := map[string]bool{}
	for _, d := range candidates {
		s := "unknown"
		if d.Platform != nil {
			s = d.Platform.String()
		}
		if !seen[s] {
			seen[s] = true
			e.Offered = append(e.Offered, s)
		}
	}
	return Descriptor{}, e
}

// PlatformManifest returns the image manifest whose layers to pull for m,
// the manifest ref's digest names: m itself when it is not an index;
// otherwise the entry [SelectPlatform] chooses, fetched by digest with
// [Client.Manifest], and so on down nested indexes, at most [MaxIndexDepth]
// of them. The manifest returned has Descriptor.Platform set to the
// platform the nearest index declared for it (nil for m itself).
//
// A platform is not checked against a manifest that is not an index: single
// platform images and Flux artifacts do not declare one, and are used as
// they are. Errors are [*Error] values wrapping a [*PlatformError], an
// [*IndexLimitError], or what Manifest returns.
func (c *Client) PlatformManifest(ctx context.Context, ref Reference, m *Manifest, platform *Platform) (*Manifest, error) {
	var declared *Platform
	for depth := 0; m.IsIndex(); depth++ {
		if depth == MaxIndexDepth {
			return nil, opError("select platform", ref.WithDigest(m.Descriptor.Digest).display(),
				&IndexLimitError{Index: m.Descriptor.Digest, Limit: "depth", Max: MaxIndexDepth})
		}
		d, err := SelectPlatform(m, platform)
		if err != nil {
			return nil, opError("select platform", ref.WithDigest(m.Descriptor.Digest).display(), err)
		}
		if d.Platform != nil {
			declared = d.Platform
		}
		child := ref.WithDigest(d.Digest)
		if m, err = c.Manifest(ctx, child); err != nil {
			return nil, err
		}
		if m.Descriptor.Size != d.Size {
			return nil, opError("manifest", child.display(),
				fmt.Errorf("%w: the index says %d bytes, the manifest has %d", ErrSizeMismatch, d.Size, m.Descriptor.Size))
		}
	}
	m.Descriptor.Platform = declared
	return m, nil
}
