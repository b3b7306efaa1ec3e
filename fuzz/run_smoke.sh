#!/usr/bin/env bash
# The fuzzing smoke run for CI: every target for a few seconds, about a minute in all.
#
#   PYTHON=.venv/bin/python bash fuzz/run_smoke.sh        # SECONDS_PER_TARGET=9 by default
#
# Exits non-zero when a target finds a crash, an untyped exception, a failed round trip or an
# input slower than 5 s; the input is saved under fuzz/crashes/. New inputs go to a scratch
# directory, so the committed corpora are not touched. Without atheris the targets replay the
# corpora instead (see fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
SECONDS_PER_TARGET=${SECONDS_PER_TARGET:-9}
TARGETS="codec load_user_data load_chat_data load_bot_data load_callback_data load_conversations"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p fuzz/crashes
status=0
for target in $TARGETS; do
  mkdir -p "$work/$target"
  log="$work/$target.log"
  if "$PYTHON" "fuzz/fuzz_$target.py" \
      -max_total_time="$SECONDS_PER_TARGET" -timeout=5 -dict=fuzz/jsonpersist.dict \
      -artifact_prefix="fuzz/crashes/$target-" "$work/$target" "fuzz/corpus/$target" \
      >"$log" 2>&1; then
    summary=$(grep -E '^(Done [0-9]+ runs|replayed )' "$log" | tail -n 1 || true)
    echo "fuzz_$target: ${summary:-finished}"
  else
    echo "fuzz_$target: FINDING (input saved under fuzz/crashes/)"
    tail -n 60 "$log"
    status=1
  fi
done
exit "$status"
