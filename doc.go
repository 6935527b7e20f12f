// Package ocisource fetches OCI artifacts from container registries and
// proves they are authentic before using them, as Flux's OCIRepository does,
// as a library any Go program can embed.
//
// A [Fetcher] does the whole job in one call: it resolves a [Source]'s
// reference (digest, semver range, tag) to a digest once, has the Source's
// [verify.Verifier] (for example cosign keyed or keyless verification from
// package verify/cosign) accept that digest, streams the selected layer,
// checking its digest as it arrives, into a safe, bounded extraction, and
// swaps the result into place atomically. A second fetch of an unchanged
// artifact downloads nothing.
//
//	fetcher, _ := ocisource.NewFetcher(ocisource.WithClient(client))
//	art, err := fetcher.Fetch(ctx, ocisource.Source{
//		URL:      "oci://ghcr.io/org/manifests/app",
//		Ref:      ocisource.Ref{SemVer: ">=1.0.0 <2.0.0"},
//		Verifier: verifier,
//	}, "/var/lib/app/content")
//
// Fetch guarantees much about the target directory: it never removes files
// it did not write, swaps content atomically (also into a mount point), and
// stays consistent across crashes and across processes; see
// [Fetcher.Fetch].
//
// A [Reconciler] keeps many named sources in sync on intervals, with
// bounded workers, backoff and a status per source with Flux's conditions
// (Ready, Reconciling, Stalled, FetchFailed, SourceVerified,
// ArtifactInStorage, StorageOperationFailed); [Reason] and [Retryable] map
// a Fetch error to a condition reason and a retry policy.
//
// The pieces are packages of their own, usable alone: oci (registry client),
// oci/ocitest (in-memory registry for tests), semverref (semver tag
// selection), tarball (safe extraction and reproducible archives), verify
// (the Verifier interface and policy combinators), verify/cosign (cosign
// signature verification) and verify/verifytest (keys and a virtual Sigstore
// for tests).
package ocisource
