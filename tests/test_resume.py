"""`agentgym run --resume CAMPAIGN_DIR` and `--retry-infra N`: real CLI, two scripted servers on 127.0.0.1,
the demo config tree, bwrap sandbox. A lost record is rerun alone, a kill -9 mid-campaign resumes to the full
plan with no duplicate and no partial file, a changed task is refused, an infra-failed trial is rerun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentgym.models.scripted import ScriptByTask, ScriptedServer
from tests.conftest import TASK_TOP, run_cli
from tests.test_campaign import SCRIPTS, STEMS

PLAN = {(m, s) for m in ("alpha", "beta") for s in STEMS}


def _files(tmp: Path, one: ScriptedServer, two: ScriptedServer, cfg: Path) -> Path:
    models = tmp / "models.yaml"
    models.write_text(
        f"- {{id: alpha, model: scripted-model, base_url: '{one.base_url}'}}\n"
        f"- {{id: beta, model: m2, base_url: '{two.base_url}'}}\n"
    )
    campaign = tmp / "campaign.yaml"
    campaign.write_text(f"config_dir: {cfg}\nruns_root: {tmp / 'runs'}\ncampaign_id: camp\nmax_sandboxes: 2\n")
    return campaign


def _run_args(campaign: Path, tmp: Path) -> list[str]:
    return ["run", "--config", str(campaign), "--models", str(tmp / "models.yaml")]


def _folder(root: Path, model: str) -> Path:
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(f"{model}-")]
    assert len(found) == 1, found
    return found[0]


def _index(root: Path) -> list[tuple[str, str]]:
    """(model, stem) of every index.json row of the campaign, duplicates kept."""
    rows = []
    for model in ("alpha", "beta"):
        index = _folder(root, model) / "results" / "demo" / "index.json"
        rows += [(model, t["file"].removesuffix(".json")) for t in json.loads(index.read_text())["tasks"]]
    return rows


def _stems(root: Path) -> set[tuple[str, str]]:
    return {(m, p.stem) for m in ("alpha", "beta") for p in (_folder(root, m) / "results" / "demo").glob("demo_*.json")}


def test_resume_runs_only_the_lost_trial(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    with ScriptedServer(ScriptByTask(SCRIPTS)) as one, ScriptedServer(ScriptByTask(SCRIPTS), model="m2") as two:
        campaign = _files(tmp_path, one, two, demo_config)
        first = run_cli(*_run_args(campaign, tmp_path), cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        root = tmp_path / "runs" / "camp"
        lost = _folder(root, "beta") / "results" / "demo" / "demo_task_002.json"
        lost.unlink()
        kept = {p: p.stat().st_mtime_ns for p in root.rglob("demo_task_00*.json") if "results" in p.parts}
        before = (len(one.requests), len(two.requests))
        again = run_cli("run", "--resume", str(root), cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert len(one.requests) == before[0]  # alpha had nothing to do
        assert len(two.requests) > before[1]  # beta ran its lost trial
    assert "resume: 1 trial(s) to run" in again.stderr
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # finished records untouched
    assert lost.is_file() and json.loads(lost.read_text())["metrics"]["success"] is True
    rows = _index(root)
    assert sorted(rows) == sorted(PLAN)  # complete, each once
    summary = json.loads((_folder(root, "beta") / "results" / "summary.json").read_text())
    assert summary["status"] == "finished"
    assert len(list(root.glob("*"))) == 3  # campaign.json + the two model folders: no new folder


def test_resume_refuses_a_changed_task(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    with ScriptedServer(ScriptByTask(SCRIPTS)) as one, ScriptedServer(ScriptByTask(SCRIPTS), model="m2") as two:
        campaign = _files(tmp_path, one, two, demo_config)
        first = run_cli(*_run_args(campaign, tmp_path), "--tasks", "demo_task_001", cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        task = demo_config / "tasks" / "l1" / "demo" / "task_001.yaml"
        task.write_text(task.read_text().replace("Count the entries", "Count all the entries"))
        root = tmp_path / "runs" / "camp"
        before = len(one.requests)
        again = run_cli("run", "--resume", str(root), cwd=tmp_path)
        assert len(one.requests) == before
    assert again.returncode == 2, again.stderr
    lines = [x for x in again.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and "demo_task_001" in lines[0] and "changed" in lines[0], again.stderr
    assert "Traceback" not in again.stderr
    assert "resuming run folder" not in again.stderr  # refused before any folder was opened


def test_resume_refuses_changed_model_settings(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    with ScriptedServer(ScriptByTask(SCRIPTS)) as one, ScriptedServer(ScriptByTask(SCRIPTS), model="m2") as two:
        campaign = _files(tmp_path, one, two, demo_config)
        first = run_cli(*_run_args(campaign, tmp_path), "--tasks", "demo_task_001", cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        root = tmp_path / "runs" / "camp"
        (_folder(root, "beta") / "results" / "demo" / "demo_task_001.json").unlink()
        manifest = json.loads((root / "campaign.json").read_text())
        manifest["spec"]["models"][1]["temperature"] = 0.9  # the stored spec no longer matches its hash
        (root / "campaign.json").write_text(json.dumps(manifest))
        before = len(two.requests)
        again = run_cli("run", "--resume", str(root), cwd=tmp_path)
        assert len(two.requests) == before
    assert again.returncode == 2, again.stderr
    lines = [x for x in again.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and "model beta" in lines[0] and "temperature" in lines[0], again.stderr


def test_resume_after_kill_9_completes_the_plan(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    marker = f"sleep 30; echo agentgym-resume-{os.getpid()}"
    scripts = {**SCRIPTS, "Count the entries": [{"tool": "run_command", "args": {"command": marker}}]}
    with ScriptedServer(ScriptByTask(scripts)) as one, ScriptedServer(ScriptByTask(SCRIPTS), model="m2") as two:
        campaign = _files(tmp_path, one, two, demo_config)
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MODEL_NAME", "BASE_URL"))}
        proc = subprocess.Popen(
            [sys.executable, "-m", "agentgym.cli.main", *_run_args(campaign, tmp_path)],
            cwd=tmp_path, env=clean, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for _ in range(1200):
            if subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 0:
                break
            if proc.poll() is not None:
                pytest.fail(f"the run ended early: {proc.communicate()}")
            time.sleep(0.05)
        proc.kill()
        proc.communicate(timeout=60)
        root = tmp_path / "runs" / "camp"
        assert ("alpha", "demo_task_001") not in _stems(root)  # in flight: lost
        scripts["Count the entries"] = SCRIPTS["Count the entries"]  # the same endpoint, now quick
        again = run_cli("run", "--resume", str(root), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert _stems(root) == PLAN
    assert sorted(_index(root)) == sorted(PLAN)
    assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")]
    manifest = json.loads((root / "campaign.json").read_text())
    assert manifest["status"] == "finished"
    assert all(m["trials_done"] == 3 for m in manifest["models"])


def test_retry_infra_reruns_an_infra_failed_trial(tmp_path: Path, demo_repo: Path, cache_dir: Path) -> None:
    from tests.conftest import write_config

    cfg = write_config(tmp_path / "cfg", str(demo_repo), {"task_001.yaml": TASK_TOP})
    fail = {"status": 500, "retry_after": "0"}
    flaky = {"Count the entries": [{**SCRIPTS["Count the entries"][0], "faults": [fail] * 4}]}
    flaky["Count the entries"] += SCRIPTS["Count the entries"][1:]
    with ScriptedServer(ScriptByTask(flaky)) as one, ScriptedServer(ScriptByTask(SCRIPTS), model="m2") as two:
        campaign = _files(tmp_path, one, two, cfg)
        proc = run_cli(*_run_args(campaign, tmp_path), "--retry-infra", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "retry-infra round 1: 1 trial(s)" in proc.stderr
    root = tmp_path / "runs" / "camp"
    record = json.loads((_folder(root, "alpha") / "results" / "demo" / "demo_task_001.json").read_text())
    assert record["failure_reason"] is None and record["attempt"] == 1
    other = json.loads((_folder(root, "beta") / "results" / "demo" / "demo_task_001.json").read_text())
    assert other["attempt"] == 0
    index = json.loads((_folder(root, "alpha") / "results" / "demo" / "index.json").read_text())["tasks"]
    assert [t["task_id"] for t in index] == ["demo_task_001"]
