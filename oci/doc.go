// Package oci is the registry client of ocisource: it parses oci:// URLs,
// resolves tags to digests, lists tags, fetches manifests and blobs, lists
// referrers, and pushes artifacts in the layout `flux push artifact` uses.
//
// It is built on go-containerregistry and adds what a supply-chain consumer
// needs on top:
//
//   - Everything read from the network is bounded: manifests and other JSON
//     documents ([DefaultMaxManifestSize]), error and token bodies
//     ([DefaultMaxErrorBodySize]), tag-list pages ([DefaultMaxTagPages]).
//   - Nothing is trusted from headers: a manifest's digest is computed from
//     its bytes, and a blob reader fails with [ErrDigestMismatch] or
//     [ErrSizeMismatch] at the end of a stream that is not what was asked for.
//   - Malformed digests and references are rejected before they reach a URL.
//   - Credentials never follow a redirect to another host, go to a token
//     realm on another host only over HTTPS, and a registry not marked
//     [WithInsecure] is never spoken to over plain HTTP.
//   - Every error is an [*Error] naming the operation and reference, wrapping
//     a sentinel ([ErrNotFound], [ErrUnauthorized], ...) for [errors.Is].
//   - One authenticated transport per repository is kept by the [Client], so
//     a sequence of calls costs one ping and one token, not one per call.
//
// For tests, package [github.com/ocisource/ocisource/oci/ocitest] runs an
// in-memory registry.
package oci
