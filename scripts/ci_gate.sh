#!/usr/bin/env bash
# Regression gate of the eval workflow: compare each model's new run folder with its last published results
# (results/<YYYYMMDD>/<model>/); fail if any comparison finds a significant regression.
set -euo pipefail
CAMPAIGN="$1"; RESULTS="${2:-results}"; status=0
for run in "$CAMPAIGN"/*/; do
  [ -d "$run/results" ] || continue
  model="$(python -c 'import pathlib, sys; from agentgym.results.runsets import model_id_of; print(model_id_of(pathlib.Path(sys.argv[1])))' "${run%/}")"
  base="$(ls -d "$RESULTS"/*/"$model" 2>/dev/null | sort | tail -n 1 || true)"
  if [ -z "$base" ]; then echo "gate: $model: no published results yet (nothing to compare)"; continue; fi
  echo "gate: $model: $base -> $run"
  agentgym compare "$base" "$run" --fail-on regression || status=$?
done
exit "$status"
