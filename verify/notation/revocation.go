package notation

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/notaryproject/notation-core-go/revocation"
	"github.com/notaryproject/notation-core-go/revocation/crl"
	"github.com/notaryproject/notation-core-go/revocation/purpose"
	"github.com/notaryproject/notation-core-go/revocation/result"
	"github.com/notaryproject/notation-go/verifier"
)

// revocationTimeout bounds one OCSP or CRL request when revocation is
// checked; ctx bounds the whole verification.
const revocationTimeout = 10 * time.Second

// notChecked is the revocation validator used unless WithRevocationCheck:
// it reports every certificate as one that cannot be checked (as a root
// certificate is), without any network, so that notation-go accepts the
// chain whatever the policy's revocation setting. Leaving notation-go's
// validators in place would send OCSP and CRL requests to whatever URLs a
// certificate names.
type notChecked struct{}

// ValidateContext implements revocation.Validator.
func (notChecked) ValidateContext(_ context.Context, opts revocation.ValidateContextOptions) ([]*result.CertRevocationResult, error) {
	out := make([]*result.CertRevocationResult, len(opts.CertChain))
	for i := range out {
		out[i] = &result.CertRevocationResult{
			Result:        result.ResultNonRevokable,
			ServerResults: []*result.ServerResult{result.NewServerResult(result.ResultNonRevokable, "", nil)},
		}
	}
	return out, nil
}

// revocationOptions returns the validators notation-go's verifier uses.
func revocationOptions(check bool) (verifier.VerifierOptions, error) {
	if !check {
		return verifier.VerifierOptions{
			RevocationCodeSigningValidator:  notChecked{},
			RevocationTimestampingValidator: notChecked{},
		}, nil
	}
	hc := &http.Client{Timeout: revocationTimeout}
	fetcher, err := crl.NewHTTPFetcher(hc)
	if err != nil {
		return verifier.VerifierOptions{}, fmt.Errorf("%w: revocation: %w", ErrInvalidOption, err)
	}
	code, err := revocation.NewWithOptions(revocation.Options{OCSPHTTPClient: hc, CRLFetcher: fetcher, CertChainPurpose: purpose.CodeSigning})
	if err != nil {
		return verifier.VerifierOptions{}, fmt.Errorf("%w: revocation: %w", ErrInvalidOption, err)
	}
	ts, err := revocation.NewWithOptions(revocation.Options{OCSPHTTPClient: hc, CRLFetcher: fetcher, CertChainPurpose: purpose.Timestamping})
	if err != nil {
		return verifier.VerifierOptions{}, fmt.Errorf("%w: revocation: %w", ErrInvalidOption, err)
	}
	return verifier.VerifierOptions{RevocationCodeSigningValidator: code, RevocationTimestampingValidator: ts}, nil
}
