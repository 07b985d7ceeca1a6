# github-runner: with a jit-config secret (an encoded_jit_config) one JIT
# runner; else, with runner-url and runner-token, $agents runners
# configured unattended (--ephemeral with terminate-after-job), each in its
# own copy of $RUNNER_DIR.
: "${RUNNER_DIR:=/opt/actions-runner}"
runner() {
  d=$RUNNER_DIR
  if [ "$SPOTTER_AGENT" -gt 1 ]; then
    d="$RUNNER_DIR-$SPOTTER_AGENT"
    [ -d "$d" ] || cp -R "$RUNNER_DIR" "$d"
  fi
  cd "$d"
  if has_secret jit-config; then
    ./run.sh --jitconfig "$(secret jit-config)"
    return
  fi
  set -- --unattended --url "$(secret runner-url)" --token "$(secret runner-token)" --name "$iid-$SPOTTER_AGENT" --work _work
  [ -z "$labels" ] || set -- "$@" --labels "$labels"
  [ "$terminate_after_job" != 1 ] || set -- "$@" --ephemeral
  ./config.sh "$@"
  ./run.sh
}
if has_secret jit-config; then agents=1; fi
run_agents runner
