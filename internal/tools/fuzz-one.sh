#!/usr/bin/env bash
# fuzz-one.sh GO PKG NAME FUZZTIME: fuzz one target for FUZZTIME.
#
# Go 1.26's fuzz coordinator can fail a run with a bare "context deadline
# exceeded" when -fuzztime expires while a worker is mid-input on a busy
# machine (golang/go#75804, fixed in Go 1.27). That is not a finding: a real
# one always writes "Failing input written to testdata/fuzz/...". Such a run is
# retried once and then reported as a warning; every other failure fails.
set -uo pipefail
go=$1 pkg=$2 name=$3 fuzztime=$4
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for attempt in 1 2; do
	"$go" test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" </dev/null 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	[ "$rc" -eq 0 ] && exit 0
	if grep -q 'Failing input written' "$log" || ! grep -q 'context deadline exceeded' "$log" \
		|| [ "$(grep -c -E '^\s+\S+\.go:[0-9]+:' "$log")" -gt 0 ]; then
		exit "$rc"
	fi
	echo "==> $name: Go fuzz coordinator deadline race (golang/go#75804), no failing input; attempt $attempt"
done
echo "==> WARNING: $name hit the Go fuzz deadline race twice; no failing input was found"
exit 0
