package oci

import (
	"errors"
	"fmt"
	"strings"
)

// Platform is the platform an image manifest is built for, as an index
// entry declares it (the OCI image-index "platform" object).
type Platform struct {
	// Architecture is the CPU architecture: "amd64", "arm64", "s390x" ...
	Architecture string `json:"architecture"`
	// OS is the operating system: "linux", "windows" ...
	OS string `json:"os"`
	// OSVersion is the operating system version (Windows images), or "".
	OSVersion string `json:"os.version,omitempty"`
	// OSFeatures lists required operating system features, if any.
	OSFeatures []string `json:"os.features,omitempty"`
	// Variant is the CPU variant: "v8" for arm64, "v7" or "v6" for arm, or "".
	Variant string `json:"variant,omitempty"`
	// Features is reserved by the OCI specification.
	Features []string `json:"features,omitempty"`
}

// ErrInvalidPlatform reports a platform string that is not
// "os/architecture" or "os/architecture/variant".
var ErrInvalidPlatform = errors.New("invalid platform")

// maxPlatformPart bounds each part of a platform string.
const maxPlatformPart = 64

// ParsePlatform parses a platform as docker's and crane's --platform take it:
// "os/architecture" or "os/architecture/variant" ("linux/amd64",
// "linux/arm64/v8"). Each part is lowercase letters, digits, '.', '_' or
// '-', starting with a letter or digit, at most 64 bytes. Anything else,
// including a missing architecture and an os.version suffix, is an error
// wrapping [ErrInvalidPlatform].
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return Platform{}, fmt.Errorf("%w %q: want os/architecture[/variant], such as linux/amd64 or linux/arm64/v8", ErrInvalidPlatform, truncate(s))
	}
	for _, p := range parts {
		if err := checkPlatformPart(p); err != nil {
			return Platform{}, fmt.Errorf("%w %q: %v", ErrInvalidPlatform, truncate(s), err)
		}
	}
	p := Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

func checkPlatformPart(s string) error {
	if s == "" {
		return errors.New("empty part")
	}
	if len(s) > maxPlatformPart {
		return fmt.Errorf("part longer than %d bytes", maxPlatformPart)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		case c >= 'A' && c <= 'Z':
			return fmt.Errorf("%q: parts are lowercase", s)
		default:
			return fmt.Errorf("%q: unexpected character %q", s, c)
		}
	}
	return nil
}

// String returns "os/architecture" or "os/architecture/variant", the form
// [ParsePlatform] reads.
func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Matches reports whether an index entry declaring have satisfies a request
// for p: the same OS and architecture, and the same variant when p names
// one (arm64 with no variant counts as arm64/v8). OSVersion and the feature
// lists are not compared, as docker and go-containerregistry do not compare
// them for a platform given as a string.
func (p Platform) Matches(have Platform) bool {
	if p.OS != have.OS || p.Architecture != have.Architecture {
		return false
	}
	return p.Variant == "" || normVariant(p.Architecture, p.Variant) == normVariant(have.Architecture, have.Variant)
}

func normVariant(arch, variant string) string {
	if arch == "arm64" && variant == "" {
		return "v8"
	}
	return variant
}
