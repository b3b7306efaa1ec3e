#!/usr/bin/env bash
# The fuzzing smoke run for CI: every target for a few seconds, about a minute in all.
#
#   PYTHON=.venv/bin/python bash fuzz/run_smoke.sh        # SECONDS_PER_TARGET=9 by default
#
# Exits non-zero when a target finds a crash, an untyped exception, a failed round trip or an
# input slower than 5 s (fuzz_load_time: a file of up to 1 MB that takes 1 s to load); the
# input is saved under fuzz/crashes/. New inputs go to a scratch
# directory, so the committed corpora are not touched. Without atheris the targets replay the
# corpora instead (see fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
SECONDS_PER_TARGET=${SECONDS_PER_TARGET:-9}
TARGETS="codec load_user_data load_chat_data load_bot_data load_callback_data load_conversations load_time"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p fuzz/crashes
status=0
for target in $TARGETS; do
  mkdir -p "$work/$target"
  log="$work/$target.log"
  # fuzz_load_time loads 1 MB files and times a slow one again in a fresh process: it judges
  # time itself (1 s), libFuzzer's limit only catches a hang.
  limit=5 && [ "$target" = load_time ] && limit=30
  if "$PYTHON" "fuzz/fuzz_$target.py" \
      -max_total_time="$SECONDS_PER_TARGET" -timeout="$limit" -dict=fuzz/jsonpersist.dict \
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
