"""`--executor ray` on a real one-node Ray cluster (tests/ray_scenario.py), inside a network namespace with only
loopback up: Ray listens on every interface and rewrites 127.0.0.1 to the host's address, so nothing may
leave the namespace. Also the one-line refusals (no ray extra, the embedded model)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
NETNS = ["unshare", "--net", "--pid", "--fork", "--mount-proc", "--"]


def _ray_importable() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _netns_works() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run([*NETNS, "bash", "-c", "ip link set lo up"], capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.skipif(not _ray_importable(), reason="ray is not installed (pip install 'agentgym[ray]')")
def test_ray_campaign_matches_local_and_survives_a_killed_worker(tmp_path: Path) -> None:
    if not _netns_works():
        pytest.skip("cannot make a network namespace here (unshare --net needs root)")
    script = f"ip link set lo up && exec {sys.executable} tests/ray_scenario.py {tmp_path}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [*NETNS, "bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=200
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    facts = json.loads(proc.stdout.strip().splitlines()[-1])
    local, ray_run = facts["local"], facts["ray"]
    assert set(ray_run) == set(local) == {"alpha", "beta"}
    for model in ("alpha", "beta"):  # one record file per trial key, the same scores as the local run
        assert ray_run[model]["_files"] == local[model]["_files"] == 6
        assert {k: v[:2] for k, v in ray_run[model].items() if k != "_files"} == {
            k: v[:2] for k, v in local[model].items() if k != "_files"
        }
    killed = facts["killed"]
    assert killed is not None and killed.startswith("alpha:demo:")
    trial = killed.split(":")[-1]  # demo_task_00N.eE: rerun once after the infra error, and then done
    assert ray_run["alpha"][trial] == [local["alpha"][trial][0], None, 1]
    others = [v for k, v in ray_run["alpha"].items() if k not in ("_files", trial)] + [
        v for k, v in ray_run["beta"].items() if k != "_files"
    ]
    assert all(v[2] == 0 for v in others)
    assert facts["statuses"] == {"alpha": "finished", "beta": "finished"} and facts["manifest_status"] == "finished"
    assert facts["peak_alpha_trials"] >= 2 and facts["alpha_peak_in_flight"] == 1  # the limit held over workers
    assert facts["worker_snapshots"] >= 1  # the workers fetched into their own cache
    assert facts["key_reached_endpoint"] and not facts["key_in_campaign_folder"]
    assert facts["ray_log_files"] > 0 and not facts["key_in_ray_files"]  # Ray logged no argument with the key


def test_executor_ray_without_the_extra_is_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "noray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no ray here')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "noray"), str(ROOT)])}
    proc = run_cli(
        "run", "--executor", "ray", "--model", "m", "--base-url", "http://127.0.0.1:9/v1", cwd=tmp_path, env=env
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .endswith("--executor ray: needs the ray extra (pip install 'agentgym[ray]')")
    ), proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(not _ray_importable(), reason="ray is not installed")
def test_executor_ray_refuses_the_embedded_model(tmp_path: Path) -> None:
    proc = run_cli("run", "--executor", "ray", "--local-model", "0.5b", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "embedded model" in proc.stderr and "serve-local" in proc.stderr, proc.stderr


@pytest.mark.skipif(not _ray_importable(), reason="ray is not installed")
def test_executor_ray_unreachable_cluster_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [
        "--executor",
        "ray",
        "--ray-address",
        f"127.0.0.1:{port}",
        "--model",
        "m",
        "--base-url",
        "http://127.0.0.1:9/v1",
    ]
    proc = run_cli("run", *args, "--runs-root", str(tmp_path / "runs"), cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"--ray-address 127.0.0.1:{port}: no Ray cluster answers there" in proc.stderr, proc.stderr
    assert not (tmp_path / "runs").exists()  # refused before any folder is made


def test_rundir_writes_artifacts_brought_back_as_bytes(tmp_path: Path) -> None:
    """What a Ray worker sends back: answer files as (bytes, size on the worker); scrubbed, a cut noted,
    names other than the answer files ignored."""
    from agentgym.results.rundir import RunDir
    from agentgym.specs.result import Metrics, TaskInfo, TaskResult, Transcript

    result = TaskResult(
        task=TaskInfo(id="t1", repo="demo", difficulty="L1", limits={}, instruction="x", policy={}, content_hash="h"),
        metrics=Metrics(
            success=False, partial_score=0, score_0_100=0, commands_used=0, command_valid_rate=0,
            safety_violations=0, hallucination_signals=0,
        ),
        output_checks=[],
        transcript=Transcript(),
    )  # fmt: skip
    rundir = RunDir.create(tmp_path, "m", secrets=["sk-bytes-SECRET"])
    artifacts = {"answer.json": (b'{"k": "sk-bytes-SECRET"}', 10_000), "../evil": (b"x", 1)}
    rundir.record(result, None, [], artifacts=artifacts)
    art = rundir.root / "artifacts" / "demo" / "t1"
    assert "sk-bytes-SECRET" not in (art / "answer.json").read_text()
    assert "10000 bytes" in (art / "answer.json.truncated.txt").read_text()
    assert sorted(p.name for p in art.iterdir()) == ["answer.json", "answer.json.truncated.txt", "task_result.json"]
    assert not (art.parent / "evil").exists()
