"""kill -9 of the CLI at several random points of a 3-model × 10-task × 2-epoch campaign against slow scripted
servers, then `--resume` until it finishes: the final set of trial keys equals an uninterrupted run's, with no
duplicate record and no partial file (real CLI, real HTTP on 127.0.0.1, real git, bwrap sandbox)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from agentgym.models.scripted import ScriptByTask, ScriptedServer
from tests.conftest import TASK_MD, TASK_README, TASK_TOP, run_cli, write_config
from tests.test_campaign import SCRIPTS

MODELS = ("alpha", "beta", "gamma")
TASKS = 10
EPOCHS = 2
KILLS = 3


def _ten_tasks() -> dict[str, str]:
    templates = (TASK_TOP, TASK_README, TASK_MD)
    out = {}
    for n in range(1, TASKS + 1):
        text = templates[(n - 1) % 3]
        out[f"task_{n:03d}.yaml"] = "\n".join(
            f"id: demo_task_{n:03d}" if line.startswith("id: ") else line for line in text.splitlines()
        )
    return out


def _campaign(tmp: Path, cfg: Path, servers: list[ScriptedServer], campaign_id: str) -> list[str]:
    models = tmp / "models.yaml"
    models.write_text(
        "".join(
            f"- {{id: {name}, model: {s.model}, base_url: '{s.base_url}'}}\n"
            for name, s in zip(MODELS, servers, strict=True)
        )
    )
    spec = tmp / f"{campaign_id}.yaml"
    spec.write_text(
        f"config_dir: {cfg}\nruns_root: {tmp / 'runs'}\ncampaign_id: {campaign_id}\nepochs: {EPOCHS}\n"
        "max_sandboxes: 4\nconcurrency: 2\n"
    )
    return ["run", "--config", str(spec), "--models", str(models)]


def _keys(root: Path) -> list[tuple[str, str, str, str, int]]:
    """(model, config hash, task id, task content hash, epoch) of every result file, duplicates kept."""
    manifest = json.loads((root / "campaign.json").read_text())
    out = []
    for m in manifest["models"]:
        for path in (root / m["folder"] / "results" / "demo").glob("demo_task_*.json"):
            r = json.loads(path.read_text())
            out.append((m["id"], m["config_hash"], r["task"]["id"], r["task"]["content_hash"], r["epoch"]))
    return out


def _index_rows(root: Path) -> list[tuple[str, str]]:
    manifest = json.loads((root / "campaign.json").read_text())
    rows = []
    for m in manifest["models"]:
        index = json.loads((root / m["folder"] / "results" / "demo" / "index.json").read_text())
        rows += [(m["id"], t["file"]) for t in index["tasks"]]
    return rows


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MODEL_NAME", "BASE_URL"))}
    return subprocess.Popen(
        [sys.executable, "-m", "agentgym.cli.main", *args],
        cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _kill_after(proc: subprocess.Popen[str], seconds: float, manifest: Path) -> bool:
    """Wait until the campaign has its manifest, then `seconds` more, then kill -9; False if it finished first."""
    deadline = time.monotonic() + 120
    while not manifest.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    end = time.monotonic() + seconds
    while proc.poll() is None and time.monotonic() < end:
        time.sleep(0.01)
    if proc.poll() is not None:
        return False
    proc.kill()
    proc.communicate(timeout=60)
    return True


def test_kill_9_at_random_points_then_resume_equals_an_uninterrupted_run(
    tmp_path: Path, demo_repo: Path, cache_dir: Path
) -> None:
    cfg = write_config(tmp_path / "cfg", str(demo_repo), _ten_tasks())
    slow = {k: [{**step, "sleep": 0.15} for step in steps] for k, steps in SCRIPTS.items()}
    rng = random.Random(int(os.environ.get("AGENTGYM_KILL_SEED", "20261202")))
    servers = [ScriptedServer(ScriptByTask(slow), model=f"m-{name}") for name in MODELS]
    for s in servers:
        s.__enter__()
    try:
        reference = run_cli(*_campaign(tmp_path, cfg, servers, "reference"), cwd=tmp_path, timeout=600)
        assert reference.returncode == 0, reference.stderr
        args = _campaign(tmp_path, cfg, servers, "killed")
        root = tmp_path / "runs" / "killed"
        kills, counts = 0, []
        proc = _start(args, tmp_path)
        while kills < KILLS and _kill_after(proc, rng.uniform(0.2, 4.0), root / "campaign.json"):
            kills += 1
            counts.append(len(_keys(root)))
            proc = _start(["run", "--resume", str(root)], tmp_path)
        if proc.poll() is None:
            proc.communicate(timeout=600)
        final = run_cli("run", "--resume", str(root), cwd=tmp_path, timeout=600)
    finally:
        for s in servers:
            s.__exit__(None, None, None)
    assert final.returncode == 0, final.stderr
    assert kills >= 2, f"the campaign finished before it could be killed twice ({kills} kill(s))"
    assert counts[0] < len(MODELS) * TASKS * EPOCHS  # the first kill did cut the campaign short
    want, got = _keys(tmp_path / "runs" / "reference"), _keys(root)
    assert len(want) == len(MODELS) * TASKS * EPOCHS
    dups = [k for k, n in Counter(got).items() if n > 1]
    assert not dups
    assert sorted(got) == sorted(want)  # same models, config hashes, tasks, content hashes, epochs
    rows = _index_rows(root)
    assert len(rows) == len(set(rows)) == len(want)
    assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")]
    manifest = json.loads((root / "campaign.json").read_text())
    assert manifest["status"] == "finished"
    assert [m["trials_done"] for m in manifest["models"]] == [TASKS * EPOCHS] * len(MODELS)
    for m in manifest["models"]:
        for path in (root / m["folder"] / "results" / "demo").glob("demo_task_*.json"):
            json.loads(path.read_text())  # every record whole
