#!/usr/bin/env bash
# mutation.sh — mutation testing with gremlins, one package at a time, each
# mutant judged by that package's OWN tests (not the whole suite).
#
#   scripts/mutation.sh                      # token policy capability command
#   scripts/mutation.sh ./policy ./inflight  # the packages named
#
# Installs the pinned gremlins outside the repo (~/.cache/spotter), starts a
# Vault dev server when VAULT_ADDR is unset (capability's tests run against
# both stores), and prints each package's efficacy (killed / (killed+lived)).
# Slow: every mutant rebuilds and reruns a package's tests; expect minutes
# per package on two cores. Results land in $SPOTTER_MUTATION_OUT (default
# a temp dir), one JSON file per package.
#
# Tuning: GREMLINS_TIMEOUT_COEFFICIENT (default 5) times the package's own
# test time is how long one mutant may run before it counts as timed out.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

version=v0.6.0
bindir="${XDG_CACHE_HOME:-$HOME/.cache}/spotter/gremlins-$version"
gremlins="$bindir/gremlins"
if [ ! -x "$gremlins" ]; then
  echo "installing gremlins $version into $bindir" >&2
  mkdir -p "$bindir"
  # Outside the module, so the install neither reads nor edits go.mod.
  (cd / && GOBIN="$bindir" GOFLAGS= go install "github.com/go-gremlins/gremlins/cmd/gremlins@$version")
fi

if [ $# -eq 0 ]; then
  set -- ./token ./policy ./capability ./command
fi

if [ -z "${VAULT_ADDR:-}" ]; then
  vault_state=$(mktemp -d)
  trap 'SPOTTER_VAULT_STATE="$vault_state" scripts/vault-dev.sh stop >/dev/null 2>&1 || true; rm -rf "$vault_state"' EXIT
  eval "$(SPOTTER_VAULT_STATE="$vault_state" scripts/vault-dev.sh start)"
  export VAULT_ADDR VAULT_TOKEN
fi
# A test that needs Vault fails rather than skips: a skipped test kills nothing.
export SPOTTER_REQUIRE_VAULT=1

out="${SPOTTER_MUTATION_OUT:-$(mktemp -d)}"
mkdir -p "$out"
# -count=1: gremlins sets each mutant's timeout from the time of its first,
# coverage run; a cached run takes milliseconds and every mutant would then
# "time out".
export GOFLAGS="${GOFLAGS:-} -count=1"
# Not --test-cpu: gremlins v0.6.0 passes it as one argument ("-cpu 1") that
# go test refuses, and every mutant is then reported killed.
for pkg in "$@"; do
  name=$(basename "$pkg")
  echo "== $pkg ($(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
  "$gremlins" unleash --workers 1 \
    --timeout-coefficient "${GREMLINS_TIMEOUT_COEFFICIENT:-5}" \
    --output-statuses lt -o "$out/$name.json" "$pkg"
done
echo "results: $out"
