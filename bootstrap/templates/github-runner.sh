# github-runner: with jit-config secrets (encoded_jit_configs, minted for
# this instance at the hand-off: jit-config for its first job slot,
# jit-config-N for slot N) a JIT runner per config; else, with runner-url
# and runner-token, $agents runners configured unattended (--ephemeral
# with terminate-after-job). Each runs in its own copy of $RUNNER_DIR.
# The config or token reaches the runner in the environment it reads its
# inputs from (ACTIONS_RUNNER_INPUT_<NAME>, which it clears once read),
# never on a command line, which every user of the instance can read in ps.
: "${RUNNER_DIR:=/opt/actions-runner}"
runner() {
  d=$RUNNER_DIR
  if [ "$SPOTTER_AGENT" -gt 1 ]; then
    d="$RUNNER_DIR-$SPOTTER_AGENT"
    [ -d "$d" ] || cp -R "$RUNNER_DIR" "$d"
  fi
  cd "$d"
  if has_secret jit-config; then
    c=jit-config
    [ "$SPOTTER_AGENT" -eq 1 ] || c="jit-config-$SPOTTER_AGENT"
    ACTIONS_RUNNER_INPUT_JITCONFIG=$(secret "$c") ./run.sh
    return
  fi
  set -- --unattended --url "$(secret runner-url)" --name "$iid-$SPOTTER_AGENT" --work _work
  [ -z "$labels" ] || set -- "$@" --labels "$labels"
  [ "$terminate_after_job" != 1 ] || set -- "$@" --ephemeral
  ACTIONS_RUNNER_INPUT_TOKEN=$(secret runner-token) ./config.sh "$@"
  ./run.sh
}
# One JIT runner per config: a pool-wide jit-config set by hand is one.
if has_secret jit-config; then
  n=1
  while has_secret "jit-config-$((n + 1))"; do n=$((n + 1)); done
  [ "$n" -ge "$agents" ] || agents=$n
fi
run_agents runner
