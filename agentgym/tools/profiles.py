"""Tool profiles: which tools the model sees (`--tools v1|coding`), their schema, and how the oracle plays a step.

Every profile goes through the same Toolbox (policy, sandbox, caps, records); a profile only decides the
names and arguments the model sees. `command_tools` are the tools that run a shell command: each call counts
against max_commands (commands_used) and into the valid-command rate, as v1's run_command does.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from agentgym.errors import SpecError
from agentgym.tools.coding_schema import CODING_SCHEMAS
from agentgym.tools.schema import TOOL_SCHEMAS

PROFILE_NAMES = ("v1", "coding")


@dataclass(frozen=True)
class ToolProfile:
    name: str
    schemas: list[dict[str, Any]]
    command_tools: frozenset[str]
    write_tools: frozenset[str]  # tools that write a file (write_paths_allowed applies)
    answer_hint: str  # what the budget refusal tells the model to use to save its answer
    names: frozenset[str] = field(init=False)
    required: dict[str, tuple[str, ...]] = field(init=False)

    def __post_init__(self) -> None:
        functions = [s["function"] for s in self.schemas]
        object.__setattr__(self, "names", frozenset(f["name"] for f in functions))
        object.__setattr__(self, "required", {f["name"]: tuple(f["parameters"]["required"]) for f in functions})

    def oracle_call(self, tool: str, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """A v1 `solution:` step as a call of this profile's tools."""
        if self.name == "v1":
            return tool, args
        return coding_call(tool, args)


def coding_call(tool: str, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """run_command → bash (a `cwd` becomes `cd DIR && …`), read_file / list_dir → view, write_file → create."""
    if tool == "run_command":
        command = str(args.get("command", ""))
        if args.get("cwd"):
            command = f"cd {shlex.quote(str(args['cwd']))} && {command}"
        return "bash", {
            "command": command,
            **({"timeout": args["timeout_seconds"]} if "timeout_seconds" in args else {}),
        }
    if tool in ("read_file", "list_dir"):
        return "view", {"path": args.get("path", ".")}
    if tool == "write_file":
        return "create", {"path": args.get("path", ""), "file_text": args.get("content", "")}
    return tool, args


V1 = ToolProfile(
    name="v1",
    schemas=TOOL_SCHEMAS,
    command_tools=frozenset({"run_command"}),
    write_tools=frozenset({"write_file"}),
    answer_hint="Use write_file to save your answer",
)
CODING = ToolProfile(
    name="coding",
    schemas=CODING_SCHEMAS,
    command_tools=frozenset({"bash"}),
    write_tools=frozenset({"create", "str_replace"}),
    answer_hint="Use create to save your answer",
)
PROFILES = {p.name: p for p in (V1, CODING)}
COMMAND_TOOLS = frozenset().union(*(p.command_tools for p in PROFILES.values()))


def get_profile(name: str) -> ToolProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise SpecError(f"--tools: expected {' or '.join(PROFILE_NAMES)}, got '{name}'") from None


def profile_of_request(tool_names: set[str]) -> ToolProfile | None:
    """The profile whose tools a request carries (every name of it), or None."""
    return next((p for p in PROFILES.values() if tool_names >= p.names), None)
