"""Task files as the original wrote them: `task_001.yaml`, … with keys in the original order and block style
for long or multi-line strings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

KEY_ORDER = [
    *("id", "repo", "kind", "difficulty", "initial_working_dir", "instruction", "command_policy"),
    *("visible_tests", "setup_patch", "reference_patch", "grading"),  # edit tasks (absent from L1 files)
    *("outputs", "max_commands", "timeout_seconds", "solution"),
]


_LONG_LINE = 100


class _TaskDumper(yaml.SafeDumper):
    """Block style for multi-line and long strings, so instructions and commands read naturally."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value or len(value) > _LONG_LINE else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _list_representer(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    short = all(isinstance(item, str) and "\n" not in item and len(item) < 40 for item in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=short)


_TaskDumper.add_representer(str, _str_representer)
_TaskDumper.add_representer(list, _list_representer)


def _ordered(task: dict[str, Any]) -> dict[str, Any]:
    known = {key: task[key] for key in KEY_ORDER if key in task}
    return {**known, **{k: v for k, v in task.items() if k not in known}}


def task_text(task: dict[str, Any]) -> str:
    """One task file's YAML: known keys in the original order, block style for long strings."""
    return yaml.dump(_ordered(task), Dumper=_TaskDumper, sort_keys=False, allow_unicode=True, width=1_000_000)


def write_tasks(tasks: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write `task_001.yaml`, `task_002.yaml`, ... into `out_dir`; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, task in enumerate(tasks, start=1):
        path = out_dir / f"task_{number:03d}.yaml"
        path.write_text(task_text(task), encoding="utf-8")
        paths.append(path)
    return paths
