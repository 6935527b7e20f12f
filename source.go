package ocisource

import (
	"fmt"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/semverref"
	"github.com/ocisource/ocisource/tarball"
	"github.com/ocisource/ocisource/verify"
)

// Source says which artifact to fetch and how to check and unpack it. It
// mirrors the spec of Flux's OCIRepository.
type Source struct {
	// URL is "oci://host[:port]/repository", without tag or digest, or
	// "oci-layout:///absolute/path" for an OCI image layout on disk (a
	// directory, or an uncompressed tar of one), read offline: its tags are
	// the org.opencontainers.image.ref.name annotations of its index.json,
	// and resolving, semver, verification and extraction work as for a
	// registry (see the oci package doc, "OCI image layouts").
	URL string
	// Ref picks the artifact; the zero value means the tag "latest".
	Ref Ref
	// Layer picks the layer and what to do with it; the zero value extracts
	// the first layer.
	Layer LayerSelector
	// Ignore lists gitignore-style patterns of paths not to write (for
	// extract); the default writes everything.
	Ignore []string
	// Verifier, when set, must accept the artifact's digest before any byte of
	// content is written. The default verifies nothing.
	Verifier verify.Verifier
}

// Ref picks an artifact. The first non-empty field wins in this order:
// Digest, SemVer (with SemVerFilter), Tag; all empty means the tag "latest".
// Platform applies to whatever they pick.
type Ref struct {
	// Digest pins the artifact ("sha256:<hex>").
	Digest string
	// SemVer is a Masterminds semver constraint (">=1.0.0 <2.0.0", "~1.2");
	// the highest matching tag wins. When Layer.MediaType is
	// [oci.MediaTypeHelmChart], tags are read as Helm stores chart versions
	// ("1.2.3_build" is version "1.2.3+build").
	SemVer string
	// SemVerFilter is a regular expression tags must match before SemVer is applied.
	SemVerFilter string
	// Tag names a tag.
	Tag string
	// Platform chooses the manifest of an image index (an OCI index or a
	// Docker manifest list) for a platform, written as docker's --platform
	// takes it: "os/architecture" or "os/architecture/variant" ("linux/amd64",
	// "linux/arm64/v8"; see [oci.ParsePlatform]). Nested indexes are
	// followed. An index with one manifest needs no Platform; one with
	// several needs it, and an index without a manifest for it is an error
	// ([ErrInvalidSource], an [*oci.PlatformError] listing the platforms the
	// index offers). An artifact that is not an index is used as it is,
	// whatever Platform says: single-platform images and Flux artifacts
	// declare no platform.
	Platform string
}

// LayerOperation is what [Fetcher.Fetch] does with the selected layer.
type LayerOperation string

const (
	// LayerExtract unpacks the layer (a tar or tar+gzip archive) into the
	// target directory. It is the default.
	LayerExtract LayerOperation = "extract"
	// LayerCopy writes the layer as it is, as one file in the target
	// directory, named by its org.opencontainers.image.title annotation or
	// "layer" when it has none (or an unsafe one).
	LayerCopy LayerOperation = "copy"
)

// LayerSelector picks the layer to fetch.
type LayerSelector struct {
	// MediaType selects the first layer of this media type; "" selects the first layer.
	MediaType string
	// Operation is LayerExtract (default) or LayerCopy.
	Operation LayerOperation
}

// parsed is a validated Source.
type parsed struct {
	repo   oci.Reference
	op     LayerOperation
	semver *semverref.Selector // nil unless Ref.SemVer (and no Digest)
	// platform is Ref.Platform, parsed; nil when empty.
	platform *oci.Platform
}

func (s Source) parse() (parsed, error) {
	repo, err := oci.ParseURL(s.URL)
	if err != nil {
		return parsed{}, err
	}
	if repo.Tag != "" || repo.Digest != "" {
		return parsed{}, fmt.Errorf("URL %q must not carry a tag or digest: set Source.Ref", s.URL)
	}
	if s.Ref.Digest != "" {
		d, err := oci.ParseDigest(s.Ref.Digest)
		if err != nil {
			return parsed{}, fmt.Errorf("Ref.Digest: %w", err)
		}
		repo.Digest = d
	}
	if s.Ref.SemVerFilter != "" && s.Ref.SemVer == "" {
		return parsed{}, fmt.Errorf("Ref.SemVerFilter %q needs Ref.SemVer", s.Ref.SemVerFilter)
	}
	var sel *semverref.Selector
	if s.Ref.SemVer != "" && repo.Digest == "" {
		var opts []semverref.Option
		if s.Ref.SemVerFilter != "" {
			opts = append(opts, semverref.WithFilter(s.Ref.SemVerFilter))
		}
		if s.Layer.MediaType == oci.MediaTypeHelmChart {
			// helm push stores chart version "1.2.3+build" as tag "1.2.3_build".
			opts = append(opts, semverref.WithHelmTags())
		}
		if sel, err = semverref.Compile(s.Ref.SemVer, opts...); err != nil {
			return parsed{}, err
		}
	}
	if s.Ref.Tag != "" && repo.Digest == "" && sel == nil {
		if err := oci.ValidateTag(s.Ref.Tag); err != nil {
			return parsed{}, fmt.Errorf("Ref.Tag: %w", err)
		}
	}
	var platform *oci.Platform
	if s.Ref.Platform != "" {
		pl, err := oci.ParsePlatform(s.Ref.Platform)
		if err != nil {
			return parsed{}, fmt.Errorf("Ref.Platform: %w", err)
		}
		platform = &pl
	}
	op := s.Layer.Operation
	switch op {
	case "":
		op = LayerExtract
	case LayerExtract, LayerCopy:
	default:
		return parsed{}, fmt.Errorf("Layer.Operation %q: want %q or %q", op, LayerExtract, LayerCopy)
	}
	if op == LayerCopy && len(s.Ignore) > 0 {
		return parsed{}, fmt.Errorf("ignore patterns apply to %q, not %q", LayerExtract, LayerCopy)
	}
	if err := tarball.ValidatePatterns(s.Ignore...); err != nil {
		return parsed{}, fmt.Errorf("ignore patterns: %w", err)
	}
	return parsed{repo: repo, op: op, semver: sel, platform: platform}, nil
}
