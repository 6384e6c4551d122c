"""The issue-8 demo, `scripts/demo_campaign.sh`, for real: the embedded model and two scripted endpoints in one
campaign, 2 epochs, kill -9 once the embedded model has a finished trial, `--resume`, then the per-model folders
read the way the original leaderboard reads run folders. One task keeps it to a few minutes."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def test_demo_campaign_survives_kill_9_and_reads_as_the_original(tmp_path: Path) -> None:
    env = {**os.environ, "AGENTGYM_DEMO_LIMIT": "1", "AGENTGYM_DEMO_RUNS": str(tmp_path / "runs")}
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo_campaign.sh")], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout + done.stderr
    killed = re.search(r"killed \(kill -9\); trials on disk: (\d+) of 6", done.stdout)
    assert killed and int(killed[1]) < 6, done.stdout
    lines = dict(re.findall(r"^(embedded|scripted-strong|scripted-weak): (2 trials, .*)$", done.stdout, re.M))
    assert set(lines) == {"embedded", "scripted-strong", "scripted-weak"}, done.stdout
    assert lines["scripted-strong"].startswith("2 trials, success 2/2")
    assert "resume: " in done.stderr
    [campaign] = (tmp_path / "runs").iterdir()
    assert '"status": "finished"' in (campaign / "campaign.json").read_text()
