"""A short account of what isolates a trial on this machine, for run_config.json and REPORT.md."""

from __future__ import annotations

import os

from agentgym.sandbox import cgroup
from agentgym.sandbox.base import Limits
from agentgym.sandbox.bwrap import keyctl_number, seccomp_filter

NONE_LOCAL = "none (--sandbox local)"


def isolation(sandbox: str, limits: Limits) -> dict[str, str]:
    """seccomp, keyring, cgroup, dev, ipc: one line each saying what applies (and what does not)."""
    if sandbox != "bwrap":
        return dict.fromkeys(("seccomp", "keyring", "cgroup", "dev", "ipc"), NONE_LOCAL)
    flt = seccomp_filter()
    layout = cgroup.support()
    if isinstance(layout, cgroup.Layout):
        group = (
            f"{layout.describe()}: trial_memory_bytes={limits.trial_memory_bytes},"
            f" trial_processes={limits.trial_processes}"
        )
    else:
        group = f"none ({layout}): only the per-process rlimits bound memory and processes"
    shm = "in the scratch tmpfs (disk_bytes)" if os.geteuid() == 0 else "on disk (RLIMIT_FSIZE only)"
    return {
        "seccomp": f"on: {len(flt.refused)} syscalls refused (EPERM), clone3 ENOSYS, namespace clone flags refused"
        if flt
        else "off: libseccomp not usable (see agentgym doctor)",
        "keyring": ("fresh session keyring per sandbox" + ("; keyctl/add_key/request_key refused" if flt else ""))
        if keyctl_number() is not None
        else "shared with the harness (keyctl number unknown on this architecture)",
        "cgroup": group,
        "dev": f"read-only; /dev/shm writable {shm}",
        "ipc": "private IPC namespace; SysV objects removed after every command",
    }
