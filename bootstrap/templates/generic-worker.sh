# generic-worker: $agents workers of the pool's task queue (the
# task-queue-id secret, provisionerId/workerType), each with its own
# config file; with terminate-after-job each runs one task.
worker() {
  q=$(secret task-queue-id)
  cfg="$SPOTTER_DIR/generic-worker-$SPOTTER_AGENT.json"
  tasks=0
  [ "$terminate_after_job" != 1 ] || tasks=1
  printf '{"rootURL":"%s","clientId":"%s","accessToken":"%s","provisionerId":"%s","workerType":"%s","workerGroup":"spotter","workerId":"%s","numberOfTasksToRun":%s,"ed25519SigningKeyLocation":"%s"}\n' \
    "$(secret taskcluster-root-url)" "$(secret taskcluster-client-id)" "$(secret taskcluster-access-token)" \
    "${q%%/*}" "${q#*/}" "$iid-$SPOTTER_AGENT" "$tasks" "$SPOTTER_DIR/ed25519-$SPOTTER_AGENT.key" >"$cfg"
  chmod 600 "$cfg"
  generic-worker run --config "$cfg"
}
run_agents worker
