// Package tarball unpacks and packs the tar+gzip layers of OCI artifacts.
//
// [Extract] unpacks a tar or tar+gzip stream into a directory safely and
// atomically: entry names and links are confined to the directory (no
// "..", absolute paths, writes through symbolic links, escaping links or
// hard links to outside files), devices and FIFOs are refused, permission
// bits are sanitised, and every resource an archive can consume is bounded
// (bytes actually written in total and per file, entries, path length and
// depth, header size). Extraction goes to a temporary directory beside the
// target, which replaces the target only when the whole stream has been
// read and checked; on any error the target is left as it was. Failures
// wrap [ErrInsecurePath], [ErrLimitExceeded] (as a [*LimitError] naming the
// limit), [ErrUnsupportedEntry] or [ErrInvalidArchive].
//
// [Build] writes a reproducible tar+gzip of a directory: sorted entries,
// zero owners, a fixed modification time and normalised modes, so the same
// tree always gives the same bytes and the same digest. It takes
// gitignore-style ignore patterns.
//
// The package imports nothing else from this module.
package tarball
