# buildkite-agent: one agent process spawning $agents workers; each job
# gets the pool's env.* secrets and its pipeline's (secrets/pipeline/<slug>)
# through an environment hook, as the Elastic CI Stack's secrets bucket does.
mkdir -p "$SPOTTER_DIR/hooks"
cat >"$SPOTTER_DIR/hooks/environment" <<HOOK
for f in "$SPOTTER_DIR"/secrets/env.* "$SPOTTER_DIR/secrets/pipeline/\${BUILDKITE_PIPELINE_SLUG:-none}"/env.*; do
  if [ -f "\$f" ]; then export "\${f##*/env.}=\$(cat "\$f")"; fi
done
HOOK
BUILDKITE_AGENT_TOKEN=$(secret agent-token)
export BUILDKITE_AGENT_TOKEN
set -- start --name "$iid-%spawn" --spawn "$agents" --hooks-path "$SPOTTER_DIR/hooks"
# The pool's labels of the form key:value are the agent's tags (queue:linux
# is Buildkite's queue=linux); the rest are GitHub-style and skipped.
tags=
for l in $(echo "$labels" | tr ',' ' '); do
  case "$l" in *:*) tags="${tags:+$tags,}${l%%:*}=${l#*:}" ;; esac
done
[ -z "$tags" ] || set -- "$@" --tags "$tags"
[ "$terminate_after_job" != 1 ] || set -- "$@" --disconnect-after-job
status=0
buildkite-agent "$@" || status=$?
if [ "$terminate_after_job" = 1 ]; then $SPOTTER_POWEROFF; fi
exit "$status"
