"""The two prompt profiles: the first two messages of every trial.

- `agentgym` (default): our system prompt, a jinja2 template (StrictUndefined) rendered per trial, and the bare
  task instruction as the first user message.
- `v1`: the original's `prompts/l1_system_prompt_v1.txt` sent verbatim (no templating) and the original's first
  user message (FORMATS.md, "Prompts of v1"), so numbers compare with published v1 runs.

Templates are checked when the run is planned (syntax, unknown variables, old `{name}` placeholders), so a bad
prompt is one line and exit 2 before any model call, never a harness error per trial.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from agentgym.errors import SpecError
from agentgym.fsutil import file_sha256
from agentgym.specs.task import ResolvedPolicy, TaskSpec

Profile = Literal["agentgym", "v1"]
VARIABLES = (
    "repo_root",
    "workdir",
    "max_commands",
    "timeout_seconds",
    "allowed",
    "prohibited",
    "write_paths",
    "repo_id",
    "task_id",
    "kind",  # answer | edit: the shipped prompts tell an edit task to change the code, not to write an answer
)
_OLD_STYLE = re.compile(r"(?<!\{)\{(" + "|".join(VARIABLES) + r")\}(?!\})")
_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
_SAMPLE = {name: f"<{name}>" for name in VARIABLES}


@dataclass(frozen=True)
class PromptFile:
    role: str  # "system"
    path: Path
    sha256: str


@dataclass(frozen=True)
class PromptSet:
    profile: Profile
    system_text: str  # a jinja2 template (agentgym) or the verbatim system message (v1)
    files: tuple[PromptFile, ...]
    template: jinja2.Template | None = None

    @classmethod
    def from_file(cls, profile: Profile, path: Path) -> PromptSet:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(f"{path}: cannot read the prompt file ({exc})") from None
        files = (PromptFile("system", path, file_sha256(path)),)
        if profile == "v1":
            return cls("v1", text, files)
        return cls("agentgym", text, files, compile_template(text, path))

    def system_message(self, values: dict[str, Any]) -> str:
        if self.template is None:
            return self.system_text
        return self.template.render(values)

    def user_message(self, task: TaskSpec, policy: ResolvedPolicy) -> str:
        return v1_user_message(task, policy) if self.profile == "v1" else task.instruction

    def describe(self) -> dict[str, Any]:
        """What run_config records: the profile and each prompt file with its sha256."""
        return {
            "prompt_profile": self.profile,
            "prompt_files": [{"role": f.role, "path": str(f.path), "sha256": f.sha256} for f in self.files],
        }


def compile_template(text: str, path: Path) -> jinja2.Template:
    """Parse and trial-render a system prompt template; every problem is a SpecError naming the file."""
    old = _OLD_STYLE.search(text)
    if old:
        name = old.group(1)
        raise SpecError(
            f"{path}: '{{{name}}}' is an old-style placeholder; prompts are jinja2: write '{{{{ {name} }}}}'"
        )
    try:
        unknown = sorted(meta.find_undeclared_variables(_ENV.parse(text)) - set(VARIABLES))
        if unknown:
            raise SpecError(f"{path}: undefined variable '{unknown[0]}' in the prompt (known: {', '.join(VARIABLES)})")
        template = _ENV.from_string(text)
        template.render(_SAMPLE)
    except jinja2.TemplateSyntaxError as exc:
        raise SpecError(f"{path}:{exc.lineno}: prompt template syntax error: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise SpecError(f"{path}: prompt template error: {exc}") from None
    return template


def template_values(task: TaskSpec, policy: ResolvedPolicy, repo_root: str, workdir: str) -> dict[str, Any]:
    return {
        "repo_root": repo_root,
        "workdir": workdir,
        "max_commands": task.max_commands,
        "timeout_seconds": task.timeout_seconds,
        "allowed": ", ".join(policy.allowed) if policy.allowed else "any command",
        "prohibited": ", ".join(policy.prohibited) or "none",
        "write_paths": ", ".join(policy.write_paths_allowed),
        "repo_id": task.repo,
        "task_id": task.id,
        "kind": task.kind,
    }


def v1_user_message(task: TaskSpec, policy: ResolvedPolicy) -> str:
    """The original's first user message, line for line (FORMATS.md, "Prompts of v1")."""
    keys = ", ".join(o.key for o in task.outputs)
    expected = f"Expected output keys in eval_artifacts/answer.json: {keys}\n"
    if task.kind == "edit":  # not in v1: the line an edit task needs instead of output keys
        visible = ", ".join(task.visible_tests) or "none"
        expected = f"Change the repository in place; hidden tests grade it. Tests you may run: {visible}\n"
    return (
        f"Repo: {task.repo}\n"
        f"Task: {task.id}\n"
        "\n"
        "Instruction:\n"
        f"{task.instruction.rstrip()}\n"
        "\n"
        f"{expected}"
        "\n"
        "Command policy:\n"
        f"- allowed: {', '.join(policy.allowed)}\n"
        f"- prohibited: {', '.join(policy.prohibited)}\n"
        f"- write_paths_allowed: {', '.join(policy.write_paths_allowed)}"
    )
