"""Errors a user can cause or fix. The CLI prints them as one line, never a traceback."""

from __future__ import annotations


class AgentGymError(Exception):
    """Base class: a problem the user can act on. `str(err)` is the one line shown."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message} ({hint})")


class SpecError(AgentGymError):
    """A YAML/JSON spec file is malformed or has a bad field. Message names file and field."""


class SourceError(AgentGymError):
    """A repository could not be fetched or verified."""


class OracleError(AgentGymError):
    """Unknown oracle, bad oracle arguments, or an oracle that crashed on the pristine snapshot."""


class SandboxError(AgentGymError):
    """The sandbox cannot be set up as asked (bubblewrap missing, limits that cannot apply)."""


class ModelError(AgentGymError):
    """The model endpoint failed in a way that ends the run (unreachable, 401, bad responses)."""

    exit_code = 3


class LocalModelError(AgentGymError):
    """Embedded model weights or server problem."""
