#!/usr/bin/env bash
# bench.sh — launches/s and latency of spotter end to end on this machine,
# beside a baseline making the same Vault and AWS calls without spotter.
#
#   scripts/bench.sh                          8 workers × 10 s, 3 runs of each phase
#   scripts/bench.sh -workers 16 -duration 20s -runs 1
#   scripts/bench.sh -h                       every flag
#   scripts/bench.sh chaos                    3 replicas on a Vault Raft cluster: retried
#                                             launches, one TOTP code 50 times, the Vault
#                                             leader killed under load (chaos -h: flags)
#
# It starts a private Vault dev server (scripts/vault-dev.sh, its own state
# dir), builds spotter and the bench program (scripts/bench), and runs the
# bench, which starts awssim and `spotter serve` on 127.0.0.1 and prints a
# Markdown table for the README. Everything it started is stopped on exit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
work=$(mktemp -d "${TMPDIR:-/tmp}/spotter-bench.XXXXXX")
export SPOTTER_VAULT_STATE="$work/vault"

cleanup() {
  scripts/vault-dev.sh cluster-stop >/dev/null 2>&1 || true
  scripts/vault-dev.sh stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mode=()
if [ "${1:-}" = chaos ]; then mode=(chaos); shift; fi
for a in "$@"; do
  case "$a" in -h|-help|--help) go run ./scripts/bench "${mode[@]}" -h; exit 0 ;; esac
done

# Never a shared or remote Vault: the bench writes mounts and an audit device,
# and chaos kills nodes of its own cluster.
unset VAULT_ADDR VAULT_TOKEN VAULT_DEV_PORT SPOTTER_VAULT_NODES SPOTTER_VAULT_CLUSTER_STATE
if [ ${#mode[@]} -gt 0 ]; then
  SPOTTER_VAULT_BIN=$(scripts/vault-dev.sh build)
  export SPOTTER_VAULT_BIN
  eval "$(scripts/vault-dev.sh cluster)"
  export SPOTTER_VAULT_NODES SPOTTER_VAULT_CLUSTER_STATE
else
  eval "$(scripts/vault-dev.sh start)"
  # The bench enables an audit device and reads around spotter: it needs the
  # root token, not the least-privilege VAULT_TOKEN that start exports.
  export VAULT_TOKEN="$SPOTTER_VAULT_ROOT_TOKEN"
fi

go build -o "$work/spotter" .
go build -o "$work/bench" ./scripts/bench
echo "bench: scripts/bench.sh ${mode[*]} $*" >&2
"$work/bench" "${mode[@]}" -spotter "$work/spotter" "$@"
