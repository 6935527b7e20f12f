package oci

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by a [Client] wraps one of them (inside
// an [*Error] that names the operation and the reference), so callers can
// branch with [errors.Is].
var (
	// ErrInvalidReference reports a malformed oci:// URL or reference.
	ErrInvalidReference = errors.New("invalid reference")
	// ErrInvalidDigest reports a malformed or unsupported digest.
	ErrInvalidDigest = errors.New("invalid digest")
	// ErrNotFound reports a tag, manifest, blob or repository the registry does not have.
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized reports missing, wrong or insufficient credentials (HTTP 401 or 403).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrDigestMismatch reports content whose digest is not the one it was requested by.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrSizeMismatch reports content whose length is not the size its descriptor declares.
	ErrSizeMismatch = errors.New("size mismatch")
	// ErrTooLarge reports a response larger than the configured limit.
	ErrTooLarge = errors.New("response too large")
	// ErrTooManyPages reports a paginated listing that exceeded the page cap.
	ErrTooManyPages = errors.New("too many pages")
	// ErrInsecureAuth reports that credentials would have been sent over plain
	// HTTP to a host other than the registry (a token realm or a redirect
	// target). The request is not sent.
	ErrInsecureAuth = errors.New("refusing to send credentials insecurely")
	// ErrPlainHTTP reports that a registry not marked insecure ([WithInsecure])
	// was about to be spoken to over plain HTTP, or answers only in plain
	// HTTP. Nothing is sent over plain HTTP; use HTTPS, or mark the registry
	// insecure if it really speaks plain HTTP.
	ErrPlainHTTP = errors.New("registry not marked insecure: refusing plain HTTP")
	// ErrInvalidDescriptor reports a descriptor that cannot describe any
	// content (a negative size) or carries an invalid digest. Nothing is sent.
	ErrInvalidDescriptor = errors.New("invalid descriptor")
	// ErrRegistry reports any other failure response from the registry.
	ErrRegistry = errors.New("registry error")
	// ErrInvalidOption reports an option that is malformed or contradicts another.
	ErrInvalidOption = errors.New("invalid option")
)

// Error is the error type returned by [Client] methods. It names the
// operation and the reference it concerned and wraps the cause, which in turn
// wraps one of the package's sentinel errors.
type Error struct {
	// Op is the operation, e.g. "resolve", "manifest", "blob", "tags", "push".
	Op string
	// Ref is the reference (or repository) the operation concerned.
	Ref string
	// StatusCode is the HTTP status code of the failing response, or 0.
	StatusCode int
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Ref == "" {
		return fmt.Sprintf("oci: %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("oci: %s %s: %v", e.Op, e.Ref, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// StatusError carries an HTTP failure from the registry: its status code and
// the registry's own error codes and messages, when it sent any. It wraps the
// sentinel that fits the status ([ErrNotFound], [ErrUnauthorized] or [ErrRegistry]).
type StatusError struct {
	// StatusCode is the HTTP status code.
	StatusCode int
	// Codes are the registry's error codes (e.g. MANIFEST_UNKNOWN), if any.
	Codes []string
	// Message is the registry's first error message, if any.
	Message string
	kind    error
}

// Error implements error.
func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%v (HTTP %d", e.kind, e.StatusCode)
	if len(e.Codes) > 0 {
		msg += " " + e.Codes[0]
	}
	msg += ")"
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Unwrap returns the sentinel that matches the status code.
func (e *StatusError) Unwrap() error { return e.kind }

func newStatusError(code int, codes []string, message string) *StatusError {
	kind := ErrRegistry
	switch code {
	case 404:
		kind = ErrNotFound
	case 401, 403:
		kind = ErrUnauthorized
	}
	return &StatusError{StatusCode: code, Codes: codes, Message: message, kind: kind}
}

// TagListLimitError reports a tag listing that passed one of its bounds:
// more tags than [WithMaxTags] allows, or more bytes over all its pages than
// [WithMaxTagListBytes] allows. The listing is abandoned where it passed the
// bound. It wraps [ErrTooLarge].
type TagListLimitError struct {
	// Limit is "tags" or "bytes".
	Limit string
	// Max is the bound that was passed.
	Max int64
	// Pages is the page on which it was passed (1 for the first).
	Pages int
}

// Error implements error.
func (e *TagListLimitError) Error() string {
	opt := "WithMaxTags"
	if e.Limit == "bytes" {
		opt = "WithMaxTagListBytes"
	}
	return fmt.Sprintf("%v: tag list passes the limit of %d %s on page %d (raise it with %s if the repository really holds that many tags)",
		ErrTooLarge, e.Max, e.Limit, e.Pages, opt)
}

// Unwrap returns [ErrTooLarge].
func (e *TagListLimitError) Unwrap() error { return ErrTooLarge }

// OptionConflictError reports an option that contradicts another one given
// to [NewClient]: the same setting made twice (two auth options, two CA
// options, [WithRetries] twice ...), which would otherwise silently override,
// or two settings that cannot hold together ([WithTransport] with
// [WithProxy], which the caller's transport would ignore). It wraps
// [ErrInvalidOption].
type OptionConflictError struct {
	// Setting names what both options set ("credentials", "CA roots",
	// "retries" ...) when they set the same thing, and is "" when they are
	// different settings that contradict each other.
	Setting string
	// First and Second name the two options, e.g. "WithBasicAuth" and
	// "WithBearerToken"; for the same setting made twice, in the order given.
	First, Second string
	// Reason says why they conflict and what to do.
	Reason string
}

// Error implements error.
func (e *OptionConflictError) Error() string {
	return fmt.Sprintf("%v: %s conflicts with %s: %s", ErrInvalidOption, e.Second, e.First, e.Reason)
}

// Unwrap returns [ErrInvalidOption].
func (e *OptionConflictError) Unwrap() error { return ErrInvalidOption }

func opError(op, ref string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	var se *StatusError
	code := 0
	if errors.As(err, &se) {
		code = se.StatusCode
	}
	return &Error{Op: op, Ref: ref, StatusCode: code, Err: err}
}
