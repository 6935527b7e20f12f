// Package oci is the registry client of ocisource: it parses oci:// URLs
// (and oci-layout:// ones, OCI image layouts on disk, read offline),
// resolves tags to digests, lists tags, fetches manifests and blobs, lists
// referrers, writes blobs and manifests, and copies artifacts with their
// signatures between registries and layouts ([Copy]). Building artifacts in
// the layout `flux push artifact` uses is package
// [github.com/ocisource/ocisource/oci/push]'s job, so a client that only
// reads links no tar writer.
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
//   - One [Client] serves many sources at once: it pings each registry once
//     for all its repositories, keeps one token per repository and scope
//     (exchanged again before it expires), shares a set-up between the calls
//     that need it at the same time, holds no lock across network I/O, and
//     keeps enough connections per registry for 64 concurrent workers
//     ([DefaultMaxIdleConnsPerHost], [WithMaxConnsPerHost]). A registry that
//     hangs delays only the calls made to it, and a caller waits for a
//     shared set-up only as long as its own context allows.
//
// # What go-containerregistry does, and what is ours
//
// The package is built on go-containerregistry and uses it wherever it does
// the job:
//
//   - authentication: the ping and its challenge (transport.Ping), the
//     bearer token exchange (transport.Exchange), and the basic and bearer
//     transports built from a challenge and a token, the bearer one with its
//     token refresh and retry on a 401 (transport.FromToken), with
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
//   - Sharing the authentication set-up (flight.go, auth.go):
//     transport.NewWithContext, which remote.Puller also uses, pings the
//     registry every time it builds a transport, that is once per
//     repository, and drops the token's lifetime, so a token is renewed only
//     after a request was refused with it. The Client calls the three
//     exported steps it is made of instead, keeps the challenge per
//     registry and the transport per repository with its token's expiry,
//     and runs each set-up once for all concurrent callers, as remote.Puller
//     does with a sync.Map and sync.Once, except that each caller waits with
//     its own context (a set-up is cancelled when its last caller has left)
//     and a failure is never kept. The small layer that sends registry
//     requests with the scheme the ping answered on is go-containerregistry's
//     own, unexported, rewritten.
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
// # OCI image layouts
//
// A reference "oci-layout:///absolute/path" ([LayoutScheme], [Reference.Layout])
// names an OCI image layout on disk: a directory holding oci-layout,
// index.json and blobs/<algorithm>/<hex>, or an uncompressed tar of one
// (members at its root, "./" allowed), for air-gapped sources. The layout
// is the repository; its tags are the org.opencontainers.image.ref.name
// annotations of index.json's entries that are valid tags (full references,
// as containerd writes, are ignored), cosign's "sha256-<hex>.sig" included.
// A layout written by `cosign save` tags nothing: its "kind" annotations
// name the one image ("latest") and its signatures and attestations (the
// ".sig" and ".att" tags of its digest).
// Every read operation ([Client.Resolve], [Client.Manifest], [Client.Tags],
// [Client.Blob], [Client.Referrers]) works on it unchanged: the Client sends
// the requests it would send a registry to an in-process, read-only
// implementation of the distribution API over the layout (a
// [net/http.RoundTripper]: no socket, no ping, no credentials, no retries,
// whatever the transport options say). Referrers are the manifests listed in
// index.json, or reachable from it through nested indexes, whose subject is
// the digest. Pushing to a layout is refused; [Copy] writes one.
//
// A layout is untrusted input, like a registry's answers. index.json and
// every manifest read from it are capped by the manifest limit; index.json
// holds at most [MaxLayoutEntries] descriptors, each with a valid digest, and
// a referrers listing reads at most as many manifests, through at most 8
// levels of nested indexes; a tar holds at most [MaxLayoutTarMembers]
// members, and one that holds a layout file twice, or as a link or a
// sparse file, is refused. Blob paths are only ever built from digests
// [ParseDigest] accepted, and a directory is read through an [os.Root], so
// no name and no symbolic link leads outside it. The manifest of a tag is
// checked against the digest index.json gives it, and blobs are checked by
// size and digest as they stream, as from a registry. Failures of the
// layout itself wrap [ErrInvalidLayout] (or [ErrTooLarge], or [ErrNotFound]
// when the path does not exist).
//
// A tar is read in place, never extracted: its headers are read once (the
// data is skipped by seeking) to find where each layout file lies, and each
// file is then read as a section of the tar; the Client keeps the index of
// the last few tars while the file stays the same. A compressed tar is
// refused with [ErrInvalidLayout] saying to decompress it. index.json is
// read again by each request, so a layout that changes on disk is seen at
// once.
//
// # Mirroring
//
// [Copy] copies an artifact by tag or digest with everything attached to it
// (the children of its indexes, cosign's ".sig", ".att" and ".sbom" tags, OCI
// referrers, and what is attached to those), registry to registry, registry
// to layout or layout to registry, keeping every digest. Blobs and manifests
// the destination has are not sent again, so running a failed copy again
// resumes it, and the destination tag is written last. The blobs of a
// manifest are copied a few at a time ([WithCopyJobs]). A layout destination
// is written through an [os.Root], each file renamed into place whole, and
// index.json replaced under a lock on the directory.
//
// For tests, package [github.com/ocisource/ocisource/oci/ocitest] runs an
// in-memory registry.
package oci
