#!/usr/bin/env bash
# Regression gate of the eval workflow: compare each model's new run folder with its last published results
# (results/<YYYYMMDD>/<model>/); fail if any comparison finds a significant regression.
set -euo pipefail
CAMPAIGN="$1"; RESULTS="${2:-results}"; status=0
for run in "$CAMPAIGN"/*/; do
  [ -d "$run/results" ] || continue
  model="$(basename "$run" | sed -E 's/-[0-9]{8}T[0-9]{6}Z(-[0-9]+)?$//')"
  base="$(ls -d "$RESULTS"/*/"$model" 2>/dev/null | sort | tail -n 1 || true)"
  if [ -z "$base" ]; then echo "gate: $model: no published results yet (nothing to compare)"; continue; fi
  echo "gate: $model: $base -> $run"
  agentgym compare "$base" "$run" --fail-on regression || status=$?
done
exit "$status"
