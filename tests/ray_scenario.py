"""The Ray scenario of tests/test_ray.py, run inside a network namespace with only loopback up.

    python tests/ray_scenario.py WORKDIR   → prints one JSON object of facts (the test asserts on them)

Starts a real one-node cluster (`ray start --head`, no dashboard, bounded object store) as a child process
group, two scripted endpoints (alpha: max_connections 1 and 0.3 s per reply; beta: no limit), runs the same
campaign with the local executor and with `executor: ray`, and kills (-9) the Ray worker of the first trial
it sees running. The cluster is stopped by killing its process group (never `ray stop --force`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from agentgym.models.scripted import ScriptByTask, ScriptedServer
from tests.conftest import make_git_repo, write_config
from tests.test_campaign import SCRIPTS, _slow

TRIAL_TITLE = b"ray::agentgym-trial:"
KEY = "sk-ray-SECRET-9137"  # alpha's key: it must reach the endpoint and appear in no log or file


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_cluster(port: int, worker_cache: Path, temp_dir: Path) -> subprocess.Popen[bytes]:
    ray_bin = Path(sys.executable).with_name("ray")
    env = {**os.environ, "AGENTGYM_CACHE": str(worker_cache), "RAY_USAGE_STATS_ENABLED": "0"}
    cmd = [str(ray_bin), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}"]
    cmd += ["--include-dashboard=false", "--num-cpus=4", "--object-store-memory=200000000", "--block"]
    cmd += [f"--temp-dir={temp_dir}"]  # Ray's own logs, searched for the key afterwards
    return subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop_cluster(head: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(head.pid, signal.SIGKILL)
    head.wait(30)


def _trial_workers() -> dict[int, str]:
    """pid → trial name of every Ray worker now running one of our trials (its process title)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0", 1)[0]
                if cmdline.startswith(TRIAL_TITLE):
                    found[int(entry)] = cmdline[len(TRIAL_TITLE) :].decode(errors="replace")
    return found


class Killer(threading.Thread):
    """Kills -9 the worker of the first alpha trial seen running, once, after it has worked for a moment; and
    counts the most alpha trials seen running at once (so the connection limit had something to limit)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.killed: str | None = None
        self.peak_alpha_trials = 0
        self.stop = threading.Event()
        self._first_seen: float | None = None

    def run(self) -> None:
        while not self.stop.is_set():
            alpha = {pid: name for pid, name in _trial_workers().items() if name.startswith("alpha:")}
            self.peak_alpha_trials = max(self.peak_alpha_trials, len(alpha))
            if alpha and self.killed is None:
                self._first_seen = self._first_seen or time.monotonic()
                if time.monotonic() - self._first_seen > 0.4:  # mid-trial: alpha answers in 0.3 s per turn
                    pid, name = next(iter(alpha.items()))
                    os.kill(pid, signal.SIGKILL)
                    self.killed = name
            time.sleep(0.02)


def _spec(cfg: Path, runs: Path, alpha: str, beta: str, executor: str, address: str | None) -> dict[str, Any]:
    return {
        "models": [
            {
                "id": "alpha",
                "model": "scripted-model",
                "base_url": alpha,
                "max_connections": 1,
                "api_key_env": "ALPHA_KEY",
            },
            {"id": "beta", "model": "scripted-model", "base_url": beta},
        ],
        "config_dir": str(cfg),
        "runs_root": str(runs),
        "epochs": 2,
        "concurrency": 3,
        "max_sandboxes": 4,
        "executor": executor,
        "ray_address": address,
    }


def _contains(root: Path, text: str) -> bool:
    needle = text.encode()
    return any(needle in p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def _records(root: Path) -> dict[str, list[dict[str, Any]]]:
    """model folder prefix → every per-trial record file's content."""
    out: dict[str, list[dict[str, Any]]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = [p for p in (folder / "results").glob("*/*.json") if p.name != "index.json"]
        out[folder.name.split("-", 1)[0]] = [json.loads(p.read_text()) for p in sorted(files)]
    return out


def _facts(records: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        model: {
            f"{r['task']['id']}.e{r['epoch']}": [r["metrics"]["score_0_100"], r["failure_reason"], r["attempt"]]
            for r in rows
        }
        | {"_files": len(rows)}
        for model, rows in records.items()
    }


def main(work: Path) -> dict[str, Any]:
    import agentgym

    os.environ["AGENTGYM_CACHE"] = str(work / "driver-cache")
    os.environ["ALPHA_KEY"] = KEY
    temp_dir = Path(tempfile.mkdtemp(prefix="agr", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    cfg = write_config(work / "cfg", str(make_git_repo(work / "origin")))
    port = _free_port()
    head = _start_cluster(port, work / "worker-cache", temp_dir)
    facts: dict[str, Any] = {}
    try:
        with ScriptedServer(ScriptByTask(_slow(0.3))) as alpha, ScriptedServer(ScriptByTask(SCRIPTS)) as beta:
            local = agentgym.evaluate(_spec(cfg, work / "local", alpha.base_url, beta.base_url, "local", None))
            facts["local"] = _facts(_records(local.root))
            alpha.max_in_flight = 0
            killer = Killer()
            killer.start()
            t0 = time.monotonic()
            remote = agentgym.evaluate(
                _spec(cfg, work / "ray", alpha.base_url, beta.base_url, "ray", f"127.0.0.1:{port}")
            )
            facts["ray_seconds"] = round(time.monotonic() - t0, 1)
            killer.stop.set()
            facts["ray"] = _facts(_records(remote.root))
            facts["killed"] = killer.killed
            facts["peak_alpha_trials"] = killer.peak_alpha_trials
            facts["alpha_peak_in_flight"] = alpha.max_in_flight
            facts["statuses"] = {name: m.status for name, m in remote.models.items()}
            facts["worker_snapshots"] = len(list((work / "worker-cache").rglob("snapshots/*")))
            manifest = json.loads((remote.root / "campaign.json").read_text())
            facts["manifest_status"] = manifest["status"]
            facts["key_reached_endpoint"] = set(alpha.auth_headers) == {f"Bearer {KEY}"}
            facts["key_in_campaign_folder"] = _contains(remote.root, KEY)
    finally:
        _stop_cluster(head)
    facts["ray_log_files"] = sum(1 for p in temp_dir.rglob("*") if p.is_file())
    facts["key_in_ray_files"] = _contains(temp_dir, KEY)
    shutil.rmtree(temp_dir, ignore_errors=True)
    return facts


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
