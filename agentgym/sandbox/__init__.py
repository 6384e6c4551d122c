"""agentgym.sandbox: where agent commands run.

`bwrap` (default): bubblewrap namespaces, read-only repo, size-limited scratch, no network.
`local`: the same executor on the host, without isolation (see agentgym.sandbox.local).
"""

from __future__ import annotations

from agentgym.errors import SandboxError
from agentgym.sandbox.base import SandboxFactory
from agentgym.sandbox.bwrap import BwrapSandboxFactory, bwrap_available
from agentgym.sandbox.local import LocalSandboxFactory

SANDBOX_NAMES = ("bwrap", "local")

__all__ = ["SANDBOX_NAMES", "BwrapSandboxFactory", "LocalSandboxFactory", "bwrap_available", "get_sandbox_factory"]


def get_sandbox_factory(name: str) -> SandboxFactory:
    """The factory for `name`; for bwrap, first check it can run here (never fall back silently)."""
    if name == "bwrap":
        ok, detail = bwrap_available()
        if not ok:
            raise SandboxError(f"bubblewrap cannot run: {detail}", hint="use --sandbox local to run without isolation")
        return BwrapSandboxFactory()
    if name == "local":
        return LocalSandboxFactory()
    raise SandboxError(f"unknown sandbox {name!r}", hint=f"choose one of: {', '.join(SANDBOX_NAMES)}")
