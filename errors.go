package ocisource

import (
	"errors"
	"fmt"
)

// Phase sentinels. Every error [Fetcher.Fetch] returns is a [*FetchError]
// that matches exactly one of them with [errors.Is], so a controller can map
// failures to conditions the way Flux's OCIRepository does:
//
//	ErrInvalidSource    -> Stalled, reason URLInvalid / InvalidPath / InvalidSource: fix the Source, retrying won't help
//	ErrFetchFailed      -> Ready=False, FetchFailed, reason OCIArtifactPullFailed (AuthenticationFailed, OCIArtifactLayerOperationFailed)
//	ErrVerification     -> SourceVerified=False, reason VerificationError
//	ErrStorageFailed    -> Ready=False, reason StorageOperationFailed
//
// [Reason] and [Retryable] give the reason and the retry policy of an error.
// The underlying cause stays reachable too: errors.Is(err, oci.ErrUnauthorized),
// errors.As(err, &verificationError), errors.Is(err, tarball.ErrInsecurePath) ...
var (
	// ErrInvalidSource reports a Source that cannot be used as given.
	ErrInvalidSource = errors.New("invalid source")
	// ErrFetchFailed reports a failure to resolve or download the artifact,
	// or an artifact without the requested layer.
	ErrFetchFailed = errors.New("fetch failed")
	// ErrVerification reports an artifact whose signatures could not be
	// verified (none found, or none acceptable).
	ErrVerification = errors.New("verification failed")
	// ErrStorageFailed reports a failure to write the content to the target
	// directory, including archives refused as unsafe or over a limit.
	ErrStorageFailed = errors.New("storage failed")
)

// Causes a caller may want to tell apart. Each comes wrapped in a
// [*FetchError] of the phase named, or from [NewFetcher].
var (
	// ErrInvalidOption reports an option of [NewFetcher] that is invalid or
	// contradicts another. It is returned by NewFetcher, never by Fetch.
	ErrInvalidOption = errors.New("invalid option")
	// ErrInvalidTarget reports a target directory Fetch will not write: the
	// empty path, the working directory or one of its parents, a file, a
	// symbolic link, or one holding files no fetch wrote ([ErrUnmanagedDir]).
	// Phase [ErrInvalidSource]; found before any request.
	ErrInvalidTarget = errors.New("invalid target directory")
	// ErrUnmanagedDir reports a target directory that holds files no fetch
	// wrote (an [*UnmanagedDirError]). Phase [ErrInvalidSource]; found
	// before any request. [WithReplaceUnmanaged] opts in to replacing it.
	ErrUnmanagedDir = errors.New("target directory holds files no fetch wrote")
	// ErrLayerNotFound reports an artifact without a layer of the media
	// type the Source selects (or without layers). Phase [ErrFetchFailed];
	// Flux's reason OCIArtifactLayerOperationFailed.
	ErrLayerNotFound = errors.New("no such layer")
)

// FetchError is the error type of [Fetcher.Fetch].
type FetchError struct {
	// Phase is one of ErrInvalidSource, ErrFetchFailed, ErrVerification, ErrStorageFailed.
	Phase error
	// URL is the source URL.
	URL string
	// Revision is the revision being fetched, when it was known.
	Revision string
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *FetchError) Error() string {
	s := fmt.Sprintf("ocisource: %v for %s", e.Phase, e.URL)
	if e.Revision != "" {
		s += " (" + e.Revision + ")"
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the phase sentinel and the cause.
func (e *FetchError) Unwrap() []error { return []error{e.Phase, e.Err} }
