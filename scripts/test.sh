#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite: fast and slow (real embedded model) tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check agentgym tests benchmarks
.venv/bin/ruff format --check -q agentgym tests benchmarks
exec .venv/bin/python -m pytest -q -ra "$@"
