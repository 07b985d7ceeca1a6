#!/usr/bin/env bash
# vault-dev.sh — a real Vault dev server for spotter's tests and for trying spotter by hand.
#
#   scripts/vault-dev.sh build          build the Vault binary once (cached outside the repo)
#   eval "$(scripts/vault-dev.sh start)" start a dev server on a free loopback port, export its address
#                                       and a least-privilege token for spotter (see below)
#   scripts/vault-dev.sh stop           stop the server that 'start' started
#   scripts/vault-dev.sh run            run a dev server in the foreground
#   eval "$(scripts/vault-dev.sh cluster)" start a three-node Raft cluster with TLS, export its address
#   scripts/vault-dev.sh cluster-stop   stop the cluster that 'cluster' started and remove its state
#
# The cluster (state in $SPOTTER_VAULT_CLUSTER_STATE, default $SPOTTER_VAULT_STATE/cluster) is
# three `vault server` processes on loopback ports in 18300-18399, each with integrated
# storage (raft) in its own directory and retry_join towards the other two, TLS on every
# API listener from a CA this script makes (Raft and request forwarding between nodes use
# Vault's own cluster TLS), initialised with one unseal key and unsealed. It
# prints VAULT_ADDR (node 1), VAULT_TOKEN (root), VAULT_CACERT and SPOTTER_VAULT_NODES (all
# three API addresses), plus SPOTTER_VAULT_CLUSTER_STATE for internal/vaulttest, which kills
# and restarts nodes through the pid files and unseal key kept there. 'stop' leaves it alone.
#
# 'start' sets the dev server up as an operator sets up production (README, "Deployment"):
# with the root token it mounts KV v2 at spotter/ and transit at transit/, creates the two
# transit keys, writes deploy/vault/spotter.hcl as the policy "spotter" and makes a
# renewable token with that policy alone. It exports that token as VAULT_TOKEN — what
# `spotter serve` and the tests run spotter with — and the root token, for setup only, as
# SPOTTER_VAULT_ROOT_TOKEN.
#
# Debian packages no Vault, so we build the real server from its Go module (pinned in
# scripts/tools/go.mod). The first build takes about 6 minutes on 2 cores; later runs reuse
# the binary in $SPOTTER_CACHE (default ~/.cache/spotter).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${SPOTTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/spotter}
vault_version=$(awk '$1=="require" && $2=="github.com/hashicorp/vault" {print $3}' "$here/tools/go.mod")
bin="$cache/vault-$vault_version"
state=${SPOTTER_VAULT_STATE:-$cache/vault-dev}

log() { printf 'vault-dev: %s\n' "$*" >&2; }

build() {
  if [ -x "$bin" ]; then
    echo "$bin"
    return
  fi
  command -v go >/dev/null || { log "go is not installed"; exit 1; }
  mkdir -p "$cache"
  log "building Vault $vault_version from its Go module (first time only, ~6 min on 2 cores)"
  # go mod tidy fails on that module's test-only imports, so let the build resolve and
  # record what it needs; the go.sum it writes is committed.
  (cd "$here/tools" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin.tmp" github.com/hashicorp/vault)
  mv "$bin.tmp" "$bin"
  log "built $bin"
  echo "$bin"
}

free_port() {
  local p
  for p in $(seq 18200 18299); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  log "no free port in 18200-18299"
  exit 1
}

start() {
  build >/dev/null
  mkdir -p "$state"
  if [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null; then
    cat "$state/env"
    return
  fi
  local port token
  port=${VAULT_DEV_PORT:-$(free_port)}
  token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  # The dev server keeps everything in memory and starts unsealed; the root token is random
  # per start so a stray server on a shared machine is not an open door.
  "$bin" server -dev -dev-root-token-id="$token" -dev-listen-address="127.0.0.1:$port" \
    -dev-no-store-token >"$state/log" 2>&1 &
  echo $! >"$state/pid"
  local addr="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    if curl -fsS "$addr/v1/sys/health" >/dev/null 2>&1; then
      local spotter_token
      spotter_token=$(provision "$addr" "$token")
      printf 'export VAULT_ADDR=%s\nexport VAULT_TOKEN=%s\nexport SPOTTER_VAULT_ROOT_TOKEN=%s\n' \
        "$addr" "$spotter_token" "$token" | tee "$state/env"
      log "Vault dev server at $addr (pid $(cat "$state/pid"), log $state/log)"
      return
    fi
    kill -0 "$(cat "$state/pid")" 2>/dev/null || { log "Vault exited:"; tail -20 "$state/log" >&2; exit 1; }
    sleep 0.1
  done
  log "Vault did not become healthy in 10 s"; tail -20 "$state/log" >&2
  exit 1
}

# provision ADDR ROOT_TOKEN: the one-time setup a privileged token does (mounts, keys, the
# policy), then print a token that holds only deploy/vault/spotter.hcl.
provision() {
  local v=(env VAULT_ADDR="$1" VAULT_TOKEN="$2" "$bin")
  {
    "${v[@]}" secrets enable -path=spotter -version=2 kv
    "${v[@]}" secrets enable -path=transit transit
    "${v[@]}" write -f transit/keys/spotter-credentials type=aes256-gcm96 derived=true
    "${v[@]}" write -f transit/keys/spotter-tokens type=ed25519
    "${v[@]}" policy write spotter "$here/../deploy/vault/spotter.hcl"
  } >>"$state/log" 2>&1 || { log "provisioning the dev server failed:"; tail -5 "$state/log" >&2; exit 1; }
  "${v[@]}" token create -policy=spotter -no-default-policy -period=24h -field=token
}

stop() {
  if [ -f "$state/pid" ]; then
    kill "$(cat "$state/pid")" 2>/dev/null || true
    rm -f "$state/pid" "$state/env"
  fi
}

source "$here/vault-cluster.sh"

case "${1:-start}" in
  build) build ;;
  start) start ;;
  stop) stop ;;
  run) build >/dev/null; exec "$bin" server -dev -dev-listen-address="127.0.0.1:${VAULT_DEV_PORT:-8200}" ;;
  bin) build ;;
  cluster) cluster ;;
  cluster-stop) cluster_stop ;;
  *) echo "usage: $0 build|start|stop|run|bin|cluster|cluster-stop" >&2; exit 2 ;;
esac
