# Fetch this instance's secrets from spotter, once, and write them 0600
# under $SPOTTER_DIR/secrets (scoped ones under secrets/<scope>/).
set -eu
: "${SPOTTER_DIR:=/etc/spotter}"
: "${SPOTTER_IMDS:=http://169.254.169.254}"
: "${SPOTTER_POWEROFF:=shutdown -h now}"
umask 077
mkdir -p "$SPOTTER_DIR/secrets"
imds_token=$(curl -fsS -m 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$SPOTTER_IMDS/latest/api/token" 2>/dev/null || true)
md() {
  if [ -n "$imds_token" ]; then
    curl -fsS -m 5 -H "X-aws-ec2-metadata-token: $imds_token" "$SPOTTER_IMDS/latest/$1"
  else
    curl -fsS -m 5 "$SPOTTER_IMDS/latest/$1"
  fi
}
iid=$(md meta-data/instance-id)
doc=$(md dynamic/instance-identity/document 2>/dev/null | base64 | tr -d '\n' || true)
sig=$(md dynamic/instance-identity/signature 2>/dev/null | tr -d '\n' || true)
grant="$SPOTTER_DIR/.grant"
# spotter's own (self-signed) certificate, when the user data carries it.
set --
if [ -n "${SPOTTER_CA_PEM:-}" ]; then
  printf '%s\n' "$SPOTTER_CA_PEM" >"$SPOTTER_DIR/spotter-ca.pem"
  set -- --cacert "$SPOTTER_DIR/spotter-ca.pem"
fi
# The credential goes in the body, never on a command line (ps shows those).
printf '{"credential":"%s","instanceId":"%s","document":"%s","signature":"%s"}' \
  "$SPOTTER_CREDENTIAL" "$iid" "$doc" "$sig" |
  curl -fsS -m 30 --retry 5 --retry-connrefused -H 'Content-Type: application/json' -H 'Accept: text/plain' \
    --data-binary @- -o "$grant" "$@" "$SPOTTER_URL/v1/instances/bootstrap" || {
  echo "spotter bootstrap refused; powering off" >&2
  $SPOTTER_POWEROFF
  exit 1
}
SPOTTER_CREDENTIAL=
agents=1
terminate_after_job=0
labels=
heartbeat_every=60
heartbeat_cred=
while read -r kind scope name value; do
  case "$kind" in
  agents) agents=$scope ;;
  terminate-after-job) terminate_after_job=$scope ;;
  label) labels="${labels:+$labels,}$scope" ;;
  heartbeat) heartbeat_every=$scope heartbeat_cred=$name ;;
  secret)
    d="$SPOTTER_DIR/secrets"
    [ "$scope" = "-" ] || d="$d/$scope"
    mkdir -p "$d"
    printf '%s' "$value" | base64 -d >"$d/$name"
    chmod 600 "$d/$name"
    ;;
  esac
done <"$grant"
rm -f "$grant"
# Heartbeats, for as long as this script (and so its agents) runs: spotter
# replaces and ends an instance that stops sending them (the pool's
# heartbeatTimeout). The credential goes in the body; printf is built in.
if [ -n "$heartbeat_cred" ]; then
  (
    while sleep "${SPOTTER_HEARTBEAT_EVERY:-$heartbeat_every}" && kill -0 "$$" 2>/dev/null; do
      printf '{"credential":"%s","instanceId":"%s"}' "$heartbeat_cred" "$iid" |
        curl -fsS -m 10 -H 'Content-Type: application/json' --data-binary @- -o /dev/null "$@" "$SPOTTER_URL/v1/instances/heartbeat" || true
    done
  ) </dev/null >/dev/null 2>&1 &
fi
secret() { cat "$SPOTTER_DIR/secrets/$1"; }
has_secret() { [ -f "$SPOTTER_DIR/secrets/$1" ]; }
# run_agents starts $agents copies of "$@" (each told its index in
# SPOTTER_AGENT), waits for all, then powers off with terminate-after-job.
run_agents() {
  i=1
  pids=
  while [ "$i" -le "$agents" ]; do
    SPOTTER_AGENT=$i "$@" &
    pids="$pids $!"
    i=$((i + 1))
  done
  status=0
  for p in $pids; do wait "$p" || status=$?; done
  if [ "$terminate_after_job" = 1 ]; then $SPOTTER_POWEROFF; fi
  return "$status"
}
