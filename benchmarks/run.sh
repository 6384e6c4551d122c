#!/usr/bin/env bash
# Run every benchmark, one after the other (they share the machine's cores; never run them in parallel).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
echo "== sandbox (per-command cost, workspace creation)"; "$PY" benchmarks/bench_sandbox.py "$@"
echo; echo "== agent step at the margin, start-up"; "$PY" benchmarks/bench_agent_step.py
echo; echo "== run-folder size for large replies"; "$PY" benchmarks/bench_run_folder.py
echo; echo "== embedded local models (tokens/s, seconds per step)"; "$PY" benchmarks/bench_local_model.py
