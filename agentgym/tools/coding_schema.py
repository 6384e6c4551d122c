"""The `coding` profile's six tools in OpenAI function-calling schema: the surface of today's coding agents."""

from __future__ import annotations

from typing import Any


def _tool(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


_PATH = {"type": "string", "description": "A path relative to the start directory, or absolute."}

CODING_SCHEMAS: list[dict[str, Any]] = [
    _tool(
        "bash",
        "Run a bash command (a fresh shell in the start directory each time) and return stdout, stderr, "
        "exit_code, duration_ms.",
        {
            "command": {"type": "string", "description": "The command line to run."},
            "timeout": {"type": "integer", "description": "Seconds before the command is killed (capped by the task)."},
        },
        ["command"],
    ),
    _tool(
        "view",
        "Show a file with line numbers (optionally only view_range [start, end], end -1 = to the end), "
        "or list a directory.",
        {
            "path": _PATH,
            "view_range": {"type": "array", "items": {"type": "integer"}, "description": "[start, end], 1-based."},
        },
        ["path"],
    ),
    _tool(
        "str_replace",
        "Replace the one occurrence of old_str in a file with new_str. old_str must match exactly "
        "(whitespace included) and occur exactly once.",
        {"path": _PATH, "old_str": {"type": "string"}, "new_str": {"type": "string"}},
        ["path", "old_str", "new_str"],
    ),
    _tool(
        "create",
        "Create a new file with the given text (refused if the file exists; only under the allowed write paths).",
        {"path": _PATH, "file_text": {"type": "string"}},
        ["path", "file_text"],
    ),
    _tool(
        "glob",
        "Files and folders matching a glob pattern (`*`, `?`, `[abc]`, `**` for any depth), sorted.",
        {
            "pattern": {"type": "string", "description": "e.g. '**/*.py' or 'src/*.txt'."},
            "path": {"type": "string", "description": "Folder the pattern is relative to (default: start dir)."},
        },
        ["pattern"],
    ),
    _tool(
        "grep",
        "Search file contents with a regular expression (Python syntax); returns file:line:text lines.",
        {
            "pattern": {"type": "string", "description": "A regular expression."},
            "path": {"type": "string", "description": "File or folder to search (default: start dir)."},
            "include": {"type": "string", "description": "Only files whose name matches this glob, e.g. '*.py'."},
        },
        ["pattern"],
    ),
]
