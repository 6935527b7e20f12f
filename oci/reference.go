package oci

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Digest is a content digest in the form "<algorithm>:<hex>", e.g.
// "sha256:3b7c…". Use [ParseDigest] to obtain a valid one from untrusted input.
type Digest string

// Supported digest algorithms and the length of their hex encodings.
var digestHexLen = map[string]int{"sha256": 64, "sha512": 128}

// ParseDigest validates s as a digest: a supported algorithm (sha256 or
// sha512), a colon, and exactly the right number of lowercase hex digits.
// Anything else (uppercase hex, a wrong length, "sha256:../../x", an unknown
// algorithm) is rejected with an error wrapping [ErrInvalidDigest] before it
// can reach a URL or a file path.
func ParseDigest(s string) (Digest, error) {
	algo, hexPart, ok := strings.Cut(s, ":")
	if !ok {
		return "", fmt.Errorf("%w %q: want <algorithm>:<hex>", ErrInvalidDigest, truncate(s))
	}
	n, known := digestHexLen[algo]
	if !known {
		return "", fmt.Errorf("%w %q: unsupported algorithm %q (want sha256 or sha512)", ErrInvalidDigest, truncate(s), truncate(algo))
	}
	if len(hexPart) != n {
		return "", fmt.Errorf("%w %q: %s wants %d hex digits, got %d", ErrInvalidDigest, truncate(s), algo, n, len(hexPart))
	}
	for i := 0; i < len(hexPart); i++ {
		c := hexPart[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", fmt.Errorf("%w %q: character %q at %d is not lowercase hex", ErrInvalidDigest, truncate(s), c, i)
		}
	}
	return Digest(s), nil
}

// DigestOf returns the sha256 digest of b.
func DigestOf(b []byte) Digest {
	sum := sha256.Sum256(b)
	return Digest("sha256:" + hex.EncodeToString(sum[:]))
}

// Algorithm returns the part before the colon ("sha256").
func (d Digest) Algorithm() string {
	algo, _, _ := strings.Cut(string(d), ":")
	return algo
}

// Hex returns the part after the colon.
func (d Digest) Hex() string {
	_, h, _ := strings.Cut(string(d), ":")
	return h
}

// String returns the digest as "<algorithm>:<hex>".
func (d Digest) String() string { return string(d) }

// Validate reports whether d is a well-formed digest (see [ParseDigest]).
func (d Digest) Validate() error {
	_, err := ParseDigest(string(d))
	return err
}

// Reference names a repository in a registry and, optionally, a tag and a
// digest within it. The zero value is not valid; build one with [ParseURL] or
// [ParseReference].
type Reference struct {
	// Registry is "host" or "host:port".
	Registry string
	// Repository is the repository path, e.g. "org/app".
	Repository string
	// Tag is the tag, or "".
	Tag string
	// Digest pins the content, or is "". When both are set the digest wins and
	// the tag is informational.
	Digest Digest
}

// URLScheme is the scheme of artifact URLs, as in "oci://ghcr.io/org/app".
const URLScheme = "oci://"

// Limits on reference parts, from the OCI distribution specification.
const (
	maxNameLength = 255
	maxTagLength  = 128
)

var (
	repoComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$`)
	tagPattern    = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// ParseURL parses "oci://host[:port]/repository[:tag][@digest]". The part
// after the scheme up to the first "/" is always the registry host. Errors wrap
// [ErrInvalidReference] (or [ErrInvalidDigest]) and name the input.
func ParseURL(s string) (Reference, error) {
	rest, ok := strings.CutPrefix(s, URLScheme)
	if !ok {
		return Reference{}, fmt.Errorf("%w %q: URL must start with %q", ErrInvalidReference, truncate(s), URLScheme)
	}
	return ParseReference(rest)
}

// ParseReference parses "host[:port]/repository[:tag][@digest]" (an
// [ParseURL] input without the scheme). The registry host is required: the
// first path segment is always read as the host, never defaulted.
func ParseReference(s string) (Reference, error) {
	fail := func(format string, args ...any) (Reference, error) {
		return Reference{}, fmt.Errorf("%w %q: %s", ErrInvalidReference, truncate(s), fmt.Sprintf(format, args...))
	}
	if s == "" {
		return fail("empty reference")
	}
	if len(s) > maxNameLength+maxTagLength+1+len("sha512:")+128+1 {
		return fail("longer than any valid reference")
	}
	var ref Reference
	name := s
	if before, after, ok := strings.Cut(s, "@"); ok {
		d, err := ParseDigest(after)
		if err != nil {
			return Reference{}, fmt.Errorf("%w %q: %w", ErrInvalidReference, truncate(s), err)
		}
		ref.Digest = d
		name = before
	}
	host, repo, ok := strings.Cut(name, "/")
	if !ok || host == "" {
		return fail("want host[:port]/repository")
	}
	if err := validateHost(host); err != nil {
		return fail("%v", err)
	}
	ref.Registry = host
	// A tag is what follows the last colon, if that colon comes after the last slash.
	if i := strings.LastIndexByte(repo, ':'); i >= 0 && i > strings.LastIndexByte(repo, '/') {
		ref.Tag = repo[i+1:]
		repo = repo[:i]
		if !tagPattern.MatchString(ref.Tag) {
			return fail("tag %q is not valid (want [A-Za-z0-9_][A-Za-z0-9._-]{0,127})", truncate(ref.Tag))
		}
	}
	if repo == "" {
		return fail("missing repository")
	}
	if len(host)+1+len(repo) > maxNameLength {
		return fail("name longer than %d characters", maxNameLength)
	}
	for _, c := range strings.Split(repo, "/") {
		if !repoComponent.MatchString(c) {
			return fail("repository component %q is not valid (lowercase letters, digits and separators . _ __ -)", truncate(c))
		}
	}
	ref.Repository = repo
	return ref, nil
}

func validateHost(host string) error {
	u, err := url.Parse("//" + host)
	if err != nil || u.Host != host || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("registry host %q is not a valid host[:port]", truncate(host))
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("registry port %q is not valid", p)
		}
	}
	if u.Hostname() == "" {
		return fmt.Errorf("registry host %q has no hostname", truncate(host))
	}
	return nil
}

// String returns "host/repository[:tag][@digest]".
func (r Reference) String() string {
	s := r.Repo()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + string(r.Digest)
	}
	return s
}

// MarshalText encodes r as its String form ("" for the zero Reference).
func (r Reference) MarshalText() ([]byte, error) {
	if r == (Reference{}) {
		return []byte{}, nil
	}
	return []byte(r.String()), nil
}

// UnmarshalText parses b with [ParseReference] ("" gives the zero Reference).
func (r *Reference) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*r = Reference{}
		return nil
	}
	ref, err := ParseReference(string(b))
	if err != nil {
		return err
	}
	*r = ref
	return nil
}

// Repo returns "host/repository", without tag or digest.
func (r Reference) Repo() string { return r.Registry + "/" + r.Repository }

// URL returns "oci://host/repository", without tag or digest.
func (r Reference) URL() string { return URLScheme + r.Repo() }

// WithTag returns a copy of r that names tag and no digest.
func (r Reference) WithTag(tag string) Reference {
	r.Tag = tag
	r.Digest = ""
	return r
}

// WithDigest returns a copy of r pinned to d; the tag is kept for display.
func (r Reference) WithDigest(d Digest) Reference {
	r.Digest = d
	return r
}

// Validate reports whether r is well formed, with an error wrapping
// [ErrInvalidReference]. References built by hand should be validated before use.
func (r Reference) Validate() error {
	got, err := ParseReference(r.String())
	if err != nil {
		return err
	}
	if got != r {
		return fmt.Errorf("%w %q: does not round-trip", ErrInvalidReference, truncate(r.String()))
	}
	return nil
}

// identifier is what goes after /manifests/ in a URL: the digest when pinned,
// else the tag, else "latest".
func (r Reference) identifier() string {
	switch {
	case r.Digest != "":
		return string(r.Digest)
	case r.Tag != "":
		return r.Tag
	default:
		return "latest"
	}
}

// truncate keeps error messages bounded when they quote hostile input.
func truncate(s string) string {
	const max = 128
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
