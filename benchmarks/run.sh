#!/usr/bin/env bash
# Run every benchmark, one after the other (they share the machine's cores; never run them in parallel).
#   bash benchmarks/run.sh [--quick] [SNAPSHOT_PATH]
# --quick: the campaign and fixed-cost benchmarks once each, the scale benchmark on 200 trials, and no
# embedded-model benchmark (minutes instead of a quarter of an hour).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
QUICK=0
if [ "${1:-}" = "--quick" ]; then QUICK=1; shift; fi
REPEAT=$([ "$QUICK" = 1 ] && echo 1 || echo 2)
TRIALS=$([ "$QUICK" = 1 ] && echo 200 || echo 1000)
echo "== sandbox (per-command cost, workspace creation)"; "$PY" benchmarks/bench_sandbox.py "$@"
echo; echo "== agent step at the margin, start-up"; "$PY" benchmarks/bench_agent_step.py
echo; echo "== fixed costs of a run (start-up, sandbox set-up, breakdown)"; "$PY" benchmarks/bench_fixed_costs.py --repeat "$REPEAT"
echo; echo "== campaign: concurrency efficiency and 1,000-trial scale"; "$PY" benchmarks/bench_campaign.py --repeat "$REPEAT" --trials "$TRIALS"
echo; echo "== edit tasks: workspace overlay vs copy, grading per task, the l2 suite under oracle/nop"; "$PY" benchmarks/bench_edit.py --rounds "$([ "$QUICK" = 1 ] && echo 4 || echo 10)"
echo; echo "== run-folder size for large replies"; "$PY" benchmarks/bench_run_folder.py
if [ "$QUICK" = 0 ]; then
  echo; echo "== embedded local models (tokens/s, seconds per step)"; "$PY" benchmarks/bench_local_model.py
fi
