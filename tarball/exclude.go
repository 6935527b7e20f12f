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
// directories, matches the exclude rules. Each directory is matched once:
// the verdict is kept in the tree (kindPending for one that is kept but not
// created yet, kindExcluded for one left out), so an entry costs one walk
// down the tree and one match of its own name, whatever its depth. The
// nodes it adds count against the entries limit.
func (x *extractor) excluded(parts []string, isDir bool) (bool, error) {
	if len(x.o.exclude) == 0 {
		return false, nil
	}
	cur := x.root
	for i := 0; i < len(parts)-1; i++ {
		child := cur.children[parts[i]]
		if child == nil {
			if err := x.countObject(); err != nil {
				return false, err
			}
			kind := kindPending
			if ignored(x.o.exclude, strings.Join(parts[:i+1], "/"), true) {
				kind = kindExcluded
			}
			child = &node{kind: kind}
			cur.add(parts[i], child)
		}
		switch child.kind {
		case kindExcluded:
			return true, nil
		case kindDir, kindPending:
			cur = child
		default:
			// A file or link where a directory should be: the entry fails
			// later, when its parent is made.
			return ignored(x.o.exclude, strings.Join(parts, "/"), isDir), nil
		}
	}
	if !ignored(x.o.exclude, strings.Join(parts, "/"), isDir) {
		return false, nil
	}
	if last := parts[len(parts)-1]; isDir && cur.children[last] == nil {
		if err := x.countObject(); err != nil {
			return false, err
		}
		cur.add(last, &node{kind: kindExcluded})
	}
	return true, nil
}

// ValidatePatterns reports whether patterns are valid for [WithExclude] and
// [WithIgnorePatterns], with an error wrapping [ErrInvalidOption] naming the
// first bad one. Callers use it to reject configuration before any work.
func ValidatePatterns(patterns ...string) error {
	_, err := parseIgnore(patterns)
	return err
}
