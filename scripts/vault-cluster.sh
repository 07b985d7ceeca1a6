# vault-cluster.sh — the three-node Raft cluster of scripts/vault-dev.sh (sourced by it;
# uses its $bin, $state, build, log). See vault-dev.sh's header for the interface.

cluster_state=${SPOTTER_VAULT_CLUSTER_STATE:-$state/cluster}
cluster_nodes=3

# free_ports N: N distinct loopback ports in 18300-18399 that nothing listens on. The
# search starts at a random port, so two clusters starting at once seldom pick the same.
free_ports() {
  local want=$1 got=() p off=$((RANDOM % 100))
  for p in $(seq $((18300 + off)) 18399) $(seq 18300 $((18299 + off))); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      got+=("$p")
      [ "${#got[@]}" -ge "$want" ] && { echo "${got[@]}"; return; }
    fi
  done
  log "fewer than $want free ports in 18300-18399"
  exit 1
}

# cluster_certs: a CA and one certificate per node (EC P-256), each valid for 127.0.0.1
# and localhost, so the API and retry_join are verified against the CA, never skipped.
cluster_certs() {
  local cs=$cluster_state i
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 2 \
    -subj "/CN=spotter test Vault CA" -keyout "$cs/ca-key.pem" -out "$cs/ca.pem" 2>/dev/null
  for i in $(seq 1 "$cluster_nodes"); do
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
      -subj "/CN=node$i" -keyout "$cs/node$i/key.pem" -out "$cs/node$i/csr.pem" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:node%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$i" >"$cs/node$i/ext.cnf"
    openssl x509 -req -in "$cs/node$i/csr.pem" -CA "$cs/ca.pem" -CAkey "$cs/ca-key.pem" -CAcreateserial \
      -days 2 -extfile "$cs/node$i/ext.cnf" -out "$cs/node$i/cert.pem" 2>/dev/null
  done
  # Nobody signs anything more with the CA key.
  rm -f "$cs/ca-key.pem" "$cs/ca.srl" "$cs"/node*/csr.pem "$cs"/node*/ext.cnf
}

# cluster_config I API... CLUSTER...: node I's config. performance_multiplier 1 is
# Raft's production timing (Vault's default, 5, is for slow disks): leader loss is noticed
# in about a second, not five.
cluster_config() {
  local i=$1 cs=$cluster_state j
  local api=("${@:2:$cluster_nodes}") clu=("${@:$((2 + cluster_nodes)):$cluster_nodes}")
  {
    printf 'storage "raft" {\n  path = "%s"\n  node_id = "node%s"\n  performance_multiplier = 1\n' "$cs/node$i/raft" "$i"
    for j in $(seq 1 "$cluster_nodes"); do
      [ "$j" = "$i" ] && continue
      printf '  retry_join {\n    leader_api_addr = "https://127.0.0.1:%s"\n    leader_ca_cert_file = "%s"\n  }\n' "${api[$((j - 1))]}" "$cs/ca.pem"
    done
    printf '}\n'
    printf 'listener "tcp" {\n  address = "127.0.0.1:%s"\n  cluster_address = "127.0.0.1:%s"\n' "${api[$((i - 1))]}" "${clu[$((i - 1))]}"
    printf '  tls_cert_file = "%s"\n  tls_key_file = "%s"\n  tls_client_ca_file = "%s"\n}\n' "$cs/node$i/cert.pem" "$cs/node$i/key.pem" "$cs/ca.pem"
    printf 'api_addr = "https://127.0.0.1:%s"\ncluster_addr = "https://127.0.0.1:%s"\n' "${api[$((i - 1))]}" "${clu[$((i - 1))]}"
    printf 'disable_mlock = true\nui = false\nlog_level = "info"\n'
  } >"$cs/node$i/vault.hcl"
}

# cluster_start_node I: run node I in the background, its pid in nodeI/pid.
cluster_start_node() {
  local i=$1 cs=$cluster_state
  "$bin" server -config="$cs/node$i/vault.hcl" >>"$cs/node$i/log" 2>&1 &
  echo $! >"$cs/node$i/pid"
}

# node_vault I ARGS...: the vault CLI against node I, over TLS checked against the CA.
node_vault() {
  local i=$1
  shift
  VAULT_ADDR="https://127.0.0.1:$(sed -n "${i}p" "$cluster_state/ports")" VAULT_CACERT="$cluster_state/ca.pem" \
    VAULT_CLIENT_TIMEOUT=5s "$bin" "$@"
}

# node_health I: sys/health's status for node I (200 active, 429 standby, 501 not
# initialised, 503 sealed), or 000 when it does not answer.
node_health() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$cluster_state/ca.pem" \
    "https://127.0.0.1:$(sed -n "${1}p" "$cluster_state/ports")/v1/sys/health" || true
}

cluster_fail() {
  local cs=$cluster_state i
  log "cluster: $*"
  for i in $(seq 1 "$cluster_nodes"); do
    printf '\n--- node%s log (last 15 lines) ---\n' "$i" >&2
    tail -15 "$cs/node$i/log" >&2 2>/dev/null || true
  done
  cluster_stop
  exit 1
}

# cluster_wait WHAT SECONDS CMD...: run CMD every 0.2 s until it succeeds, or fail.
cluster_wait() {
  local what=$1 secs=$2 n
  shift 2
  for n in $(seq 1 $((secs * 5))); do
    "$@" && return 0
    sleep 0.2
  done
  cluster_fail "$what: not done after ${secs} s"
}

cluster_alive() {
  local i
  [ -f "$cluster_state/env" ] || return 1
  for i in $(seq 1 "$cluster_nodes"); do
    kill -0 "$(cat "$cluster_state/node$i/pid" 2>/dev/null)" 2>/dev/null || return 1
  done
}

# voters_ready: one leader and every node a voter, as list-peers reports them.
voters_ready() {
  local peers
  # Columns: Node Address State Voter.
  peers=$(node_vault 1 operator raft list-peers 2>/dev/null) || return 1
  [ "$(awk '$3 == "leader"' <<<"$peers" | wc -l)" = 1 ] &&
    [ "$(awk '$4 == "true"' <<<"$peers" | wc -l)" = "$cluster_nodes" ]
}

cluster() {
  build >/dev/null
  local cs=$cluster_state i started=$SECONDS
  if cluster_alive; then
    cat "$cs/env"
    return
  fi
  cluster_stop
  mkdir -p "$cs"
  chmod 700 "$cs"
  local ports
  read -r -a ports <<<"$(free_ports $((2 * cluster_nodes)))"
  printf '%s\n' "${ports[@]:0:$cluster_nodes}" >"$cs/ports"
  for i in $(seq 1 "$cluster_nodes"); do mkdir -p "$cs/node$i/raft"; done
  cluster_certs
  for i in $(seq 1 "$cluster_nodes"); do
    cluster_config "$i" "${ports[@]}"
    cluster_start_node "$i"
  done
  cluster_wait "node1 answering" 20 health_is 1 501
  # The single key and the root token go to 0600 files: tests restart and unseal nodes
  # with them. A test cluster on loopback, never a production layout.
  local out key token
  out=$(node_vault 1 operator init -key-shares=1 -key-threshold=1) || cluster_fail "operator init failed"
  key=$(awk '/^Unseal Key 1:/ {print $4}' <<<"$out")
  token=$(awk '/^Initial Root Token:/ {print $4}' <<<"$out")
  [ -n "$key" ] && [ -n "$token" ] || cluster_fail "operator init printed no key or token"
  (umask 077 && echo "$key" >"$cs/unseal-key" && echo "$token" >"$cs/root-token")
  node_vault 1 operator unseal "$key" >/dev/null || cluster_fail "unseal node1 failed"
  cluster_wait "node1 active" 20 is_active 1
  # Autopilot promotes a joined node to voter once it has been healthy this long (10 s
  # by default); the tests want a voter at once.
  VAULT_TOKEN=$token node_vault 1 operator raft autopilot set-config -server-stabilization-time=1s >/dev/null ||
    cluster_fail "autopilot set-config failed"
  cluster_wait "nodes 2-$cluster_nodes joined and unsealed" 30 unseal_followers "$key"
  export VAULT_TOKEN=$token
  cluster_wait "a leader and $cluster_nodes voters" 30 voters_ready
  unset VAULT_TOKEN
  local nodes="" p
  for p in $(cat "$cs/ports"); do nodes+="${nodes:+,}https://127.0.0.1:$p"; done
  printf 'export VAULT_ADDR=%s\nexport VAULT_TOKEN=%s\nexport VAULT_CACERT=%s\nexport SPOTTER_VAULT_NODES=%s\nexport SPOTTER_VAULT_CLUSTER_STATE=%s\n' \
    "${nodes%%,*}" "$token" "$cs/ca.pem" "$nodes" "$cs" >"$cs/env"
  chmod 600 "$cs/env"
  cat "$cs/env"
  log "Vault Raft cluster of $cluster_nodes nodes at $nodes, ready in $((SECONDS - started)) s (state $cs)"
}

health_is() { [ "$(node_health "$1")" = "$2" ]; }
is_active() { health_is "$1" 200; }

# unseal_followers KEY: give every node but the first the key; true once all report
# unsealed. A node whose retry_join (every 2 s) has not yet reached the leader is not
# initialised, so this is repeated until each has joined.
unseal_followers() {
  local i ok=0
  for i in $(seq 2 "$cluster_nodes"); do
    case $(node_health "$i") in
      200 | 429 | 473) ;;
      *) ok=1; node_vault "$i" operator unseal "$1" >/dev/null 2>&1 || true ;;
    esac
  done
  return $ok
}

cluster_stop() {
  local cs=$cluster_state i pid
  [ -d "$cs" ] || return 0
  for i in $(seq 1 "$cluster_nodes"); do
    pid=$(cat "$cs/node$i/pid" 2>/dev/null) || continue
    kill "$pid" 2>/dev/null || true
  done
  for i in $(seq 1 "$cluster_nodes"); do
    pid=$(cat "$cs/node$i/pid" 2>/dev/null) || continue
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$cs"
}
