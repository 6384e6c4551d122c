"""Launcher of the bubblewrap sandbox: joins the trial's cgroups and a fresh session keyring, then execs.

Standalone and stdlib-only: the harness runs it as `python -I -S launcher.py CONFIG` with an environment
of PATH only, so nothing of the harness (API keys) reaches it, and it replaces itself by setpriv/bwrap.
Everything it sets is inherited by bubblewrap and the whole sandbox, before any agent code exists.

CONFIG (JSON): {"cgroup_procs": [cgroup.procs files to join], "keyctl": syscall number or null,
                "fds": [[fd, file to open read-only at that fd]], "argv": [program, args...]}
Any failure ends it with exit 126 and one line on stderr: the sandbox never starts half-isolated.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from typing import Any

KEYCTL_JOIN_SESSION_KEYRING = 1
EXIT_FAILED = 126


def fail(what: str, exc: BaseException | str) -> None:
    sys.stderr.write(f"agentgym launcher: {what}: {exc}\n")
    sys.stderr.flush()
    os._exit(EXIT_FAILED)


def join_cgroups(procs_files: list[str]) -> None:
    for path in procs_files:
        try:
            with open(path, "w") as handle:
                handle.write(f"{os.getpid()}\n")
        except OSError as exc:
            fail(f"cannot join the trial cgroup {path}", exc)


def join_fresh_session_keyring(keyctl_nr: int) -> None:
    """A new anonymous session keyring: the harness's keys are no longer possessed, hence not reachable."""
    libc = ctypes.CDLL(None, use_errno=True)
    serial = libc.syscall(keyctl_nr, KEYCTL_JOIN_SESSION_KEYRING, None)
    if serial < 0:
        fail("cannot join a fresh session keyring", os.strerror(ctypes.get_errno()))


def place_fds(fds: list[list[Any]]) -> None:
    for number, path in fds:
        try:
            fd = os.open(path, os.O_RDONLY)
            if fd != int(number):
                os.dup2(fd, int(number), inheritable=True)
                os.close(fd)
            else:
                os.set_inheritable(fd, True)
        except OSError as exc:
            fail(f"cannot open {path}", exc)


def main() -> None:
    config = json.loads(sys.argv[1])
    join_cgroups(config["cgroup_procs"])
    if config.get("keyctl") is not None:
        join_fresh_session_keyring(int(config["keyctl"]))
    place_fds(config["fds"])
    argv = [str(arg) for arg in config["argv"]]
    try:
        os.execve(argv[0], argv, dict(os.environ))
    except OSError as exc:
        fail(f"cannot run {argv[0]}", exc)


if __name__ == "__main__":
    main()
