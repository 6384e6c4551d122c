#!/usr/bin/env bash
# One campaign, three models: the embedded Qwen2.5-Coder-1.5B plus two scripted endpoints (`agentgym serve-scripted`,
# one that plays every reference solution and one that solves about 40% of the tasks), on the offline suite
# (mmengine), 2 epochs, in parallel. Halfway through, the campaign is killed with kill -9 and resumed with
# `agentgym run --resume`; then each model's run folder is read the way the original leaderboard reads run folders.
# Environment: AGENTGYM_DEMO_LIMIT (tasks, default 3), AGENTGYM_DEMO_RUNS (runs root, default runs).
source "$(dirname "$0")/demo_lib.sh"
LIMIT="${AGENTGYM_DEMO_LIMIT:-3}"
CID="demo-$(date -u +%Y%m%dT%H%M%SZ)"
serve scripted-strong 1.0 1 0.5
serve scripted-weak 0.4 7 0.5
cat >"$WORK/models.yaml" <<YAML
- {id: embedded, local: 1.5b}
- {id: scripted-strong, model: scripted-strong, base_url: "$URL_scripted_strong"}
- {id: scripted-weak, model: scripted-weak, base_url: "$URL_scripted_weak"}
YAML
mkdir -p "$RUNS"
cat >"$WORK/campaign.yaml" <<YAML
campaign_id: $CID
runs_root: $(cd "$RUNS" && pwd)
repos: [mmengine]
limit: $LIMIT
epochs: 2
YAML
ARGS=(--config "$WORK/campaign.yaml" --models "$WORK/models.yaml")

echo "== campaign $CID: 3 models x $LIMIT task(s) x 2 epochs; kill -9 once the embedded model has finished a trial"
"$AG" run "${ARGS[@]}" --progress plain >/dev/null 2>"$WORK/first.log" &
run=$!
until ls "$RUNS/$CID"/embedded-*/results/mmengine/mmengine_*.json >/dev/null 2>&1; do
  if ! kill -0 "$run" 2>/dev/null; then cat "$WORK/first.log" >&2; echo "the campaign ended before the kill" >&2; exit 1; fi
  sleep 1
done
kill -9 "$run"; wait "$run" 2>/dev/null || true
echo "== killed (kill -9); trials on disk: $(ls "$RUNS/$CID"/*/results/mmengine/mmengine_*.json | wc -l) of $((3 * LIMIT * 2))"
echo "== agentgym run --resume $RUNS/$CID"
"$AG" run --resume "$RUNS/$CID" --progress plain >/dev/null
.venv/bin/python - "$RUNS/$CID" <<'PY'
# Read the campaign as the original leaderboard reads a runs root (FORMATS.md): every
# <model_id>-<timestamp>/results/<repo>/*.json except index.json; the model id is the folder name up to its last '-'.
import json, sys
from pathlib import Path
root = Path(sys.argv[1])
for folder in sorted(p for p in root.iterdir() if p.is_dir()):
    model = folder.name.rsplit("-", 1)[0]
    records = [json.loads(f.read_text()) for f in folder.glob("results/*/*.json") if f.name != "index.json"]
    scores = [r["metrics"]["score_0_100"] for r in records]
    wins = sum(bool(r["metrics"]["success"]) for r in records)
    print(f"{model}: {len(records)} trials, success {wins}/{len(records)}, average score {sum(scores) / len(scores):.2f}")
PY
echo "== agentgym leaderboard $RUNS/$CID"
"$AG" leaderboard "$RUNS/$CID" --out "$WORK/leaderboard" 2>/dev/null
echo "campaign folder: $RUNS/$CID"
