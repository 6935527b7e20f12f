package tarball

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors. Every error returned by [Extract] and [Build] that is
// caused by the archive or the tree wraps one of them, so callers can use
// [errors.Is]. The messages have no package prefix because they are always
// wrapped in an error that names the entry or the directory.
var (
	// ErrInsecurePath reports an entry whose name or link target could
	// place something outside the target directory: an absolute path, a
	// ".." component, a backslash, a volume name such as "C:", a path
	// through a symbolic link, a symbolic link that leaves the target, or
	// an entry that would replace a directory.
	ErrInsecurePath = errors.New("insecure path")

	// ErrLimitExceeded reports that a limit was reached. The error is a
	// [*LimitError] that says which limit; use [errors.As] to get it.
	ErrLimitExceeded = errors.New("limit exceeded")

	// ErrUnsupportedEntry reports an entry type that is never extracted
	// (devices, FIFOs, unknown types) or one that the options exclude
	// (symbolic links under [SymlinksReject]), and, for [Build], a file in
	// the tree that is not a directory, regular file or symbolic link.
	ErrUnsupportedEntry = errors.New("unsupported entry")

	// ErrInvalidArchive reports a stream that is not a well-formed tar or
	// tar+gzip archive: a corrupt or truncated gzip stream, a bad checksum,
	// a malformed tar header, a tar stream without its end-of-archive
	// marker, data other than zero padding after that marker, or entries
	// that contradict each other (a hardlink to nothing).
	ErrInvalidArchive = errors.New("invalid archive")

	// ErrInvalidOption reports an option given an invalid value.
	ErrInvalidOption = errors.New("invalid option")
)

// Limit names one of the limits [Extract] enforces.
type Limit string

// The limits a [*LimitError] can name.
const (
	// LimitTotalBytes is the number of bytes written to all files.
	LimitTotalBytes Limit = "total bytes"
	// LimitFileBytes is the number of bytes written to one file.
	LimitFileBytes Limit = "file bytes"
	// LimitEntries is the number of objects created: archive entries
	// plus the parent directories they imply.
	LimitEntries Limit = "entries"
	// LimitPathLength is the length in bytes of an entry name or link target.
	LimitPathLength Limit = "path length"
	// LimitPathDepth is the number of components of an entry name.
	LimitPathDepth Limit = "path depth"
	// LimitHeaderBytes is the size of one entry's headers, including
	// PAX and GNU long-name records.
	LimitHeaderBytes Limit = "header bytes"
	// LimitTrailingBytes is the amount of zero padding accepted after the
	// end-of-archive marker (fixed at 1 MiB).
	LimitTrailingBytes Limit = "trailing bytes"
	// LimitEmptyGzipMembers is the number of gzip members that inflate to
	// nothing (fixed at 64).
	LimitEmptyGzipMembers Limit = "empty gzip members"
)

// LimitError reports which limit was exceeded. It matches
// [ErrLimitExceeded] with [errors.Is].
type LimitError struct {
	Limit Limit // the limit that was exceeded
	Max   int64 // its configured value
}

// Error implements error.
func (e *LimitError) Error() string {
	return fmt.Sprintf("%s: %s over the maximum of %d", ErrLimitExceeded, e.Limit, e.Max)
}

// Unwrap returns [ErrLimitExceeded].
func (e *LimitError) Unwrap() error { return ErrLimitExceeded }

// EntryError reports a problem with one archive entry (for [Extract]) or
// one file of the tree (for [Build]). Err wraps one of the package
// sentinels or the underlying I/O error.
type EntryError struct {
	Name string // entry name exactly as in the archive, or path relative to the tree
	Err  error
}

// Error implements error. Very long names are shortened in the message;
// the Name field keeps the full name.
func (e *EntryError) Error() string {
	return "entry " + quoteName(e.Name) + ": " + e.Err.Error()
}

// Unwrap returns Err.
func (e *EntryError) Unwrap() error { return e.Err }

// maxQuotedName bounds how much of a name goes into an error message, so a
// 2 MiB hostile name does not become a 2 MiB log line.
const maxQuotedName = 256

func quoteName(s string) string {
	if len(s) <= maxQuotedName {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:maxQuotedName]) + "... (" + strconv.Itoa(len(s)) + " bytes)"
}

func insecure(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInsecurePath}, args...)...)
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnsupportedEntry}, args...)...)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidArchive}, args...)...)
}
