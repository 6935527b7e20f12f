package oci

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
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
	// Layout is the absolute, clean path of an OCI image layout (a directory
	// holding index.json, oci-layout and blobs/, or an uncompressed tar of
	// one) for an "oci-layout://" reference, where the layout is the
	// repository; Registry and Repository are then empty. It is "" for a
	// registry reference. See the package doc, "OCI image layouts".
	Layout string
}

// URLScheme is the scheme of artifact URLs, as in "oci://ghcr.io/org/app".
const URLScheme = "oci://"

// LayoutScheme is the scheme of OCI image layout URLs, as in
// "oci-layout:///srv/airgap/app" (a directory) or
// "oci-layout:///srv/airgap/app.tar" (an uncompressed tar of one).
const LayoutScheme = "oci-layout://"

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
// after the scheme up to the first "/" is always the registry host.
// Credentials in the URL ("oci://user:password@host/...") are refused, and the
// error does not repeat them: give them with an auth option instead. Errors
// wrap [ErrInvalidReference] (or [ErrInvalidDigest]) and name the input.
//
// It also parses "oci-layout:///absolute/path[:tag][@digest]", an OCI image
// layout on disk (see [ParseReference]).
func ParseURL(s string) (Reference, error) {
	if strings.HasPrefix(s, LayoutScheme) {
		return parseLayout(s)
	}
	rest, ok := strings.CutPrefix(s, URLScheme)
	if !ok {
		if holdsUserinfo(s) || strings.Contains(s, "://") && holdsUserinfo(s[strings.Index(s, "://")+3:]) {
			return Reference{}, fmt.Errorf("%w: URL must start with %q (the input is not shown: it may hold credentials)", ErrInvalidReference, URLScheme)
		}
		return Reference{}, fmt.Errorf("%w %q: URL must start with %q", ErrInvalidReference, truncate(s), URLScheme)
	}
	return ParseReference(rest)
}

// errUserinfo is the error for a reference that holds "user:password@": it
// never repeats the input.
func errUserinfo() error {
	return fmt.Errorf("%w: credentials in a reference (user:password@host) are not allowed (the input is not shown): "+
		"give them with WithBasicAuth, WithDockerConfig or a keychain", ErrInvalidReference)
}

// ParseReference parses "host[:port]/repository[:tag][@digest]" (an
// [ParseURL] input without the scheme). The registry host is required: the
// first path segment is always read as the host, never defaulted. The tag
// must match the distribution spec's grammar (see [ValidateTag]) and each
// repository path component [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*, with host and
// repository at most 255 characters together.
//
// An input starting with [LayoutScheme] is an OCI image layout:
// "oci-layout:///absolute/path[:tag][@digest]", the path absolute and clean
// (no "..", no trailing slash). A tag is what follows the last colon when
// it comes after the last slash, so a layout whose file name holds a colon
// cannot be named. The result has Layout set and no Registry or
// Repository; [Reference.String] gives the input back.
func ParseReference(s string) (Reference, error) {
	if strings.HasPrefix(s, LayoutScheme) {
		return parseLayout(s)
	}
	fail := func(format string, args ...any) (Reference, error) {
		return Reference{}, fmt.Errorf("%w %q: %s", ErrInvalidReference, truncate(s), fmt.Sprintf(format, args...))
	}
	if s == "" {
		return fail("empty reference")
	}
	if holdsUserinfo(s) {
		return Reference{}, errUserinfo()
	}
	if len(s) > maxNameLength+maxTagLength+1+len("sha512:")+128+1 {
		return fail("longer than any valid reference")
	}
	var ref Reference
	name := s
	if before, after, ok := strings.Cut(s, "@"); ok {
		d, err := ParseDigest(after)
		if err != nil {
			if _, nameErr := parseName(before); nameErr != nil {
				// Quote only the digest: the rest is not a valid name and
				// might be something else entirely.
				return Reference{}, fmt.Errorf("%w: %w", ErrInvalidReference, err)
			}
			return Reference{}, fmt.Errorf("%w %q: %w", ErrInvalidReference, truncate(s), err)
		}
		ref.Digest = d
		name = before
	}
	named, err := parseName(name)
	if err != nil {
		return fail("%v", err)
	}
	named.Digest = ref.Digest
	return named, nil
}

// parseName parses "host[:port]/repository[:tag]".
func parseName(name string) (Reference, error) {
	var ref Reference
	host, repo, ok := strings.Cut(name, "/")
	if !ok || host == "" {
		return ref, errors.New("want host[:port]/repository")
	}
	if err := validateHost(host); err != nil {
		return ref, err
	}
	ref.Registry = host
	// A tag is what follows the last colon, if that colon comes after the last slash.
	if i := strings.LastIndexByte(repo, ':'); i >= 0 && i > strings.LastIndexByte(repo, '/') {
		ref.Tag = repo[i+1:]
		repo = repo[:i]
		if err := checkTag(ref.Tag); err != nil {
			return ref, err
		}
	}
	if err := checkRepository(host, repo); err != nil {
		return ref, err
	}
	ref.Repository = repo
	return ref, nil
}

// ValidateTag reports whether tag is a valid tag by the distribution spec's
// grammar, [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}, with an error wrapping
// [ErrInvalidReference] that quotes it. Cosign's "sha256-<hex>.sig" tags are
// valid. Every [Client] operation checks the tags it is given before it sends
// anything; callers that hold a tag apart from a [Reference] (e.g. from
// configuration) can check it early with this.
func ValidateTag(tag string) error {
	if err := checkTag(tag); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidReference, err)
	}
	return nil
}

func checkTag(tag string) error {
	if tag == "" {
		return errors.New("empty tag")
	}
	if len(tag) > maxTagLength {
		return fmt.Errorf("tag %q is %d characters long, more than %d", truncate(tag), len(tag), maxTagLength)
	}
	if !tagPattern.MatchString(tag) {
		return fmt.Errorf("tag %q is not valid (want [A-Za-z0-9_][A-Za-z0-9._-]{0,127})", truncate(tag))
	}
	return nil
}

func checkRepository(host, repo string) error {
	if repo == "" {
		return errors.New("missing repository")
	}
	if len(host)+1+len(repo) > maxNameLength {
		return fmt.Errorf("name longer than %d characters", maxNameLength)
	}
	for _, c := range strings.Split(repo, "/") {
		if !repoComponent.MatchString(c) {
			return fmt.Errorf("repository component %q is not valid (lowercase letters, digits and separators . _ __ -)", truncate(c))
		}
	}
	return nil
}

// holdsUserinfo reports whether s, a reference without its scheme, may hold
// "user:password@" before its host: an "@" in the first path segment, a
// second "@", or an "@" followed by a path (a digest has none). Such input is
// never quoted in an error.
func holdsUserinfo(s string) bool {
	head, tail, ok := strings.Cut(s, "@")
	if !ok {
		return false
	}
	if !strings.Contains(head, "/") || strings.Contains(tail, "@") {
		return true
	}
	algo, _, _ := strings.Cut(tail, ":")
	_, isDigest := digestHexLen[algo]
	return strings.Contains(tail, "/") && !isDigest
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

// String returns "host/repository[:tag][@digest]", or for a layout
// "oci-layout:///path[:tag][@digest]".
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

// Repo returns "host/repository", without tag or digest; for a layout,
// "oci-layout:///path".
func (r Reference) Repo() string {
	if r.Layout != "" {
		return LayoutScheme + r.Layout
	}
	return r.Registry + "/" + r.Repository
}

// URL returns "oci://host/repository", without tag or digest; for a
// layout, "oci-layout:///path".
func (r Reference) URL() string {
	if r.Layout != "" {
		return r.Repo()
	}
	return URLScheme + r.Repo()
}

// IsLayout reports whether r names an OCI image layout on disk rather than
// a registry repository.
func (r Reference) IsLayout() bool { return r.Layout != "" }

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
// [ErrInvalidReference]: a valid host (without credentials), repository, tag
// (when set, see [ValidateTag]) and digest (when set). References built by
// hand should be validated before use; every [Client] operation validates
// the references it is given before it sends anything.
func (r Reference) Validate() error {
	if r.Layout != "" {
		return r.validateLayout()
	}
	if strings.Contains(r.Registry, "@") {
		return errUserinfo()
	}
	if err := validateHost(r.Registry); err != nil {
		return fmt.Errorf("%w %q: %v", ErrInvalidReference, truncate(r.String()), err)
	}
	if err := checkRepository(r.Registry, r.Repository); err != nil {
		return fmt.Errorf("%w %q: %v", ErrInvalidReference, truncate(r.String()), err)
	}
	if r.Tag != "" {
		if err := checkTag(r.Tag); err != nil {
			return fmt.Errorf("%w %q: %v", ErrInvalidReference, truncate(r.String()), err)
		}
	}
	if r.Digest != "" {
		if err := r.Digest.Validate(); err != nil {
			return fmt.Errorf("%w %q: %w", ErrInvalidReference, truncate(r.String()), err)
		}
	}
	got, err := ParseReference(r.String())
	if err != nil {
		return err
	}
	if got != r {
		return fmt.Errorf("%w %q: does not round-trip", ErrInvalidReference, truncate(r.String()))
	}
	return nil
}

// Redacted returns r as error messages show it: credentials a hand-built
// Registry might hold ("user:pass@host") are cut, and hostile lengths
// truncated. Use it, not String, when r goes into a log line or an error.
func (r Reference) Redacted() string { return r.display() }

// display is r as error messages show it: credentials a hand-built
// Registry might hold are cut, and hostile lengths truncated.
func (r Reference) display() string {
	if i := strings.LastIndexByte(r.Registry, '@'); i >= 0 {
		r.Registry = "[credentials removed]@" + r.Registry[i+1:]
	}
	if s := r.String(); len(s) > 512 {
		return s[:512] + "…"
	}
	return r.String()
}

// displayRepo is r's repository as error messages show it.
func (r Reference) displayRepo() string {
	r.Tag, r.Digest = "", ""
	return r.display()
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

// Kinds of cosign's tag-named attachments, for [CosignTag].
const (
	CosignSignature   = "sig"
	CosignAttestation = "att"
	CosignSBOM        = "sbom"
)

// CosignTag returns the tag under which cosign stores an attachment of kind
// (CosignSignature, CosignAttestation, CosignSBOM) for the manifest with
// digest d: "sha256-<hex>.sig" and so on. It is the one place this naming
// lives; the verifiers and the test kit use it.
func CosignTag(d Digest, kind string) string {
	return d.Algorithm() + "-" + d.Hex() + "." + kind
}
