package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/verify/cosign"
)

// helpText is printed by --help. TestHelpNamesEveryFlag keeps it in step
// with the flags parseFlags defines.
const helpText = `ocifetch fetches an OCI artifact into a directory after verifying its
cosign signatures, the way Flux's OCIRepository does.

Usage:
  ocifetch --url oci://HOST/REPO [reference] [verification] [registry] --out DIR

Source:
  --url URL                  artifact repository, oci://host[:port]/repository (required)
  --out DIR                  directory to fetch into; replaced as a whole, and only
                             when the fetch succeeds (required). A directory that holds
                             files no fetch wrote is refused, and ".", "" and the
                             parents of the working directory always are
  --force                    replace --out even if it holds files no fetch wrote
  --tag TAG                  tag to fetch (default "latest")
  --semver RANGE             fetch the highest tag in this semver range, e.g. ">=1.2 <2", "6.x"
  --semver-filter REGEXP     only consider tags matching REGEXP for --semver
  --digest sha256:HEX        fetch exactly this manifest digest
  --platform OS/ARCH[/VAR]   from an image index, the manifest of this platform (e.g.
                             linux/amd64); needed when the index offers several
                             Precedence: --digest, then --semver, then --tag.
  --layer-media-type TYPE    select the first layer of this media type (default: the first layer)
  --layer-operation OP       extract (unpack a tar[.gz] layer, default) or copy (write the
                             layer as one file, named by its title annotation or "layer")
  --ignore PATTERN           gitignore-style pattern of paths not to extract (repeatable)

Verification (cosign; without these flags, signatures are not checked):
  --key FILE                 PEM public key (cosign.pub); a signature by any of the keys
                             is accepted (repeatable)
  --certificate-identity ID  keyless: the exact signer identity (certificate SAN)
  --certificate-identity-regexp REGEXP
                             keyless: a regular expression matching the whole identity
  --certificate-oidc-issuer URL
                             keyless: the exact OIDC issuer of the signer's certificate
  --certificate-oidc-issuer-regexp REGEXP
                             keyless: a regular expression matching the whole issuer
  --trusted-root FILE        trusted_root.json of the Sigstore deployment (CAs, Rekor
                             logs, timestamp authorities); needed for keyless, and with
                             --key it also requires a transparency-log entry
  --sigstore-public-good     trust the public-good Sigstore instead, fetching its root
                             through TUF (network access beyond the registry)
  --signature-repository REPO
                             read signatures from REPO (host/path or oci://host/path)
                             instead of beside the artifact, as cosign does with
                             COSIGN_REPOSITORY
                             Regular expressions are anchored: "example\.com" does not
                             match "evil-example.com".
  --attestation-type TYPE    also require an in-toto attestation of predicate TYPE (e.g.
                             https://slsa.dev/provenance/v1), signed by the same --key or
                             keyless identity; the fetch needs both signature and attestation
  --slsa-builder-id ID       with an SLSA provenance --attestation-type: the exact builder id
  --slsa-source-repository URL
                             ... the exact source repository (e.g. https://github.com/org/app)
  --slsa-source-ref REF      ... the exact git ref built (e.g. refs/heads/main)

Verification (notation, as Flux's provider: notation; with cosign flags, both are required):
  --notation-trust-policy FILE
                             trustpolicy.json (version 1.0) deciding which repositories,
                             levels and signers are trusted; strict levels only
  --notation-trust-store DIR notation's trust store directory, holding
                             x509/<ca|signingAuthority|tsa>/<name>/<certificates>

Registry:
  --docker-config DIR        read credentials from DIR/config.json (default: $DOCKER_CONFIG,
                             or ~/.docker/config.json, with credential helpers)
  --ca-file FILE             trust the PEM CA certificates in FILE besides the system roots
  --client-cert FILE         PEM client certificate for mutual TLS (with --client-key)
  --client-key FILE          PEM private key of --client-cert
  --insecure                 speak plain HTTP to the registry
  --timeout DURATION         bound the whole fetch, verification included (default 60s)
  --max-size SIZE            largest layer to download and content to write, e.g. 512MiB,
                             4GiB (default 1GiB)

Output:
  --json                     print the fetched artifact as JSON on stdout
  --quiet, -q                print nothing on success
  --progress                 draw a progress bar on stderr even when it is not a terminal
                             (--progress=false: never; default: only on a terminal)
  --verbose, -v              log registry requests and decisions on stderr
  --help, -h                 show this help

Exit codes:
  0  fetched, or already up to date (nothing downloaded)
  1  fetch failed: registry unreachable or refusing, nothing matches the
     tag, range or digest, corrupt download, or --timeout passed
  2  bad flags, or a source that cannot be used as given
  3  verification failed: no signatures, none acceptable, or they could
     not be checked
  4  the content could not be written to --out, or the archive was unsafe
On failure, the previous content of --out is left untouched.

Examples:
  # The highest 6.x release, verified with a public key
  ocifetch --url oci://ghcr.io/stefanprodan/manifests/podinfo --semver 6.x \
    --key cosign.pub --out ./podinfo

  # A pinned digest, verified keylessly against a private Sigstore, as JSON
  ocifetch --url oci://registry.example.com/app --digest sha256:4f1b... \
    --trusted-root trusted_root.json \
    --certificate-oidc-issuer https://token.actions.githubusercontent.com \
    --certificate-identity-regexp 'https://github\.com/org/app/\.github/workflows/.*' \
    --json --out ./app
`

// errHelp reports that --help was asked for.
var errHelp = errors.New("help requested")

// config is the parsed command line.
type config struct {
	url, out              string
	force                 bool
	tag, semver, filter   string
	platform              string
	digest                string
	mediaType, operation  string
	ignore                []string
	keys                  []string
	identity, identityRE  string
	issuer, issuerRE      string
	trustedRoot           string
	publicGood            bool
	sigRepo               string
	attType               string
	slsaBuilder           string
	slsaRepo, slsaRef     string
	dockerConfig, caFile  string
	clientCert, clientKey string
	insecure              bool
	timeout               time.Duration
	maxSize               string
	json, quiet, verbose  bool
	progress              optionalBool
	parsedURL             oci.Reference
	keyless               bool
	policyName            string
	notationPolicy        string
	notationStore         string
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// optionalBool is a boolean flag that remembers whether it was given.
type optionalBool struct{ set, value bool }

func (b *optionalBool) String() string   { return strconv.FormatBool(b.value) }
func (b *optionalBool) IsBoolFlag() bool { return true }
func (b *optionalBool) Set(v string) error {
	x, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	b.set, b.value = true, x
	return nil
}

func newFlagSet(c *config) *flag.FlagSet {
	fs := flag.NewFlagSet("ocifetch", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run prints errors and help itself
	fs.Usage = func() {}
	fs.StringVar(&c.url, "url", "", "")
	fs.StringVar(&c.out, "out", "", "")
	fs.StringVar(&c.tag, "tag", "", "")
	fs.StringVar(&c.semver, "semver", "", "")
	fs.StringVar(&c.filter, "semver-filter", "", "")
	fs.StringVar(&c.platform, "platform", "", "")
	fs.StringVar(&c.digest, "digest", "", "")
	fs.StringVar(&c.mediaType, "layer-media-type", "", "")
	fs.StringVar(&c.operation, "layer-operation", string(ocisource.LayerExtract), "")
	fs.Var((*stringList)(&c.ignore), "ignore", "")
	fs.Var((*stringList)(&c.keys), "key", "")
	fs.StringVar(&c.identity, "certificate-identity", "", "")
	fs.StringVar(&c.identityRE, "certificate-identity-regexp", "", "")
	fs.StringVar(&c.issuer, "certificate-oidc-issuer", "", "")
	fs.StringVar(&c.issuerRE, "certificate-oidc-issuer-regexp", "", "")
	fs.StringVar(&c.trustedRoot, "trusted-root", "", "")
	fs.BoolVar(&c.publicGood, "sigstore-public-good", false, "")
	fs.StringVar(&c.sigRepo, "signature-repository", "", "")
	fs.StringVar(&c.attType, "attestation-type", "", "")
	fs.StringVar(&c.slsaBuilder, "slsa-builder-id", "", "")
	fs.StringVar(&c.slsaRepo, "slsa-source-repository", "", "")
	fs.StringVar(&c.slsaRef, "slsa-source-ref", "", "")
	fs.StringVar(&c.notationPolicy, "notation-trust-policy", "", "")
	fs.StringVar(&c.notationStore, "notation-trust-store", "", "")
	fs.StringVar(&c.dockerConfig, "docker-config", "", "")
	fs.StringVar(&c.caFile, "ca-file", "", "")
	fs.StringVar(&c.clientCert, "client-cert", "", "")
	fs.StringVar(&c.clientKey, "client-key", "", "")
	fs.BoolVar(&c.insecure, "insecure", false, "")
	fs.BoolVar(&c.force, "force", false, "")
	fs.DurationVar(&c.timeout, "timeout", 60*time.Second, "")
	fs.StringVar(&c.maxSize, "max-size", "1GiB", "")
	fs.BoolVar(&c.json, "json", false, "")
	fs.BoolVar(&c.quiet, "quiet", false, "")
	fs.BoolVar(&c.quiet, "q", false, "")
	fs.Var(&c.progress, "progress", "")
	fs.BoolVar(&c.verbose, "verbose", false, "")
	fs.BoolVar(&c.verbose, "v", false, "")
	return fs
}

// parseFlags parses and checks args. Every error names the flag at fault.
func parseFlags(args []string) (*config, error) {
	c := &config{}
	fs := newFlagSet(c)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: every input is a flag (--url, --tag, --out ...)", fs.Arg(0))
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *config) validate() error {
	if c.url == "" {
		return errors.New("--url is required (oci://host[:port]/repository)")
	}
	if !strings.HasPrefix(c.url, oci.URLScheme) {
		return fmt.Errorf("--url %q must start with %s", c.url, oci.URLScheme)
	}
	ref, err := oci.ParseURL(c.url)
	if err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	if ref.Tag != "" || ref.Digest != "" {
		return fmt.Errorf("--url %q must name a repository only: give the tag with --tag and the digest with --digest", c.url)
	}
	c.parsedURL = ref
	if c.out == "" {
		return errors.New("--out is required: the directory to fetch into")
	}
	if c.digest != "" {
		if _, err := oci.ParseDigest(c.digest); err != nil {
			return fmt.Errorf("--digest: %w (want sha256:<64 lowercase hex digits>)", err)
		}
	}
	if c.platform != "" {
		if _, err := oci.ParsePlatform(c.platform); err != nil {
			return fmt.Errorf("--platform: %w (want os/arch or os/arch/variant, e.g. linux/arm64/v8)", err)
		}
	}
	if c.filter != "" && c.semver == "" {
		return errors.New("--semver-filter needs --semver")
	}
	switch ocisource.LayerOperation(c.operation) {
	case ocisource.LayerExtract, ocisource.LayerCopy:
	default:
		return fmt.Errorf("--layer-operation %q: want %q or %q", c.operation, ocisource.LayerExtract, ocisource.LayerCopy)
	}
	if len(c.ignore) > 0 && ocisource.LayerOperation(c.operation) == ocisource.LayerCopy {
		return errors.New("--ignore applies to --layer-operation extract, not copy")
	}
	if c.timeout <= 0 {
		return fmt.Errorf("--timeout %v: want a positive duration such as 60s or 5m", c.timeout)
	}
	if _, err := parseSize(c.maxSize); err != nil {
		return fmt.Errorf("--max-size %q: %v", c.maxSize, err)
	}
	if (c.clientCert == "") != (c.clientKey == "") {
		return errors.New("--client-cert and --client-key go together")
	}
	if c.insecure && (c.caFile != "" || c.clientCert != "") {
		return errors.New("--insecure conflicts with --ca-file and --client-cert: plain HTTP has no TLS to configure")
	}
	if c.tag != "" {
		if err := oci.ValidateTag(c.tag); err != nil {
			return fmt.Errorf("--tag: %w", err)
		}
	}
	if c.json && c.quiet {
		return errors.New("--json and --quiet conflict: --json prints the result, --quiet prints nothing")
	}
	return c.validateVerification()
}

func (c *config) validateVerification() error {
	if (c.notationPolicy == "") != (c.notationStore == "") {
		return errors.New("--notation-trust-policy and --notation-trust-store go together: the policy names the stores the directory holds")
	}
	c.keyless = c.identity != "" || c.identityRE != "" || c.issuer != "" || c.issuerRE != ""
	keyed := len(c.keys) > 0
	switch {
	case keyed && c.keyless:
		return errors.New("--key and --certificate-* flags conflict: verify with keys or keylessly, not both")
	case c.trustedRoot != "" && c.publicGood:
		return errors.New("--trusted-root and --sigstore-public-good conflict: trust one Sigstore deployment")
	case !keyed && !c.keyless && (c.trustedRoot != "" || c.publicGood):
		return errors.New("--trusted-root and --sigstore-public-good need --key or the --certificate-* identity flags")
	case !keyed && !c.keyless && c.sigRepo != "":
		return errors.New("--signature-repository needs --key or the --certificate-* identity flags")
	case !keyed && !c.keyless && c.attType != "":
		return errors.New("--attestation-type needs --key or the --certificate-* identity flags (the attestation is verified with the same trust)")
	case c.slsa() && c.attType != cosign.PredicateTypeSLSAProvenanceV1 && c.attType != cosign.PredicateTypeSLSAProvenanceV02:
		return fmt.Errorf("--slsa-* flags need --attestation-type %s or %s", cosign.PredicateTypeSLSAProvenanceV1, cosign.PredicateTypeSLSAProvenanceV02)
	}
	if c.sigRepo != "" {
		ref, err := oci.ParseReference(strings.TrimPrefix(c.sigRepo, oci.URLScheme))
		switch {
		case err != nil:
			return fmt.Errorf("--signature-repository: %w", err)
		case ref.Tag != "" || ref.Digest != "":
			return fmt.Errorf("--signature-repository %q must name a repository only, without tag or digest", c.sigRepo)
		}
	}
	if c.keyless {
		switch {
		case c.identity != "" && c.identityRE != "":
			return errors.New("--certificate-identity and --certificate-identity-regexp conflict: give one")
		case c.identity == "" && c.identityRE == "":
			return errors.New("keyless verification needs --certificate-identity or --certificate-identity-regexp")
		case c.issuer != "" && c.issuerRE != "":
			return errors.New("--certificate-oidc-issuer and --certificate-oidc-issuer-regexp conflict: give one")
		case c.issuer == "" && c.issuerRE == "":
			return errors.New("keyless verification needs --certificate-oidc-issuer or --certificate-oidc-issuer-regexp")
		case c.trustedRoot == "" && !c.publicGood:
			return errors.New("keyless verification needs --trusted-root FILE (a private Sigstore's trusted_root.json), " +
				"or --sigstore-public-good to fetch the public-good root over the network")
		}
	}
	if keyed || c.keyless {
		name, err := c.policyFingerprint()
		if err != nil {
			return err
		}
		c.policyName = name
	}
	return nil
}

// policyFingerprint names the verification policy after a hash of
// everything it trusts (key and trusted-root file contents, identities),
// so the summary and --json show which policy verified a revision. (Cache
// safety does not depend on it: the Fetcher compares the verifier's own
// fingerprint, verify.Fingerprinter, with the one recorded beside --out.)
func (c *config) policyFingerprint() (string, error) {
	h := sha256.New()
	mode := "cosign keyed"
	if c.keyless {
		mode = "cosign keyless"
	}
	fmt.Fprintf(h, "%s\n", mode)
	for _, f := range c.keys {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("--key: %w", err)
		}
		fmt.Fprintf(h, "key %d\n%s\n", len(b), b)
	}
	if c.trustedRoot != "" {
		b, err := os.ReadFile(c.trustedRoot)
		if err != nil {
			return "", fmt.Errorf("--trusted-root: %w", err)
		}
		fmt.Fprintf(h, "root %d\n%s\n", len(b), b)
	}
	fmt.Fprintf(h, "public-good %t\nidentity %q %q\nissuer %q %q\n", c.publicGood, c.identity, c.identityRE, c.issuer, c.issuerRE)
	if c.sigRepo != "" {
		fmt.Fprintf(h, "signature repository %q\n", strings.TrimPrefix(c.sigRepo, oci.URLScheme))
	}
	if c.attType != "" {
		fmt.Fprintf(h, "attestation %q slsa %q %q %q\n", c.attType, c.slsaBuilder, c.slsaRepo, c.slsaRef)
	}
	return fmt.Sprintf("%s [policy %s]", mode, hex.EncodeToString(h.Sum(nil))[:12]), nil
}

// slsa reports whether an --slsa-* flag was given.
func (c *config) slsa() bool { return c.slsaBuilder != "" || c.slsaRepo != "" || c.slsaRef != "" }

// parseSize reads a byte count: digits with an optional KiB, MiB, GiB or
// TiB suffix (or K, M, G, T, the same powers of 1024).
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}, {"K", 10}, {"M", 20}, {"G", 30}, {"T", 40}}
	num, shift := s, uint(0)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, shift = n, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("want a positive size such as 512MiB or 4GiB")
	}
	if n > math.MaxInt64>>shift {
		return 0, errors.New("too large")
	}
	return n << shift, nil
}
