#!/usr/bin/env bash
# test.sh — THE test command: everything CI runs, runnable on a fresh machine.
#
# Installs what is missing (the AWS CLI from Debian's awscli package; headless Chromium
# from chromium-headless-shell, for the page tests; the Vault server,
# built once from its Go module and cached outside the repo), starts a real Vault dev
# server, then runs gofmt, go vet and the whole test suite with the race detector.
# Vault is stopped on exit, whatever happened.
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

step "format, vet, tidy"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './scripts/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2; echo "$unformatted" >&2; exit 1
fi
go vet ./...
# go.mod must say what the code imports: direct requirements marked direct, nothing unused.
go mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy" >&2; exit 1; }

step "Vault dev server"
vault_state=$(mktemp -d)
cleanup() { SPOTTER_VAULT_STATE="$vault_state" scripts/vault-dev.sh stop >/dev/null 2>&1 || true; rm -rf "$vault_state" "$tooldir"; }
trap cleanup EXIT
eval "$(SPOTTER_VAULT_STATE="$vault_state" scripts/vault-dev.sh start)"
export VAULT_ADDR VAULT_TOKEN
# Tests that need Vault, the AWS CLI or the browser fail instead of skipping when these are set.
export SPOTTER_REQUIRE_VAULT=1 SPOTTER_REQUIRE_AWSCLI=1 SPOTTER_REQUIRE_BROWSER=1

step "go test"
if [ $# -gt 0 ]; then
  go test -race -count=1 "$@"
else
  go test -race -count=1 ./...
fi
