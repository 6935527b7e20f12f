package semverref

import (
	"math"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// version is a tag parsed without allocating: the fields point into the tag.
type version struct {
	major, minor, patch uint64
	pre                 string // pre-release, without the "-"
	meta                string // build metadata, without the "+" (or "_")
	text                string // the tag without its leading "v"
}

// parseTag accepts exactly the tags that Flux's version.ParseVersion accepts:
// semver.StrictNewVersion of the tag without one leading "v", no longer than
// semver.MaxVersionLen. With helm, "_" is read as "+" first. It does what
// StrictNewVersion does in one pass and without allocating, because it runs
// on every tag of a repository; the tests and FuzzParseTag compare the two.
func parseTag(tag string, helm bool) (v version, ok bool) {
	if len(tag) > semver.MaxVersionLen {
		return v, false
	}
	s := tag
	if len(s) > 0 && s[0] == 'v' {
		s = s[1:]
	}
	v.text = s
	var i int
	if v.major, i, ok = scanNumber(s, 0); !ok || i == len(s) || s[i] != '.' {
		return v, false
	}
	if v.minor, i, ok = scanNumber(s, i+1); !ok || i == len(s) || s[i] != '.' {
		return v, false
	}
	if v.patch, i, ok = scanNumber(s, i+1); !ok {
		return v, false
	}
	// StrictNewVersion takes the build metadata from the first "+" after
	// the second dot, then the pre-release from the first "-" before it; so
	// the patch number ends the string or is followed by "-" or "+".
	rest := s[i:]
	if rest == "" {
		return v, true
	}
	isPlus := func(c byte) bool { return c == '+' || (helm && c == '_') }
	if rest[0] == '-' {
		j := 1
		for j < len(rest) && !isPlus(rest[j]) {
			j++
		}
		v.pre, rest = rest[1:j], rest[j:]
		if !validIdentifiers(v.pre, true) {
			return v, false
		}
		if rest == "" {
			return v, true
		}
	}
	if !isPlus(rest[0]) {
		return v, false
	}
	v.meta = rest[1:]
	return v, validIdentifiers(v.meta, false)
}

// scanNumber reads the decimal number at s[i:] as StrictNewVersion reads a
// major, minor or patch: at least one digit, no leading zero, at most
// math.MaxUint64. end is the index after the last digit.
func scanNumber(s string, i int) (n uint64, end int, ok bool) {
	start := i
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		d := uint64(s[i] - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, i, false
		}
		n = n*10 + d
	}
	if i == start || (s[start] == '0' && i-start > 1) {
		return 0, i, false
	}
	return n, i, true
}

// validIdentifiers checks dot-separated identifiers as Masterminds'
// validatePrerelease (numeric ones without leading zeros) or
// validateMetadata do: non-empty, ASCII alphanumerics and hyphens. ("_",
// read as "+" under WithHelmTags, is not allowed either way.)
func validIdentifiers(s string, pre bool) bool {
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			continue
		}
		id := s[start:i]
		start = i + 1
		if id == "" {
			return false
		}
		numeric := true
		for j := 0; j < len(id); j++ {
			c := id[j]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
				numeric = false
			default:
				return false
			}
		}
		if pre && numeric && len(id) > 1 && id[0] == '0' {
			return false
		}
	}
	return true
}

// compareVersions orders versions by precedence exactly as
// (*semver.Version).Compare does: build metadata does not count.
func compareVersions(a, b *version) int {
	if c := compareUint(a.major, b.major); c != 0 {
		return c
	}
	if c := compareUint(a.minor, b.minor); c != 0 {
		return c
	}
	if c := compareUint(a.patch, b.patch); c != 0 {
		return c
	}
	switch {
	case a.pre == "" && b.pre == "":
		return 0
	case a.pre == "":
		return 1
	case b.pre == "":
		return -1
	}
	return comparePrerelease(a.pre, b.pre)
}

func compareUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// comparePrerelease is Masterminds' comparePrerelease without its
// allocations: identifiers are compared left to right, a missing identifier
// counts as "".
func comparePrerelease(a, b string) int {
	for a != "" || b != "" {
		var x, y string
		x, a = cutDot(a)
		y, b = cutDot(b)
		if c := comparePrePart(x, y); c != 0 {
			return c
		}
	}
	return 0
}

func cutDot(s string) (head, tail string) {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// comparePrePart mirrors Masterminds' comparePrePart, including its answers
// for identifiers too large for a uint64 (compared as strings).
func comparePrePart(s, o string) int {
	if s == o {
		return 0
	}
	if s == "" {
		return -1
	}
	if o == "" {
		return 1
	}
	oi, oerr := strconv.ParseUint(o, 10, 64)
	si, serr := strconv.ParseUint(s, 10, 64)
	switch {
	case oerr != nil && serr != nil:
		if s > o {
			return 1
		}
		return -1
	case oerr != nil:
		return -1
	case serr != nil:
		return 1
	case si > oi:
		return 1
	}
	return -1
}
