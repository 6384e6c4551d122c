#!/usr/bin/env bash
# Comparisons from a fresh clone: a campaign of three scripted endpoints (`agentgym serve-scripted` at skills
# 1.0, 0.6 and 0.3: each plays the reference solution of that share of the tasks) over the whole offline suite
# with 2 epochs, then `agentgym leaderboard` (original tables + intervals), `agentgym compare --fail-on
# regression` (strong as base, weak as candidate: must exit 1), `agentgym report --html` and `agentgym view`.
# Environment: AGENTGYM_DEMO_RUNS (runs root, default runs), AGENTGYM_DEMO_OUT (leaderboard folder, default
# <campaign>/leaderboard).
source "$(dirname "$0")/demo_lib.sh"
CID="compare-$(date -u +%Y%m%dT%H%M%SZ)"
serve scripted-strong 1.0 1
serve scripted-medium 0.6 3
serve scripted-weak 0.3 7
cat >"$WORK/models.yaml" <<YAML
- {id: scripted-strong, model: scripted-strong, base_url: "$URL_scripted_strong"}
- {id: scripted-medium, model: scripted-medium, base_url: "$URL_scripted_medium"}
- {id: scripted-weak, model: scripted-weak, base_url: "$URL_scripted_weak"}
YAML
mkdir -p "$RUNS"
echo "== campaign $CID: 3 scripted models x the offline suite x 2 epochs"
"$AG" run --models "$WORK/models.yaml" --epochs 2 --runs-root "$RUNS" --campaign-id "$CID" --progress quiet >/dev/null 2>"$WORK/run.log" \
  || { cat "$WORK/run.log" >&2; exit 1; }
CAMP="$RUNS/$CID"
OUT="${AGENTGYM_DEMO_OUT:-$CAMP/leaderboard}"
echo "== agentgym leaderboard $CAMP --out $OUT"
"$AG" leaderboard "$CAMP" --out "$OUT" 2>/dev/null
echo "== agentgym compare $CAMP#scripted-strong $CAMP#scripted-weak --fail-on regression"
set +e; "$AG" compare "$CAMP#scripted-strong" "$CAMP#scripted-weak" --fail-on regression | tail -6; code=${PIPESTATUS[0]}; set -e
echo "exit code: $code (1 = the gate caught the regression)"
[ "$code" = 1 ] || { echo "the gate did not trip" >&2; exit 1; }
echo "== agentgym report $CAMP --html"
"$AG" report "$CAMP" --html -o "$CAMP/report.html"
echo "== agentgym view $RUNS (one request, then stop)"
"$AG" view "$RUNS" --port 0 >"$WORK/view.url" 2>/dev/null &
pids+=("$!")
for _ in $(seq 100); do [ -s "$WORK/view.url" ] && break; sleep 0.1; done
URL="$(head -n 1 "$WORK/view.url")"
.venv/bin/python - "$URL" "$(basename "$CAMP")" <<'PY'
import json, sys, urllib.request
url, camp = sys.argv[1], sys.argv[2]
runs = json.load(urllib.request.urlopen(url + "api/runs", timeout=10))["runs"]
listed = [r["id"] for r in runs]
print(f"view at {url}: {len(runs)} entries listed; campaign {camp} among them: {camp in listed}")
sys.exit(0 if camp in listed else 1)
PY
echo "campaign folder: $CAMP"
