# github-runner: with a jit-config secret (an encoded_jit_config, minted
# for this instance at the hand-off) one JIT runner; else, with runner-url
# and runner-token, $agents runners configured unattended (--ephemeral
# with terminate-after-job), each in its own copy of $RUNNER_DIR. Both
# secrets reach the runner in the environment it reads its inputs from
# (ACTIONS_RUNNER_INPUT_<NAME>, which it clears once read), never on a
# command line, which every user of the instance can read in ps.
: "${RUNNER_DIR:=/opt/actions-runner}"
runner() {
  d=$RUNNER_DIR
  if [ "$SPOTTER_AGENT" -gt 1 ]; then
    d="$RUNNER_DIR-$SPOTTER_AGENT"
    [ -d "$d" ] || cp -R "$RUNNER_DIR" "$d"
  fi
  cd "$d"
  if has_secret jit-config; then
    ACTIONS_RUNNER_INPUT_JITCONFIG=$(secret jit-config) ./run.sh
    return
  fi
  set -- --unattended --url "$(secret runner-url)" --name "$iid-$SPOTTER_AGENT" --work _work
  [ -z "$labels" ] || set -- "$@" --labels "$labels"
  [ "$terminate_after_job" != 1 ] || set -- "$@" --ephemeral
  ACTIONS_RUNNER_INPUT_TOKEN=$(secret runner-token) ./config.sh "$@"
  ./run.sh
}
if has_secret jit-config; then agents=1; fi
run_agents runner
