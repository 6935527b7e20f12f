// Command quickstart shows the whole job of ocisource on an in-memory
// registry, with no set-up and no network: push an artifact, sign it with a
// key and keylessly (with a virtual Sigstore), fetch it by semver range with
// both signatures verified, watch an attacker's release and a registry serving
// altered bytes being rejected while the previous content stays in place, and
// fetch again from cache.
//
//	go run ./examples/quickstart
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/oci/push"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, w io.Writer) error {
	work, err := os.MkdirTemp("", "ocisource-quickstart-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	// 1. A registry. Here an in-memory one; oci.NewClient talks to real ones.
	reg := ocitest.New()
	defer reg.Close()
	client := reg.Client()
	url := reg.URL("manifests/podinfo")
	fmt.Fprintf(w, "registry   %s (in memory)\n", reg.Host())

	// 2. Push two releases, as `flux push artifact` would.
	for _, version := range []string{"6.5.0", "6.6.0"} {
		files := map[string]string{
			"deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\n  labels:\n    version: " + version + "\n",
			"service.yaml":    "apiVersion: v1\nkind: Service\nmetadata:\n  name: podinfo\n",
		}
		d, err := reg.PushFiles(ctx, "manifests/podinfo:"+version, files,
			push.WithSource("https://github.com/stefanprodan/podinfo"), push.WithRevision(version+"@sha1:4f1b3a"))
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "pushed     %s:%s -> %s\n", url, version, short(d.Digest))
	}

	// 3. Sign 6.6.0 twice: with a key pair (cosign's legacy .sig format), and
	//    keylessly as a CI identity, through a virtual Sigstore (bundle format).
	ref, err := oci.ParseURL(url + ":6.6.0")
	if err != nil {
		return err
	}
	desc, err := client.Resolve(ctx, ref)
	if err != nil {
		return err
	}
	pinned := ref.WithDigest(desc.Digest)
	key, err := verifytest.NewKeyPair()
	if err != nil {
		return err
	}
	if _, err := verifytest.SignLegacy(ctx, client, pinned, key, verifytest.WithoutTransparencyLog()); err != nil {
		return err
	}
	sigstore, err := verifytest.NewSigstore()
	if err != nil {
		return err
	}
	ci := sigstore.Keyless("https://token.actions.githubusercontent.com", "https://github.com/stefanprodan/podinfo/.github/workflows/release.yml@refs/tags/6.6.0")
	if _, err := verifytest.SignBundle(ctx, client, pinned, ci, verifytest.WithTransparencyLog(sigstore)); err != nil {
		return err
	}
	fmt.Fprintf(w, "signed     6.6.0 with key %s… and keylessly as %s\n", key.KeyID()[:12], ci.Subject())

	// 4. The policy: the key AND the CI identity, through the trusted root of
	//    the (virtual, private) Sigstore deployment: no public-good, no network.
	trustedRoot, err := sigstore.TrustedRootJSON()
	if err != nil {
		return err
	}
	keyed, err := cosign.New(cosign.WithClient(client), cosign.WithKeys(key.PublicKeyPEM()))
	if err != nil {
		return err
	}
	keyless, err := cosign.New(cosign.WithClient(client), cosign.WithTrustedRootJSON(trustedRoot),
		cosign.WithIdentities(cosign.Identity{
			Issuer:        "https://token.actions.githubusercontent.com",
			SubjectRegExp: `https://github\.com/stefanprodan/podinfo/\.github/workflows/release\.yml@refs/tags/.*`,
		}))
	if err != nil {
		return err
	}
	policy, err := verify.AllOf(keyed, keyless)
	if err != nil {
		return err
	}

	// 5. Fetch the highest 6.x release, verified, into a directory.
	fetcher, err := ocisource.NewFetcher(ocisource.WithClient(client))
	if err != nil {
		return err
	}
	src := ocisource.Source{URL: url, Ref: ocisource.Ref{SemVer: "6.x"}, Verifier: policy}
	dir := filepath.Join(work, "podinfo")
	art, err := fetcher.Fetch(ctx, src, dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "fetched    %s (semver %q)\n", shortRev(art.Revision), src.Ref.SemVer)
	for _, s := range art.Verification.Signatures {
		fmt.Fprintf(w, "  verified %-6s signature by %s\n", s.Format, signer(s))
	}
	fmt.Fprintf(w, "  source   %s @ %s\n", art.Source(), art.SourceRevision())
	fmt.Fprintf(w, "  wrote    %d files, %d bytes into %s\n", art.Stats.Files, art.Stats.Bytes, filepath.Base(dir))
	printTree(w, dir)

	// 6. An attacker pushes 6.7.0, signed with their own key: the semver range
	//    now picks it, verification refuses it, and the directory keeps 6.6.0.
	evilFiles := map[string]string{"deployment.yaml": "kind: Deployment # with a cryptominer\n"}
	evil, err := reg.PushFiles(ctx, "manifests/podinfo:6.7.0", evilFiles)
	if err != nil {
		return err
	}
	attacker, err := verifytest.NewKeyPair()
	if err != nil {
		return err
	}
	evilRef, _ := oci.ParseURL(url + ":6.7.0")
	if _, err := verifytest.SignLegacy(ctx, client, evilRef.WithDigest(evil.Digest), attacker, verifytest.WithoutTransparencyLog()); err != nil {
		return err
	}
	_, err = fetcher.Fetch(ctx, src, dir)
	fmt.Fprintf(w, "attacker's 6.7.0, signed with the attacker's key: rejected=%v (verification failed: %v)\n", err != nil, errors.Is(err, ocisource.ErrVerification))
	var verr *verify.VerificationError
	if errors.As(err, &verr) {
		for _, f := range verr.Failures {
			fmt.Fprintf(w, "  reason   %s\n", f)
		}
	}
	printTree(w, dir)

	// 7. A registry that serves altered bytes for the signed release is
	//    caught by the digest check, before anything replaces the content.
	m, err := client.Manifest(ctx, pinned)
	if err != nil {
		return err
	}
	altered := bytes.Repeat([]byte{'x'}, int(m.Layers[0].Size)) // same size, other bytes
	reg.Inject(ocitest.Fault{Method: http.MethodGet, PathContains: "/blobs/" + string(m.Layers[0].Digest), Body: altered, Times: 1})
	pinnedSrc := ocisource.Source{URL: url, Ref: ocisource.Ref{Digest: string(desc.Digest)}, Verifier: policy}
	_, err = fetcher.Fetch(ctx, pinnedSrc, filepath.Join(work, "pinned"))
	fmt.Fprintf(w, "altered    blob for 6.6.0: rejected=%v (digest mismatch: %v)\n", err != nil, errors.Is(err, oci.ErrDigestMismatch))

	// 8. Fetching 6.6.0 again downloads nothing.
	reg.ResetRequests()
	art, err = fetcher.Fetch(ctx, ocisource.Source{URL: url, Ref: ocisource.Ref{Tag: "6.6.0"}, Verifier: policy}, dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "refetched  %s from cache=%v with %d HTTP request(s)\n", shortRev(art.Revision), art.FromCache, len(reg.Requests()))
	return nil
}

func short(d oci.Digest) string { return string(d)[:19] + "…" }

func shortRev(rev string) string {
	if i := strings.Index(rev, "sha256:"); i >= 0 && len(rev) > i+19 {
		return rev[:i+19] + "…"
	}
	return rev
}

func signer(s verify.Signature) string {
	if s.KeyID != "" {
		return "key " + s.KeyID[:12] + "…"
	}
	return s.Subject + " (issuer " + s.Issuer + ")"
}

func printTree(w io.Writer, dir string) {
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			b, _ := os.ReadFile(p)
			// The line that tells the version (or the attack), else the kind.
			version := ""
			for _, line := range strings.Split(string(b), "\n") {
				line = strings.TrimSpace(line)
				switch {
				case strings.Contains(line, "version:") && !strings.HasPrefix(line, "apiVersion:"), strings.Contains(line, "cryptominer"):
					version = line
				case version == "" && strings.HasPrefix(line, "kind:"):
					version = line
				}
			}
			files = append(files, fmt.Sprintf("  file     %s %s", rel, version))
		}
		return nil
	})
	sort.Strings(files)
	fmt.Fprintln(w, strings.Join(files, "\n"))
}
