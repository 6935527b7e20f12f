// Package oci is the registry client of ocisource: it parses oci:// URLs,
// resolves tags to digests, lists tags, fetches manifests and blobs, lists
// referrers, and pushes artifacts in the layout `flux push artifact` uses.
//
// What a supply-chain consumer gets on top of a plain registry client:
//
//   - Everything read from the network is bounded, and every bound has an
//     option: manifests, indexes and tag-list pages ([DefaultMaxManifestSize]),
//     error and token bodies ([DefaultMaxErrorBodySize]), and a tag listing
//     as a whole, in pages, tags and bytes ([DefaultMaxTagPages],
//     [DefaultMaxTags], [DefaultMaxTagListBytes]). A cap follows the
//     operation that sent the request, never the text of the URL, so a
//     repository named "org/blobs" is capped like any other. Sizes from the
//     network never overflow an addition; negative ones are refused.
//   - Nothing is trusted from headers: a manifest's digest is computed from
//     its bytes, and a blob reader fails with [ErrDigestMismatch] or
//     [ErrSizeMismatch] at the end of a stream that is not what was asked for.
//   - Malformed digests, tags ([ValidateTag]) and repository names are
//     rejected before anything is sent.
//   - Credentials never follow a redirect to another host, go to a token
//     realm on another host only over HTTPS, and a registry not marked
//     [WithInsecure] is never spoken to over plain HTTP ([ErrPlainHTTP]).
//     They never appear in an error or a log line: URLs holding them are
//     refused unquoted, and what a registry, token service or credential
//     helper echoes back is scrubbed.
//   - Options are checked at construction; contradictory ones are an
//     [*OptionConflictError] (see [NewClient]).
//   - Every error is an [*Error] naming the operation and reference, wrapping
//     a sentinel ([ErrNotFound], [ErrUnauthorized], ...) for [errors.Is].
//   - One authenticated transport per repository is kept by the [Client], so
//     a sequence of calls costs one ping and one token, not one per call.
//
// # What go-containerregistry does, and what is ours
//
// The package is built on go-containerregistry and uses it wherever it does
// the job:
//
//   - authentication: the ping, basic auth, the bearer token exchange, and
//     the token refresh and retry on a 401 (transport.NewWithContext), with
//     credentials from keychains (authn) and docker configs (docker/cli);
//   - redirects (net/http's client), with go-containerregistry's transports
//     dropping credentials on other hosts;
//   - the referrers API and its tag-schema fallback (remote.Referrers);
//   - uploads: blob existence checks, mounts, chunked uploads and manifest
//     puts (remote.WriteLayer, remote.Put);
//   - repository names, handed over with name.StrictValidation.
//
// What is written here, and why:
//
//   - The guard transport below go-containerregistry's auth layers, which
//     sees every request as it leaves. go-containerregistry falls back to
//     plain HTTP for loopback and private addresses, and its own caps are
//     fixed constants (100 MiB for manifests, 64 KiB for tokens) or absent
//     (the referrers fallback index a push reads): the guard refuses the
//     fallback and caps every body by the operation that asked for it, with
//     bounds callers can set. Its 1 MiB cap on token bodies stands whatever
//     go-containerregistry's happens to be.
//   - Resolve and Manifest send their own HEAD and GET, so the manifest cap
//     is an option and the digest is computed over the exact bytes returned,
//     with this package's typed errors.
//   - The verifying reader of [Client.Blob] and of uploads:
//     go-containerregistry's is internal, and this one reads at most one byte
//     past the declared size and fails the very read that reaches the end.
//   - Tag listing: remote.List follows next-page links with no bound on
//     pages, tags or bytes; [Client.Tags] bounds all three, decodes pages as
//     they stream and refuses links to other hosts.
//   - Retries: go-containerregistry's retry transport sleeps through a
//     cancelled context and ignores Retry-After; ours ends its pauses with
//     the context, honours Retry-After within [MaxRetryBackoff], replays only
//     bodies it can replay, and is set by [WithRetries].
//   - oci:// URL parsing: go-containerregistry's name package defaults the
//     registry and tag, which an oci:// URL must never do.
//
// For tests, package [github.com/ocisource/ocisource/oci/ocitest] runs an
// in-memory registry.
package oci
