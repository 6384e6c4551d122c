"""Which runs are alive: a run holds an exclusive flock on `<run folder>/.lock` for its whole life.

The kernel drops the lock when the process dies, however it dies (kill -9 included), so a later run that can
take the lock of a folder whose summary still says `running` knows that run is dead and marks it
`interrupted`. flock works across processes, containers and pid namespaces that share the file system.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from pathlib import Path

from agentgym.fsutil import write_atomic

LOCK_NAME = ".lock"
DIED = "the run's process died (found by a later run in the same runs root)"
logger = logging.getLogger(__name__)


def hold_run_lock(folder: Path) -> int:
    """Take the folder's lock (new folder: never contended); the returned fd keeps it until closed or exit."""
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def _is_dead(folder: Path) -> bool:
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False  # no lock file: a run of an older version, or not a run folder; leave it alone
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # its owner is alive
    finally:
        os.close(fd)  # closing drops our lock at once
    return True


def mark_dead_runs(runs_root: Path) -> list[Path]:
    """Rewrite `running` summaries of dead runs under `runs_root` as `interrupted`. Returns those folders."""
    marked: list[Path] = []
    if not runs_root.is_dir():
        return marked
    for folder in sorted(runs_root.iterdir()):
        summary_file = folder / "results" / "summary.json"
        with contextlib.suppress(OSError, ValueError):
            summary = json.loads(summary_file.read_text(encoding="utf-8"))
            if not isinstance(summary, dict) or summary.get("status") != "running" or not _is_dead(folder):
                continue
            summary["status"], summary["error"] = "interrupted", DIED
            write_atomic(summary_file, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
            logger.warning("run %s: %s; summary marked interrupted", folder.name, DIED)
            marked.append(folder)
    return marked
