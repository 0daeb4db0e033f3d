#!/usr/bin/env bash
# An exploring fuzz campaign over every parser: each Fuzz target of the
# packages below runs for DURATION (default 60s), one after the other.
#
#   scripts/fuzz.sh [duration]        e.g. scripts/fuzz.sh 5m
#
# This is not part of CI: CI (and `go test ./...`) runs each target's
# committed corpus only, so the same commit always gives the same answer.
# A failing input the campaign finds is written by `go test` to
# <package>/testdata/fuzz/<Target>/; fix the bug, keep that file (give it
# a name that says what it found) and commit it as a seed.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-60s}"
packages=(./occi/ ./cdmi/ ./linkage/nbd/)
failed=0
for pkg in "${packages[@]}"; do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz'); do
		echo "== $pkg $target ($duration)"
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$duration" -fuzzminimizetime 3s "$pkg"; then
			failed=1
			echo "!! $target found a failing input: see ${pkg}testdata/fuzz/$target/" >&2
		fi
	done
done
exit "$failed"
