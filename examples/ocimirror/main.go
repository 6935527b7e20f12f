// Command ocimirror copies an OCI artifact, with its signatures, attestations
// and SBOMs, from one registry or OCI image layout to another, keeping every
// digest: the way to carry signed artifacts into an air gap or a mirror and
// still verify them there with the same keys and identities.
//
// Usage:
//
//	ocimirror [flags] SRC DST
//
// SRC and DST are oci://HOST/REPO[:TAG|@DIGEST] (or HOST/REPO[:TAG]) for a
// registry, or oci-layout://DIR[:TAG] for an OCI image layout directory
// (created when missing; a relative DIR is taken from the working
// directory). SRC may also be a layout tar. The destination tag is DST's,
// else SRC's; a SRC pinned by digest and a DST without a tag copy by digest
// only.
//
// Mirror a release into a layout, then from the layout into an internal
// registry:
//
//	ocimirror oci://ghcr.io/org/manifests/app:1.4.2 oci-layout://./airgap
//	ocimirror --ca-file ca.pem oci-layout://./airgap:1.4.2 oci://registry.internal/org/app
//
// What is copied: the manifest (an index with all its children), its config
// and layers, cosign's legacy "sha256-<hex>.sig", ".att" and ".sbom" tags
// and the OCI referrers of each (Sigstore bundles, notation signatures,
// SBOMs), and what is attached to those in turn. Blobs and manifests the
// destination has are not sent again, so an interrupted mirror is resumed by
// running it again. The destination tag is written last, after every
// signature.
//
// Credentials come from the docker config (--docker-config, else
// $DOCKER_CONFIG or ~/.docker), as for docker and cosign.
//
// Exit codes: 0 copied, 1 the copy failed (registry, layout, limits,
// --timeout), 2 usage.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ocisource/ocisource/oci"
)

const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type config struct {
	src, dst     oci.Reference
	insecure     bool
	caFile       string
	dockerConfig string
	noReferrers  bool
	noCosignTags bool
	maxManifests int
	jobs         int
	timeout      time.Duration
	json         bool
	verbose      bool
}

const usage = `Usage: ocimirror [flags] SRC DST

Copy an OCI artifact with its signatures, attestations and SBOMs, keeping
every digest. SRC and DST: oci://HOST/REPO[:TAG|@DIGEST], HOST/REPO[:TAG],
or oci-layout://DIR[:TAG].

Flags:
  --ca-file FILE        trust this CA (PEM) besides the system roots
  --docker-config DIR   read credentials from DIR/config.json
  --insecure            plain HTTP to the registries
  --no-referrers        do not copy OCI referrers
  --no-cosign-tags      do not copy cosign's .sig/.att/.sbom tags
  --max-manifests N     refuse to copy more than N manifests (default 1000)
  --jobs N              copy N blobs of a manifest at once (default 4)
  --timeout D           give up after D (default 10m)
  --json                print the result as JSON
  -v, --verbose         print each blob and manifest as it is handled
`

func parse(args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("ocimirror", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&c.insecure, "insecure", false, "")
	fs.StringVar(&c.caFile, "ca-file", "", "")
	fs.StringVar(&c.dockerConfig, "docker-config", "", "")
	fs.BoolVar(&c.noReferrers, "no-referrers", false, "")
	fs.BoolVar(&c.noCosignTags, "no-cosign-tags", false, "")
	fs.IntVar(&c.maxManifests, "max-manifests", oci.DefaultCopyMaxManifests, "")
	fs.IntVar(&c.jobs, "jobs", oci.DefaultCopyJobs, "")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "")
	fs.BoolVar(&c.json, "json", false, "")
	fs.BoolVar(&c.verbose, "verbose", false, "")
	fs.BoolVar(&c.verbose, "v", false, "")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 2 {
		return nil, fmt.Errorf("want SRC and DST, got %d arguments", fs.NArg())
	}
	var err error
	if c.src, err = parseRef(fs.Arg(0)); err != nil {
		return nil, fmt.Errorf("SRC: %w", err)
	}
	if c.dst, err = parseRef(fs.Arg(1)); err != nil {
		return nil, fmt.Errorf("DST: %w", err)
	}
	if c.timeout <= 0 {
		return nil, fmt.Errorf("--timeout %s: want a positive duration", c.timeout)
	}
	return c, nil
}

// parseRef reads a registry reference or a layout, a relative layout
// directory taken from the working directory.
func parseRef(s string) (oci.Reference, error) {
	r, err := parseRefSyntax(s)
	if err != nil {
		return oci.Reference{}, err
	}
	return r, r.Validate()
}

func parseRefSyntax(s string) (oci.Reference, error) {
	if rest, ok := strings.CutPrefix(s, oci.LayoutScheme); ok {
		if !strings.HasPrefix(rest, "/") {
			abs, err := filepath.Abs(rest)
			if err != nil {
				return oci.Reference{}, err
			}
			s = oci.LayoutScheme + abs
		}
		return oci.ParseURL(s)
	}
	if strings.Contains(s, "://") {
		return oci.ParseURL(s)
	}
	return oci.ParseReference(s)
}

func (c *config) client() (*oci.Client, error) {
	opts := []oci.Option{oci.WithUserAgent("ocimirror (ocisource)")}
	if c.insecure {
		opts = append(opts, oci.WithInsecure())
	}
	if c.caFile != "" {
		opts = append(opts, oci.WithCAFile(c.caFile))
	}
	if c.dockerConfig != "" {
		opts = append(opts, oci.WithDockerConfig(c.dockerConfig))
	}
	return oci.NewClient(opts...)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "ocimirror: %v\n%s", err, usage)
		return exitUsage
	}
	client, err := c.client()
	if err != nil {
		fmt.Fprintf(stderr, "ocimirror: registry options: %v\n", err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	opts := []oci.CopyOption{
		oci.WithCopyReferrers(!c.noReferrers),
		oci.WithCopyCosignTags(!c.noCosignTags),
		oci.WithCopyMaxManifests(c.maxManifests),
		oci.WithCopyJobs(c.jobs),
	}
	if c.verbose {
		opts = append(opts, oci.WithCopyProgress(func(e oci.CopyEvent) {
			state := "copied"
			if e.Skipped {
				state = "present"
			}
			fmt.Fprintf(stderr, "%-8s %-7s %s (%d bytes)\n", e.Kind, state, e.Descriptor.Digest, e.Descriptor.Size)
		}))
	}
	res, err := oci.Copy(ctx, client, c.src, client, c.dst, opts...)
	if errors.Is(err, oci.ErrInvalidOption) {
		fmt.Fprintf(stderr, "ocimirror: %v\n", err)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "ocimirror: %v\n", err)
		if res != nil && res.Blobs+res.Manifests > 0 {
			fmt.Fprintf(stderr, "ocimirror: %d blobs and %d manifests were copied before the failure; run again to resume\n", res.Blobs, res.Manifests)
		}
		return exitFailed
	}
	if c.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintf(stderr, "ocimirror: %v\n", err)
			return exitFailed
		}
		return exitOK
	}
	where := c.dst.Redacted()
	if res.Tag != "" {
		where = c.dst.WithDigest("").WithTag(res.Tag).Redacted()
	}
	fmt.Fprintf(stdout, "copied %s to %s\n", res.Descriptor.Digest, where)
	fmt.Fprintf(stdout, "  %d manifests, %d blobs (%d bytes) written; %d manifests, %d blobs already there\n",
		res.Manifests, res.Blobs, res.Bytes, res.ManifestsSkipped, res.BlobsSkipped)
	for _, a := range res.Attachments {
		name := a.Tag
		if name == "" {
			name = "referrer " + a.Descriptor.ArtifactType
		}
		fmt.Fprintf(stdout, "  attached to %s: %s %s\n", short(a.Subject), strings.TrimSpace(name), a.Descriptor.Digest)
	}
	return exitOK
}

func short(d oci.Digest) string {
	if s := string(d); len(s) > 19 {
		return s[:19]
	}
	return string(d)
}
