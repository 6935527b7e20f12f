#!/usr/bin/env bash
# mutations.sh: break each guarantee the README's "What Fetch guarantees"
# and "Proof" tables promise, one at a time, in a scratch copy of the
# committed tree, and check that the test named for it fails. A mutation
# whose test still passes is a promise no test protects: the script says
# which and exits 1. A mutation whose code is not found (the code moved)
# also fails the run, so the list stays true.
#
#   internal/tools/mutations.sh            # every mutation
#   internal/tools/mutations.sh lock swap  # only those named
#
# Not part of `make test` (it rebuilds a package per mutation, a few
# minutes in all); run it when a guarantee's code or test changes.
set -euo pipefail

root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
scratch=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$scratch" >/dev/null 2>&1 || rm -rf "$scratch"' EXIT
git -C "$root" worktree add --detach --quiet "$scratch" HEAD
cd "$scratch"
export GOTOOLCHAIN=local GOFLAGS=-count=1

# mutate NAME FILE OLD NEW PACKAGE TEST: replace the literal OLD by NEW in
# FILE, run TEST in PACKAGE, expect it to fail, and restore FILE.
failures=0
mutate() {
	local name=$1 file=$2 old=$3 new=$4 pkg=$5 test=$6
	if [ -n "${only:-}" ] && [[ " $only " != *" $name "* ]]; then
		return
	fi
	if ! python3 - "$file" "$old" "$new" <<'EOF'
import sys
path, old, new = sys.argv[1], sys.argv[2], sys.argv[3]
s = open(path).read()
if s.count(old) != 1:
    sys.exit(f"{path}: the code to mutate appears {s.count(old)} times (want 1): {old!r}")
open(path, "w").write(s.replace(old, new))
EOF
	then
		echo "MISSING  $name: the code moved; update internal/tools/mutations.sh"
		failures=$((failures + 1))
		return
	fi
	if ! go build "$pkg" >/tmp/mutation-$name.log 2>&1; then
		echo "BROKEN   $name: the mutated code does not build; fix the mutation"
		failures=$((failures + 1))
	elif go test "$pkg" -run "$test" >/tmp/mutation-$name.log 2>&1; then
		echo "SURVIVED $name: $pkg $test passed with the guarantee broken"
		failures=$((failures + 1))
	else
		echo "caught   $name: $pkg $test fails ($(grep -m1 -E -- '--- FAIL|FAIL|panic' /tmp/mutation-$name.log | tr -s ' '))"
	fi
	git checkout --quiet -- "$file"
}
only="$*"

mutate swap tarball/atomic_linux.go \
	'err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)' \
	'var err error = unix.ENOSYS' \
	./tarball '^TestExtractSwapReaderAlwaysFindsTree$'

mutate record-tree fetcher.go \
	'if id, err := treeID(content); err != nil || id != rec.Tree {' \
	'if id, err := treeID(content); err != nil || id == "" {' \
	. '^TestFetchRecordNamesItsTree$'

mutate lock lock_unix.go \
	'	if err := flock.Lock(ctx, f); err != nil {' \
	'	if err := error(nil); err != nil {' \
	. '^TestFetchSerialisedAcrossFetchers$'

mutate unmanaged target.go \
	'return nil, &UnmanagedDirError{Dir: t.dir, Record: t.record, Entries: names}' \
	'return nil, nil' \
	. '^TestFetchRefusesTargets$'

mutate stale-temp tarball/layout.go \
	'return errors.Join(removeIfPresent(tmp), removeIfPresent(old))' \
	'_, _ = tmp, old
	return nil' \
	./tarball '^TestRecover$'

mutate token-cap oci/transport.go \
	'return g.maxErrorBody, "token or auxiliary response body"' \
	'return 0, "token or auxiliary response body"' \
	./oci '^(TestTokenBodyCapped|TestGuardCapsByOperation)$'

mutate request-count fetcher.go \
	'	revision := string(ref.Digest)' \
	'	_, _ = f.client.Resolve(ctx, ref)
	_, _ = f.client.Resolve(ctx, ref)
	revision := string(ref.Digest)' \
	. '^TestFetchRequestCounts$'

mutate extract-options fetcher.go \
	'	opts := append([]tarball.Option{}, f.extractOpts...)' \
	'	opts := []tarball.Option{}' \
	. '^TestFetchCacheCoversExtractPolicy$'

mutate ocifetch-max-size examples/ocifetch/fetch.go \
	'ocisource.WithExtractOptions(tarball.WithMaxTotalBytes(maxSize), tarball.WithMaxFileBytes(maxSize)),' \
	'ocisource.WithExtractOptions(tarball.WithMaxEntries(tarball.DefaultMaxEntries)),' \
	./examples/ocifetch '^TestRunFailures$'

mutate regexp-anchor verify/cosign/options.go \
	'return "^(?:" + re + ")$"' \
	'return "^" + re + "$"' \
	./verify/cosign '^TestKeyless$'

mutate bundle-digest verify/cosign/bundle.go \
	'if md == nil || hex.EncodeToString(md.GetDigest()) != d.Hex() {' \
	'if false && (md == nil || hex.EncodeToString(md.GetDigest()) != d.Hex()) {' \
	./verify/cosign '^TestMessageSignatureForAnotherDigest$'

mutate blob-digest oci/blob.go \
	'if got := Digest(v.want.Algorithm() + ":" + hex.EncodeToString(v.h.Sum(nil))); got != v.want {' \
	'if got := Digest(v.want.Algorithm() + ":" + hex.EncodeToString(v.h.Sum(nil))); got == "" {' \
	. '^TestFetchFailuresLeaveDirUntouched$'

mutate readahead-join tarball/stream.go \
	'	close(ra.done)
	<-ra.exited' \
	'	close(ra.done)
	return' \
	./tarball '^TestExtractOwnsNoGoroutineAfterReturn$'

mutate ignore-ancestors tarball/exclude.go \
	'		case kindExcluded:
			return true, nil' \
	'		case kindExcluded:
			cur = child' \
	./tarball '^TestExtractExclude$'

mutate platform-cache-key fetcher.go \
	'}{p.repo.URL(), src.Layer.MediaType, string(p.op), verifier, src.Ignore, f.extractSettings, f.maxLayerSize, platform})' \
	'}{p.repo.URL(), src.Layer.MediaType, string(p.op), verifier, src.Ignore, f.extractSettings, f.maxLayerSize, platform[:0]})' \
	. '^TestFetchIndexCachePerPlatform$'

mutate index-depth oci/index.go \
	'		if depth == MaxIndexDepth {' \
	'		if depth == 100*MaxIndexDepth {' \
	. '^TestFetchNestedIndex$'

mutate copy-layout-lock oci/layout_write.go \
	'	unlock, err := lockDir(ctx, t.dir)' \
	'	unlock, err := func() {}, error(nil)' \
	./oci '^TestCopyConcurrentIntoOneLayout$'

mutate copy-attachments oci/copy.go \
	'	o := copyOptions{referrers: true, cosignTags: true, maxManifests: DefaultCopyMaxManifests, jobs: DefaultCopyJobs}' \
	'	o := copyOptions{referrers: false, cosignTags: true, maxManifests: DefaultCopyMaxManifests, jobs: DefaultCopyJobs}' \
	. '^TestMirrorSignedToLayoutOffline$'

mutate blame-content fetcher.go \
	'		err = blameContent(err, body, layer.Size)' \
	'		_ = blameContent' \
	. '^TestMirrorSignedToLayoutOffline$'

mutate single-label-host oci/client.go \
	'	reg, err := name.NewRegistry(host, c.nameOptions()...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("%w %q: %v", ErrInvalidReference, ref.Repo(), err)
	}
	// The repository path was checked by Reference.Validate.
	return reg.Repo(path), nil' \
	'	return name.NewRepository(host+"/"+path, c.nameOptions()...)' \
	./oci '^TestSingleLabelRegistryHost$'

mutate token-merge oci/tokens.go \
	'n == 0 || len(batches[n-1]) == maxTokenScopes {' \
	'n == 0 || len(batches[n-1]) == 1 {' \
	./oci '^TestTokenExchangesMerged$'

mutate reconciler-prepare reconciler.go \
	'	r.prepare(ctx)' \
	'	_ = r.prepare' \
	. '^TestReconcilerPreparesTokens$'

mutate linked-keep-previous tarball/layout.go \
	'		case n == keep:' \
	'		case n == keep && false:' \
	./tarball '^TestExtractIntoMountPoint$'

if [ "$failures" -gt 0 ]; then
	echo "$failures mutation(s) not caught"
	exit 1
fi
echo "every mutation caught"
