# generic-worker: $agents workers of the pool's task queue (the
# task-queue-id secret, provisionerId/workerType), each with its own
# config file; with terminate-after-job each runs one task.
# The config is JSON written by printf: a value with a quote, a backslash
# or a control character would break out of its string, so none may.
for n in taskcluster-root-url taskcluster-client-id taskcluster-access-token task-queue-id; do
  case "$(secret "$n")" in *'"'* | *'\'* | *[[:cntrl:]]*)
    echo "spotter bootstrap: secret $n holds a quote, backslash or control character; refusing to write it into JSON" >&2
    exit 1 ;;
  esac
done
worker() {
  q=$(secret task-queue-id)
  cfg="$SPOTTER_DIR/generic-worker-$SPOTTER_AGENT.json"
  tasks=0
  [ "$terminate_after_job" != 1 ] || tasks=1
  # workerId is the instance id (Taskcluster's own rule), "-n" added when
  # the instance runs several: spotter reads from it where tasks run.
  wid=$iid
  [ "$agents" -le 1 ] || wid="$iid-$SPOTTER_AGENT"
  printf '{"rootURL":"%s","clientId":"%s","accessToken":"%s","provisionerId":"%s","workerType":"%s","workerGroup":"spotter","workerId":"%s","numberOfTasksToRun":%s,"ed25519SigningKeyLocation":"%s"}\n' \
    "$(secret taskcluster-root-url)" "$(secret taskcluster-client-id)" "$(secret taskcluster-access-token)" \
    "${q%%/*}" "${q#*/}" "$wid" "$tasks" "$SPOTTER_DIR/ed25519-$SPOTTER_AGENT.key" >"$cfg"
  chmod 600 "$cfg"
  generic-worker run --config "$cfg"
}
run_agents worker
