package ocisource

import (
	"errors"
	"fmt"
	"time"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/tarball"
)

// Condition types, as Flux's OCIRepository reports them.
const (
	// ConditionReady is True when the latest attempt stored the artifact.
	ConditionReady = "Ready"
	// ConditionReconciling is True while an attempt runs or a retry is due.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when retrying cannot help until the spec changes.
	ConditionStalled = "Stalled"
	// ConditionFetchFailed is True when the latest attempt could not fetch.
	ConditionFetchFailed = "FetchFailed"
	// ConditionSourceVerified says whether the artifact's signatures were verified.
	ConditionSourceVerified = "SourceVerified"
	// ConditionArtifactInStorage is True when the directory holds an
	// artifact (perhaps an older one than the latest attempt wanted).
	ConditionArtifactInStorage = "ArtifactInStorage"
	// ConditionStorageOperationFailed is True when writing the content failed.
	ConditionStorageOperationFailed = "StorageOperationFailed"
)

// Reasons, as Flux uses them. [Reason] maps an error of [Fetcher.Fetch] to one.
const (
	ReasonSucceeded               = "Succeeded"
	ReasonProgressing             = "Progressing"
	ReasonProgressingWithRetry    = "ProgressingWithRetry"
	ReasonURLInvalid              = "URLInvalid"
	ReasonInvalidSource           = "InvalidSource"
	ReasonInvalidPath             = "InvalidPath"
	ReasonAuthenticationFailed    = "AuthenticationFailed"
	ReasonOCIPullFailed           = "OCIArtifactPullFailed"
	ReasonOCILayerOperationFailed = "OCIArtifactLayerOperationFailed"
	ReasonVerificationError       = "VerificationError"
	ReasonStorageOperationFailed  = "StorageOperationFailed"
	ReasonSuspended               = "Suspended"
)

// Reason returns the Flux condition reason for an error of [Fetcher.Fetch]
// ([ReasonSucceeded] for nil), as the README's condition table lists them:
//
//	ErrInvalidSource (bad URL or tag)       URLInvalid
//	ErrInvalidSource (ErrInvalidTarget)     InvalidPath
//	ErrInvalidSource (anything else)        InvalidSource
//	ErrFetchFailed (oci.ErrUnauthorized)    AuthenticationFailed
//	ErrFetchFailed (ErrLayerNotFound)       OCIArtifactLayerOperationFailed
//	ErrFetchFailed (anything else)          OCIArtifactPullFailed
//	ErrVerification                         VerificationError
//	ErrStorageFailed                        StorageOperationFailed
func Reason(err error) string {
	switch {
	case err == nil:
		return ReasonSucceeded
	case errors.Is(err, ErrInvalidSource):
		switch {
		case errors.Is(err, ErrInvalidTarget):
			return ReasonInvalidPath
		case errors.Is(err, oci.ErrInvalidReference), errors.Is(err, oci.ErrInvalidDigest):
			return ReasonURLInvalid
		}
		return ReasonInvalidSource
	case errors.Is(err, ErrVerification):
		return ReasonVerificationError
	case errors.Is(err, ErrStorageFailed):
		return ReasonStorageOperationFailed
	case errors.Is(err, ErrLayerNotFound):
		return ReasonOCILayerOperationFailed
	case errors.Is(err, oci.ErrUnauthorized):
		return ReasonAuthenticationFailed
	}
	return ReasonOCIPullFailed
}

// Retryable reports whether trying the same Source again soon may succeed
// without changing anything on our side: true for fetch failures (the
// registry, the network, a timeout) and for storage failures of the disk;
// false for an invalid Source or target (fix it first), a verification
// failure (the artifact must be re-signed), and an archive refused as
// unsafe or over a limit (the artifact or the limits must change). The
// [Reconciler] retries the first kind with exponential backoff, stalls on an
// invalid Source, and tries the others again at the spec's interval.
func Retryable(err error) bool {
	switch {
	case err == nil, errors.Is(err, ErrInvalidSource), errors.Is(err, ErrVerification):
		return false
	case errors.Is(err, ErrStorageFailed):
		var le *tarball.LimitError
		return !(errors.Is(err, tarball.ErrInsecurePath) || errors.Is(err, tarball.ErrUnsupportedEntry) ||
			errors.Is(err, tarball.ErrInvalidArchive) || errors.As(err, &le))
	case errors.Is(err, ErrLayerNotFound):
		return false
	}
	return true
}

// Condition is one condition of a [Status], shaped like a Kubernetes
// metav1.Condition.
type Condition struct {
	// Type is one of the Condition* constants.
	Type string `json:"type"`
	// Status is "True", "False" or "Unknown".
	Status string `json:"status"`
	// Reason is one of the Reason* constants.
	Reason string `json:"reason"`
	// Message says what happened, for people.
	Message string `json:"message"`
	// LastTransitionTime is when Status last changed.
	LastTransitionTime time.Time `json:"lastTransitionTime"`
}

// Status is what a [Reconciler] knows about one spec.
type Status struct {
	// Name is the spec's name.
	Name string `json:"name"`
	// Artifact is what the directory holds, from the last successful fetch
	// or, after a restart, from the directory's fetch record; nil if nothing.
	Artifact *Artifact `json:"artifact,omitempty"`
	// ObservedRevision is Artifact.Revision, or "".
	ObservedRevision string `json:"observedRevision,omitempty"`
	// Conditions, by type; see the Condition* constants.
	Conditions []Condition `json:"conditions"`
	// LastAttempt and LastSuccess are when the latest attempt, and the
	// latest successful one, ended.
	LastAttempt time.Time `json:"lastAttempt,omitzero"`
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	// Failures counts the attempts that failed since the last success.
	Failures int `json:"failures"`
	// NextAttempt is when the next attempt is due; zero when stalled,
	// suspended or running.
	NextAttempt time.Time `json:"nextAttempt,omitzero"`
	// Err is the error of the latest attempt, or nil.
	Err error `json:"-"`
}

// Condition returns the condition of type t, if present.
func (s *Status) Condition(t string) (Condition, bool) {
	for _, c := range s.Conditions {
		if c.Type == t {
			return c, true
		}
	}
	return Condition{}, false
}

// IsTrue reports whether the condition of type t is present and True.
func (s *Status) IsTrue(t string) bool {
	c, ok := s.Condition(t)
	return ok && c.Status == "True"
}

func (s *Status) clone() Status {
	c := *s
	c.Conditions = append([]Condition(nil), s.Conditions...)
	return c
}

// set puts a condition, keeping its transition time if its status is unchanged.
func (s *Status) set(now time.Time, t, status, reason, msg string) {
	for i, c := range s.Conditions {
		if c.Type == t {
			if c.Status != status {
				c.LastTransitionTime = now
			}
			c.Status, c.Reason, c.Message = status, reason, msg
			s.Conditions[i] = c
			return
		}
	}
	s.Conditions = append(s.Conditions, Condition{Type: t, Status: status, Reason: reason, Message: msg, LastTransitionTime: now})
}

func (s *Status) remove(t string) {
	out := s.Conditions[:0]
	for _, c := range s.Conditions {
		if c.Type != t {
			out = append(out, c)
		}
	}
	s.Conditions = out
}

// progressing marks the start of an attempt.
func (s *Status) progressing(now time.Time) {
	reason := ReasonProgressing
	if s.Failures > 0 {
		reason = ReasonProgressingWithRetry
	}
	s.set(now, ConditionReconciling, "True", reason, "reconciliation in progress")
	if _, ok := s.Condition(ConditionReady); !ok {
		s.set(now, ConditionReady, "Unknown", reason, "reconciliation in progress")
	}
}

// stored records what the directory holds (from a fetch or a record).
func (s *Status) stored(now time.Time, a *Artifact) {
	s.Artifact = a
	s.ObservedRevision = a.Revision
	s.set(now, ConditionArtifactInStorage, "True", ReasonSucceeded, fmt.Sprintf("stored artifact for revision %s", a.Revision))
	if a.Verification != nil {
		s.set(now, ConditionSourceVerified, "True", ReasonSucceeded, fmt.Sprintf("verified signature of revision %s", a.Revision))
	}
}

// finished records the outcome of an attempt.
func (s *Status) finished(now time.Time, a *Artifact, err error, retryAt time.Time) {
	s.LastAttempt = now
	s.Err = err
	s.NextAttempt = retryAt
	if err == nil {
		s.Failures = 0
		s.LastSuccess = now
		s.stored(now, a)
		msg := fmt.Sprintf("stored artifact for revision %s", a.Revision)
		if a.FromCache {
			msg += " (unchanged)"
		}
		s.set(now, ConditionReady, "True", ReasonSucceeded, msg)
		if a.Verification == nil {
			s.remove(ConditionSourceVerified)
		}
		for _, t := range []string{ConditionReconciling, ConditionStalled, ConditionFetchFailed, ConditionStorageOperationFailed} {
			s.remove(t)
		}
		return
	}
	s.Failures++
	reason, msg := Reason(err), err.Error()
	if s.Artifact != nil {
		msg += fmt.Sprintf(" (the directory keeps revision %s)", s.Artifact.Revision)
	}
	s.set(now, ConditionReady, "False", reason, msg)
	switch {
	case errors.Is(err, ErrInvalidSource):
		s.set(now, ConditionStalled, "True", reason, err.Error()+": fix the spec; it is not retried until it changes")
		s.remove(ConditionReconciling)
		return
	case errors.Is(err, ErrVerification):
		s.set(now, ConditionSourceVerified, "False", reason, err.Error())
	case errors.Is(err, ErrStorageFailed):
		s.set(now, ConditionStorageOperationFailed, "True", reason, err.Error())
	default:
		s.set(now, ConditionFetchFailed, "True", reason, err.Error())
	}
	s.remove(ConditionStalled)
	s.set(now, ConditionReconciling, "True", ReasonProgressingWithRetry, fmt.Sprintf("retrying at %s", retryAt.Format(time.RFC3339)))
}
