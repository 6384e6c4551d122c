"""Launcher of the bubblewrap sandbox: joins the trial's cgroups and a fresh session keyring, then execs.

Standalone and stdlib-only: the harness runs it as `python -I -S launcher.py ARGS...` with an environment
of PATH only, so nothing of the harness (API keys) reaches it, and it replaces itself by setpriv/bwrap.
Everything it sets is inherited by bubblewrap and the whole sandbox, before any agent code exists.

Arguments (plain argv, no JSON: `import json` would double its start-up time, paid once per trial):
    KEYCTL N_CGROUPS CGROUP_PROCS... N_FDS [FD PATH]... PROGRAM ARGS...
KEYCTL is the keyctl syscall number or "-"; each CGROUP_PROCS file is joined; each PATH is opened read-only
at FD. ctypes is imported only to join the keyring.
Any failure ends it with exit 126 and one line on stderr: the sandbox never starts half-isolated.
"""

from __future__ import annotations

import os
import sys

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
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    serial = libc.syscall(keyctl_nr, KEYCTL_JOIN_SESSION_KEYRING, None)
    if serial < 0:
        fail("cannot join a fresh session keyring", os.strerror(ctypes.get_errno()))


def place_fds(fds: list[tuple[str, str]]) -> None:
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


def parse(args: list[str]) -> tuple[str, list[str], list[tuple[str, str]], list[str]]:
    """(keyctl, cgroup.procs files, (fd, path) pairs, argv) from the launcher's arguments."""
    try:
        keyctl, n_groups = args[0], int(args[1])
        groups, rest = args[2 : 2 + n_groups], args[2 + n_groups :]
        n_fds = int(rest[0])
        fds = [(rest[1 + 2 * i], rest[2 + 2 * i]) for i in range(n_fds)]
        argv = rest[1 + 2 * n_fds :]
    except (IndexError, ValueError) as exc:
        fail("bad arguments", exc)
        raise
    if len(groups) != n_groups or not argv or not (keyctl == "-" or keyctl.isdigit()):
        fail("bad arguments", "missing cgroup files or program, or a keyctl number that is not one")
    return keyctl, groups, fds, argv


def main() -> None:
    keyctl, groups, fds, argv = parse(sys.argv[1:])
    join_cgroups(groups)
    if keyctl != "-":
        join_fresh_session_keyring(int(keyctl))
    place_fds(fds)
    try:
        os.execve(argv[0], argv, dict(os.environ))
    except OSError as exc:
        fail(f"cannot run {argv[0]}", exc)


if __name__ == "__main__":
    main()
