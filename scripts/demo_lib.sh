# Shared by the demo scripts: the CLI, a work folder, scripted endpoints stopped on exit.
# serve NAME SKILL SEED [LATENCY] starts `agentgym serve-scripted` in THIS shell (not in a $(...) subshell,
# which would lose its pid) and sets URL_<NAME with - as _> to its base URL.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/agentgym ] || bash scripts/setup.sh
AG=.venv/bin/agentgym
RUNS="${AGENTGYM_DEMO_RUNS:-runs}"
WORK="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

serve() {
  "$AG" serve-scripted --model "$1" --skill "$2" --seed "$3" --latency "${4:-0}" >"$WORK/$1.url" 2>/dev/null &
  pids+=("$!")
  for _ in $(seq 100); do [ -s "$WORK/$1.url" ] && break; sleep 0.1; done
  printf -v "URL_${1//-/_}" '%s' "$(cat "$WORK/$1.url")"
}
