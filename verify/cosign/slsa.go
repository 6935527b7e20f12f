package cosign

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Predicate types of SLSA provenance.
const (
	// PredicateTypeSLSAProvenanceV02 is SLSA provenance v0.2
	// (https://slsa.dev/provenance/v0.2), as `cosign attest --type
	// slsaprovenance` and slsa-github-generator write it.
	PredicateTypeSLSAProvenanceV02 = "https://slsa.dev/provenance/v0.2"
	// PredicateTypeSLSAProvenanceV1 is SLSA provenance v1
	// (https://slsa.dev/provenance/v1), as GitHub's attest-build-provenance
	// writes it.
	PredicateTypeSLSAProvenanceV1 = "https://slsa.dev/provenance/v1"
)

// SLSAPolicy is a predicate policy for SLSA provenance, v0.2 or v1, given
// to an attestation verifier with [WithSLSAPolicy]. Each field that is set
// must equal, exactly (no pattern, no prefix), the value the provenance
// records; a field left empty is not checked, and at least one must be set.
// Where each field is read:
//
//	field             v0.2                                    v1
//	BuilderID         builder.id                              runDetails.builder.id
//	BuildType         buildType                               buildDefinition.buildType
//	SourceRepository  invocation.configSource.uri, before @   buildDefinition.externalParameters.workflow.repository
//	SourceRef         invocation.configSource.uri, after @    buildDefinition.externalParameters.workflow.ref
//	WorkflowPath      invocation.configSource.entryPoint      buildDefinition.externalParameters.workflow.path
//
// For v0.2 a "git+" prefix of the configSource URI is dropped, so that
// "git+https://github.com/org/app@refs/heads/main" has SourceRepository
// "https://github.com/org/app" and SourceRef "refs/heads/main", the values
// v1 provenance from GitHub Actions records.
type SLSAPolicy struct {
	// BuilderID is the builder that must have built the artifact, e.g.
	// "https://github.com/actions/runner/github-hosted" or
	// "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.0.0".
	BuilderID string
	// SourceRepository is the source repository built, e.g.
	// "https://github.com/org/app".
	SourceRepository string
	// SourceRef is the git ref built, e.g. "refs/heads/main" or "refs/tags/v1.2.0".
	SourceRef string
	// WorkflowPath is the workflow that ran, e.g. ".github/workflows/release.yml".
	WorkflowPath string
	// BuildType is the build type, e.g.
	// "https://actions.github.io/buildtypes/workflow/v1".
	BuildType string
}

// slsaFacts are the values of a provenance that an SLSAPolicy checks.
type slsaFacts struct {
	BuilderID, SourceRepository, SourceRef, WorkflowPath, BuildType string
}

type slsaV02 struct {
	Builder struct {
		ID string `json:"id"`
	} `json:"builder"`
	BuildType  string `json:"buildType"`
	Invocation struct {
		ConfigSource struct {
			URI        string `json:"uri"`
			EntryPoint string `json:"entryPoint"`
		} `json:"configSource"`
	} `json:"invocation"`
}

type slsaV1 struct {
	BuildDefinition struct {
		BuildType          string `json:"buildType"`
		ExternalParameters struct {
			Workflow struct {
				Repository string `json:"repository"`
				Ref        string `json:"ref"`
				Path       string `json:"path"`
			} `json:"workflow"`
		} `json:"externalParameters"`
	} `json:"buildDefinition"`
	RunDetails struct {
		Builder struct {
			ID string `json:"id"`
		} `json:"builder"`
	} `json:"runDetails"`
}

// slsaFactsOf reads what an SLSAPolicy checks from a provenance predicate.
func slsaFactsOf(predicateType string, predicate json.RawMessage) (slsaFacts, error) {
	switch predicateType {
	case PredicateTypeSLSAProvenanceV02:
		var pr slsaV02
		if err := json.Unmarshal(predicate, &pr); err != nil {
			return slsaFacts{}, fmt.Errorf("predicate is not SLSA provenance v0.2: %w", err)
		}
		uri := strings.TrimPrefix(pr.Invocation.ConfigSource.URI, "git+")
		repo, ref := uri, ""
		if i := strings.LastIndexByte(uri, '@'); i >= 0 {
			repo, ref = uri[:i], uri[i+1:]
		}
		return slsaFacts{BuilderID: pr.Builder.ID, SourceRepository: repo, SourceRef: ref,
			WorkflowPath: pr.Invocation.ConfigSource.EntryPoint, BuildType: pr.BuildType}, nil
	case PredicateTypeSLSAProvenanceV1:
		var pr slsaV1
		if err := json.Unmarshal(predicate, &pr); err != nil {
			return slsaFacts{}, fmt.Errorf("predicate is not SLSA provenance v1: %w", err)
		}
		w := pr.BuildDefinition.ExternalParameters.Workflow
		return slsaFacts{BuilderID: pr.RunDetails.Builder.ID, SourceRepository: w.Repository, SourceRef: w.Ref,
			WorkflowPath: w.Path, BuildType: pr.BuildDefinition.BuildType}, nil
	default:
		return slsaFacts{}, fmt.Errorf("predicate type %.100q is not SLSA provenance (%s or %s)", predicateType, PredicateTypeSLSAProvenanceV02, PredicateTypeSLSAProvenanceV1)
	}
}

// Check implements a [PredicateFunc]: it returns nil when the provenance
// matches p, and an error naming each field that does not.
func (p SLSAPolicy) Check(predicateType string, predicate json.RawMessage) error {
	got, err := slsaFactsOf(predicateType, predicate)
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range []struct{ name, want, got string }{
		{"builder id", p.BuilderID, got.BuilderID},
		{"source repository", p.SourceRepository, got.SourceRepository},
		{"source ref", p.SourceRef, got.SourceRef},
		{"workflow path", p.WorkflowPath, got.WorkflowPath},
		{"build type", p.BuildType, got.BuildType},
	} {
		if f.want != "" && f.got != f.want {
			errs = append(errs, fmt.Errorf("%s %.200q, want %q", f.name, f.got, f.want))
		}
	}
	return joinErrors(errs)
}

// name identifies p in the verifier's fingerprint and messages.
func (p SLSAPolicy) name() string {
	return fmt.Sprintf("SLSA provenance {builder %q, repository %q, ref %q, workflow %q, build type %q}",
		p.BuilderID, p.SourceRepository, p.SourceRef, p.WorkflowPath, p.BuildType)
}

// WithSLSAPolicy adds p as a predicate policy ([WithPredicatePolicy]) of
// an attestation verifier whose predicate type is SLSA provenance
// ([PredicateTypeSLSAProvenanceV02] or [PredicateTypeSLSAProvenanceV1];
// another predicate type is an error from [New]). Its fields are part of
// the fingerprint. An SLSAPolicy with no field set is an error. The default
// is no predicate policy.
func WithSLSAPolicy(p SLSAPolicy) Option {
	return func(o *options) error {
		if p == (SLSAPolicy{}) {
			return fmt.Errorf("%w: WithSLSAPolicy: set at least one field of the SLSAPolicy", ErrInvalidOption)
		}
		o.slsa = true
		return WithPredicatePolicy(p.name(), p.Check)(o)
	}
}

// errSLSAType is returned by New for an SLSA policy on another predicate type.
var errSLSAType = errors.New("WithSLSAPolicy needs WithAttestation of an SLSA provenance predicate type (" +
	PredicateTypeSLSAProvenanceV02 + " or " + PredicateTypeSLSAProvenanceV1 + ")")
