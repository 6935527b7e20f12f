// Command ocifetch fetches an OCI artifact from a registry into a directory,
// after proving it is authentic, the way Flux's OCIRepository does: its flags
// mirror the OCIRepository spec (url, ref.tag / ref.semver / ref.semverFilter /
// ref.digest, layerSelector, verify, certSecretRef, secretRef, insecure,
// timeout, ignore).
//
// Usage:
//
//	ocifetch --url oci://HOST/REPO [reference] [verification] [registry] --out DIR
//
// Fetch the highest 6.x release, verified with a cosign public key:
//
//	ocifetch --url oci://ghcr.io/stefanprodan/manifests/podinfo \
//	    --semver '6.x' --key cosign.pub --out ./podinfo
//
// Fetch a pinned digest, verified keylessly against a private Sigstore
// deployment (its trusted_root.json), and print the result as JSON:
//
//	ocifetch --url oci://registry.example.com/app --digest sha256:4f1b… \
//	    --trusted-root trusted_root.json \
//	    --certificate-oidc-issuer https://token.actions.githubusercontent.com \
//	    --certificate-identity-regexp 'https://github\.com/org/app/\.github/workflows/.*' \
//	    --json --out ./app
//
// Fetch from a registry with a private CA, credentials from a docker config
// directory, copying the layer instead of extracting it:
//
//	ocifetch --url oci://127.0.0.1:5000/org/bundle --tag v1 \
//	    --ca-file ca.pem --docker-config ./docker --layer-operation copy --out ./bundle
//
// Run "ocifetch --help" for every flag. The reference precedence is Flux's:
// --digest, then --semver (with --semver-filter), then --tag, then the tag
// "latest". Keyless verification never uses the network besides the registry
// unless --sigstore-public-good is given.
//
// A second fetch of an unchanged artifact with the same settings downloads
// nothing (it costs one HEAD request when resolved by tag) and reports the
// signatures verified when it was first fetched. The settings include the
// verifier's fingerprint (key files, trusted root, identities), so a fetch
// with another key or identity always verifies afresh; a short hash of the
// same is shown in the verifier's name ("cosign keyed [policy 1a2b3c4d5e6f]").
//
// On success, a summary goes to stdout (revision, digest, verified
// signatures, files and bytes written, cache hit or miss); --json prints the
// artifact instead (url, revision, digest, tag, layer, size, metadata,
// verification.signatures[] with verifier, format, keyID or issuer and
// subject, tlog; stats; fromCache; dir). A progress bar goes to stderr when it
// is a terminal.
//
// Exit codes tell failures apart:
//
//	0  the artifact was fetched (or was already up to date)
//	1  fetch failed: the registry could not be reached or refused, the tag,
//	   range or digest resolved to nothing, the download was corrupt, or the
//	   --timeout passed (ocisource.ErrFetchFailed)
//	2  usage: bad flags, or a source that cannot be used as given
//	   (ocisource.ErrInvalidSource)
//	3  verification failed: no signature, none acceptable, or the signatures
//	   could not be checked (ocisource.ErrVerification)
//	4  storage failed: the content could not be written to --out, or the
//	   archive was refused as unsafe (ocisource.ErrStorageFailed)
//
// On any failure the previous content of --out is left as it was.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes; see the package documentation.
const (
	exitOK           = 0
	exitFetchFailed  = 1
	exitUsage        = 2
	exitVerification = 3
	exitStorage      = 4
)

// run is the whole command: it parses args, fetches, and reports on stdout
// (result) and stderr (progress, errors). It returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, helpText)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "ocifetch: %v\nRun 'ocifetch --help' for usage.\n", err)
		return exitUsage
	}
	return cfg.fetch(ctx, stdout, stderr)
}
