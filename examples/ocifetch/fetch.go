package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/tarball"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/notation"
)

// userAgent identifies ocifetch to registries.
const userAgent = "ocifetch (" + oci.DefaultUserAgent + ")"

// fetch builds the client, verifier and fetcher from c, fetches, and reports.
func (c *config) fetch(ctx context.Context, stdout, stderr io.Writer) int {
	var logger *slog.Logger
	if c.verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	client, err := c.client(logger)
	if err != nil {
		fmt.Fprintf(stderr, "ocifetch: %v\n", err)
		return exitUsage
	}
	verifier, err := c.verifier(client)
	if err != nil {
		fmt.Fprintf(stderr, "ocifetch: %v\n", err)
		return exitUsage
	}

	var bar *progressBar
	if c.showProgress(stderr) {
		bar = newProgressBar(stderr)
	}
	maxSize, _ := parseSize(c.maxSize) // validated with the flags
	opts := []ocisource.Option{
		ocisource.WithClient(client),
		ocisource.WithMaxLayerSize(maxSize),
		ocisource.WithExtractOptions(tarball.WithMaxTotalBytes(maxSize), tarball.WithMaxFileBytes(maxSize)),
	}
	if bar != nil {
		opts = append(opts, ocisource.WithProgress(bar.update))
	}
	if c.force {
		opts = append(opts, ocisource.WithReplaceUnmanaged())
	}
	if logger != nil {
		opts = append(opts, ocisource.WithLogger(logger))
	}
	fetcher, err := ocisource.NewFetcher(opts...)
	if err != nil {
		fmt.Fprintf(stderr, "ocifetch: %v\n", err)
		return exitUsage
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	art, err := fetcher.Fetch(ctx, c.source(verifier), c.out)
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		code := exitCode(ctx, err)
		switch {
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
			fmt.Fprintf(stderr, "ocifetch: timed out after %v (raise --timeout): %v\n", c.timeout, err)
		case errors.Is(ctx.Err(), context.Canceled):
			fmt.Fprintf(stderr, "ocifetch: interrupted: %v\n", err)
		default:
			fmt.Fprintf(stderr, "ocifetch: %v\n", err)
		}
		if h := hint(err); h != "" {
			fmt.Fprintf(stderr, "hint: %s\n", h)
		}
		return code
	}
	switch {
	case c.json:
		if err := writeJSON(stdout, art); err != nil {
			fmt.Fprintf(stderr, "ocifetch: writing the result: %v\n", err)
			return exitStorage
		}
	case !c.quiet:
		writeSummary(stdout, art, ocisource.LayerOperation(c.operation), verifier != nil)
	}
	return exitOK
}

// exitCode maps a Fetch error to the command's exit code. A fetch that ran
// out of time (or was interrupted) is a fetch failure wherever it stopped,
// even during verification: it says nothing about the signatures.
func exitCode(ctx context.Context, err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), ctx.Err() != nil:
		return exitFetchFailed
	case errors.Is(err, ocisource.ErrInvalidSource):
		return exitUsage
	case errors.Is(err, ocisource.ErrVerification):
		return exitVerification
	case errors.Is(err, ocisource.ErrStorageFailed):
		return exitStorage
	default: // ocisource.ErrFetchFailed, and anything unforeseen
		return exitFetchFailed
	}
}

// hint suggests the flag a failure most likely calls for, or "".
func hint(err error) string {
	var unknownCA x509.UnknownAuthorityError
	switch {
	case errors.As(err, &unknownCA):
		return "the registry's certificate is signed by an authority this system does not trust: give its CA with --ca-file FILE"
	case errors.Is(err, oci.ErrUnauthorized):
		return "give credentials with --docker-config DIR (a directory holding the config.json `docker login` writes)"
	case errors.Is(err, oci.ErrPlainHTTP):
		return "for a registry that speaks plain HTTP, add --insecure"
	case errors.Is(err, ocisource.ErrUnmanagedDir):
		return "--out names a directory with files no fetch wrote: choose a new or empty directory, or add --force to replace its content"
	case errors.Is(err, verify.ErrNoSignatures):
		return "no cosign signature is attached to this artifact in the registry: was it signed (cosign sign) in this repository?"
	}
	return ""
}

// client builds the registry client from the flags.
func (c *config) client(logger *slog.Logger) (*oci.Client, error) {
	opts := []oci.Option{oci.WithUserAgent(userAgent)}
	if c.insecure {
		opts = append(opts, oci.WithInsecure())
	}
	if c.caFile != "" {
		opts = append(opts, oci.WithCAFile(c.caFile))
	}
	if c.clientCert != "" {
		opts = append(opts, oci.WithClientCertificate(c.clientCert, c.clientKey))
	}
	if c.dockerConfig != "" {
		opts = append(opts, oci.WithDockerConfig(c.dockerConfig))
	}
	if logger != nil {
		opts = append(opts, oci.WithLogger(logger))
	}
	client, err := oci.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("registry options: %w", err)
	}
	return client, nil
}

// verifier builds the cosign and notation verifiers from the flags (both
// required when both are asked for), or returns nil when no verification
// was asked for.
func (c *config) verifier(client *oci.Client) (verify.Verifier, error) {
	cv, err := c.cosignVerifier(client)
	if err != nil || c.notationPolicy == "" {
		return cv, err
	}
	nv, err := notation.New(notation.WithTrustPolicyFile(c.notationPolicy), notation.WithTrustStoreDir(c.notationStore),
		notation.WithClient(client))
	if err != nil {
		return nil, fmt.Errorf("notation options: %w", err)
	}
	if cv == nil {
		return nv, nil
	}
	return verify.AllOf(cv, nv)
}

// cosignVerifier builds the cosign verifier from the flags, or returns nil
// when no cosign verification was asked for.
func (c *config) cosignVerifier(client *oci.Client) (verify.Verifier, error) {
	if len(c.keys) == 0 && !c.keyless {
		return nil, nil
	}
	opts := []cosign.Option{cosign.WithClient(client)}
	if len(c.keys) > 0 {
		opts = append(opts, cosign.WithKeyFiles(c.keys...))
	}
	if c.trustedRoot != "" {
		opts = append(opts, cosign.WithTrustedRootFile(c.trustedRoot))
	}
	if c.publicGood {
		opts = append(opts, cosign.WithPublicGoodTUF(""))
	}
	if c.sigRepo != "" {
		opts = append(opts, cosign.WithSignatureRepository(c.sigRepo))
	}
	if c.keyless {
		opts = append(opts, cosign.WithIdentities(cosign.Identity{
			Issuer: c.issuer, IssuerRegExp: c.issuerRE,
			Subject: c.identity, SubjectRegExp: c.identityRE,
		}))
	}
	v, err := cosign.New(append(opts, cosign.WithName(c.policyName))...)
	if err != nil {
		return nil, fmt.Errorf("verification options: %w", err)
	}
	if c.attType == "" {
		return v, nil
	}
	// The attestation is verified with the same trust, and required too.
	opts = append(opts, cosign.WithName(c.policyName+" attestation"), cosign.WithAttestation(c.attType))
	if c.slsa() {
		opts = append(opts, cosign.WithSLSAPolicy(cosign.SLSAPolicy{BuilderID: c.slsaBuilder, SourceRepository: c.slsaRepo, SourceRef: c.slsaRef}))
	}
	att, err := cosign.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("attestation options: %w", err)
	}
	all, err := verify.AllOf(v, att)
	if err != nil {
		return nil, err
	}
	return all, nil
}

// source builds the ocisource.Source from the flags.
func (c *config) source(v verify.Verifier) ocisource.Source {
	return ocisource.Source{
		URL:      c.url,
		Ref:      ocisource.Ref{Digest: c.digest, SemVer: c.semver, SemVerFilter: c.filter, Tag: c.tag, Platform: c.platform},
		Layer:    ocisource.LayerSelector{MediaType: c.mediaType, Operation: ocisource.LayerOperation(c.operation)},
		Ignore:   c.ignore,
		Verifier: v,
	}
}

// showProgress says whether to draw the progress bar: as --progress says,
// else when stderr is a terminal, not --quiet and not --verbose (whose log
// lines would tear the bar).
func (c *config) showProgress(stderr io.Writer) bool {
	if c.progress.set {
		return c.progress.value
	}
	return !c.quiet && !c.verbose && isTerminal(stderr)
}

// isTerminal reports whether w is a character device, without a dependency.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// writeSummary prints the human summary of a successful fetch.
func writeSummary(w io.Writer, a *ocisource.Artifact, op ocisource.LayerOperation, verifying bool) {
	if a.FromCache {
		fmt.Fprintf(w, "Up to date: %s in %s\n", a.URL, a.Dir)
	} else {
		fmt.Fprintf(w, "Fetched %s into %s\n", a.URL, a.Dir)
	}
	row := func(k, format string, args ...any) { fmt.Fprintf(w, "  %-10s %s\n", k, fmt.Sprintf(format, args...)) }
	row("revision", "%s", a.Revision)
	row("digest", "%s", a.Digest)
	if src := a.Source(); src != "" {
		if rev := a.SourceRevision(); rev != "" {
			src += " @ " + rev
		}
		row("source", "%s", src)
	}
	switch {
	case a.Verification != nil:
		when := ""
		if a.FromCache {
			when = " (when first fetched)"
		}
		for _, s := range a.Verification.Signatures {
			row("verified", "%s signature by %s%s%s%s", s.Format, signer(s), tlog(s), level(s), when)
		}
	case !verifying:
		row("verified", "no: signatures not checked (give --key, the --certificate-* flags or the --notation-* flags)")
	}
	verb := "extracted"
	if op == ocisource.LayerCopy {
		verb = "copied"
	}
	row("content", "%d files, %s (%s from a %s layer of %s)", a.Stats.Files, humanBytes(a.Stats.Bytes), verb, humanBytes(a.Size), a.Layer.MediaType)
	if a.FromCache {
		row("cache", "hit: unchanged, nothing downloaded")
	} else {
		row("cache", "miss: downloaded %s", humanBytes(a.Size))
	}
}

func signer(s verify.Signature) string {
	if s.KeyID != "" {
		return "key " + shorten(s.KeyID, 16)
	}
	return fmt.Sprintf("%s (issuer %s)", s.Subject, s.Issuer)
}

func level(s verify.Signature) string {
	if s.Level == "" {
		return ""
	}
	return fmt.Sprintf(", level %s of trust policy %q", s.Level, s.Policy)
}

func tlog(s verify.Signature) string {
	if s.Tlog == nil {
		return ""
	}
	return fmt.Sprintf(", tlog index %d at %s", s.Tlog.LogIndex, s.Tlog.IntegratedTime.UTC().Format(time.RFC3339))
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// humanBytes formats n in binary units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// jsonArtifact is what --json prints: the Artifact's own JSON (url,
// revision, digest, tag, layer, size, metadata, verification, stats) plus
// what the Artifact keeps out of its JSON: fromCache and dir.
type jsonArtifact struct {
	*ocisource.Artifact
	FromCache bool   `json:"fromCache"`
	Dir       string `json:"dir"`
}

func writeJSON(w io.Writer, a *ocisource.Artifact) error {
	out := jsonArtifact{Artifact: a, FromCache: a.FromCache, Dir: a.Dir}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
