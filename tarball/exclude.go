package tarball

import "strings"

// WithExclude leaves out the entries that match gitignore-style patterns
// (the syntax [WithIgnorePatterns] documents), and everything below a
// directory that matches; they are read past and counted in
// [Stats].Skipped, like Flux's `spec.ignore`. Names are still checked
// ([ErrInsecurePath]) before they are matched, and the data of a left-out
// file still counts against [WithMaxTotalBytes] and [WithMaxFileBytes],
// though not in [Stats].Bytes, so that it cannot make Extract inflate
// without bound. A hard link to a left-out file fails. Several calls add
// up. The default extracts every entry.
func WithExclude(patterns ...string) Option {
	return func(o *options) error {
		rules, err := parseIgnore(patterns)
		if err != nil {
			return err
		}
		o.exclude = append(o.exclude, rules...)
		return nil
	}
}

// excluded reports whether the entry at parts, or one of its parent
// directories, matches the exclude rules.
func (x *extractor) excluded(parts []string, isDir bool) bool {
	if len(x.o.exclude) == 0 {
		return false
	}
	for i := 1; i <= len(parts); i++ {
		if ignored(x.o.exclude, strings.Join(parts[:i], "/"), i < len(parts) || isDir) {
			return true
		}
	}
	return false
}

// ValidatePatterns reports whether patterns are valid for [WithExclude] and
// [WithIgnorePatterns], with an error wrapping [ErrInvalidOption] naming the
// first bad one. Callers use it to reject configuration before any work.
func ValidatePatterns(patterns ...string) error {
	_, err := parseIgnore(patterns)
	return err
}
