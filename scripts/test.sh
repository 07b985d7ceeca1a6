#!/usr/bin/env bash
# test.sh — THE test command: everything CI runs, runnable on a fresh machine.
#
# Installs what is missing (the AWS CLI from Debian's awscli package; headless Chromium
# from chromium-headless-shell, for the page tests; the Vault server,
# built once from its Go module and cached outside the repo), starts a real Vault dev
# server and a three-node Vault Raft cluster with TLS, then runs gofmt, go vet, staticcheck
# and the whole test suite with the race detector. Both Vaults are stopped on exit, whatever happened.
# spotter runs in the tests with tokens holding only deploy/vault/spotter.hcl (the dev
# server's VAULT_TOKEN, and tokens internal/vaulttest makes per test mount); the root token
# (SPOTTER_VAULT_ROOT_TOKEN) sets up and cleans up.
#
# Extra arguments go to `go test` (e.g. scripts/test.sh -run TestServe ./server/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*"; }

step "tools"
command -v go >/dev/null || { echo "Go is required (https://go.dev/doc/install)" >&2; exit 1; }
go version
# The CLI suite runs Debian's awscli package (botocore as Debian ships it), not whatever
# other `aws` a PATH may find first (a pip install, AWS's own v2 bundle).
if ! dpkg -s awscli >/dev/null 2>&1 || [ ! -x /usr/bin/aws ]; then
  echo "installing the AWS CLI (Debian package awscli)"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq awscli >/dev/null
fi
# The page tests drive a real browser: Debian's chromium-headless-shell (the
# headless build alone, no desktop dependencies), through chromedp.
if ! dpkg -s chromium-headless-shell >/dev/null 2>&1 || [ ! -x /usr/bin/chromium-headless-shell ]; then
  echo "installing headless Chromium (Debian package chromium-headless-shell)"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium-headless-shell >/dev/null
fi
export SPOTTER_CHROME=/usr/bin/chromium-headless-shell
tooldir=$(mktemp -d)
ln -s /usr/bin/aws "$tooldir/aws"
export PATH="$tooldir:$PATH"
aws --version
vault_bin=$(scripts/vault-dev.sh build)
export SPOTTER_VAULT_BIN="$vault_bin"
# staticcheck is pinned here, not in go.mod: it is a tool, not a dependency of spotter.
# Installed once into the same cache as the Vault binary.
staticcheck_version=v0.8.2
cache=${SPOTTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/spotter}
staticcheck="$cache/staticcheck-$staticcheck_version/staticcheck"
if [ ! -x "$staticcheck" ]; then
  echo "installing staticcheck $staticcheck_version into $cache"
  GOBIN="$(dirname "$staticcheck")" go install "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version"
fi

vault_state=$(mktemp -d)
cluster_pid=""
cleanup() {
  # A cluster still starting is stopped first, so it cannot start nodes after cluster-stop.
  if [ -n "$cluster_pid" ]; then kill "$cluster_pid" 2>/dev/null || true; wait "$cluster_pid" 2>/dev/null || true; fi
  SPOTTER_VAULT_STATE="$vault_state" scripts/vault-dev.sh cluster-stop >/dev/null 2>&1 || true
  SPOTTER_VAULT_STATE="$vault_state" scripts/vault-dev.sh stop >/dev/null 2>&1 || true
  rm -rf "$vault_state" "$tooldir"
}
trap cleanup EXIT
# The cluster spends most of its ~15 s start waiting on Raft joins: start it now, in the
# background, and collect it after vet.
SPOTTER_VAULT_STATE="$vault_state" scripts/vault-dev.sh cluster >"$vault_state/cluster.env" 2>"$vault_state/cluster.log" &
cluster_pid=$!

step "format, vet, staticcheck, tidy"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './scripts/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2; echo "$unformatted" >&2; exit 1
fi
go vet ./...
"$staticcheck" ./...
# go.mod must say what the code imports: direct requirements marked direct, nothing unused.
go mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy" >&2; exit 1; }

step "Vault dev server"
eval "$(SPOTTER_VAULT_STATE="$vault_state" scripts/vault-dev.sh start)"
export VAULT_ADDR VAULT_TOKEN

step "Vault Raft cluster"
status=0 waited=$SECONDS
wait "$cluster_pid" || status=$?
cluster_pid=""
cat "$vault_state/cluster.log" >&2
echo "waited $((SECONDS - waited)) s for it after vet"
[ "$status" = 0 ] || { echo "the Vault cluster did not start (exit $status)" >&2; exit 1; }
# Only the cluster's SPOTTER_VAULT_* lines: VAULT_ADDR and VAULT_TOKEN stay the dev
# server's; the cluster tests read the token and CA from the cluster's state dir.
eval "$(grep '^export SPOTTER_VAULT_' "$vault_state/cluster.env")"
# Tests that need Vault, the cluster, the AWS CLI or the browser fail instead of skipping when these are set.
export SPOTTER_REQUIRE_VAULT=1 SPOTTER_REQUIRE_VAULT_CLUSTER=1 SPOTTER_REQUIRE_AWSCLI=1 SPOTTER_REQUIRE_BROWSER=1

step "go test"
if [ $# -gt 0 ]; then
  go test -race -count=1 "$@"
else
  go test -race -count=1 ./...
fi
