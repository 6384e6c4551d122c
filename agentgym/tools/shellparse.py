"""A real shell parse for the `strict` command policy: tree-sitter-bash (a maintained grammar, C parser).

Why tree-sitter-bash and not bashlex: bashlex 0.18 cannot parse a quoted here-document delimiter
(`python3 - <<'PY'`), the most common form agents write; tree-sitter-bash parses it, keeps the body as
one `heredoc_body` leaf, and marks shell keywords (if/then/while/do/done/for/case …) as grammar nodes.

What is collected, walking the whole tree (pipelines, lists, loops, subshells, `$(…)` inside strings):
- `commands`: the command word of every simple command (quotes removed);
- `words`: the plain (unquoted) argument words of every simple command (`xargs rm`, `find -exec rm`);
- `redirects`: the targets of output redirections (`>`, `>>`, `&>`, `&>>`, `>|`);
strings, here-document bodies and comments are data and contribute nothing.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from functools import lru_cache

import tree_sitter_bash
from tree_sitter import Language, Node, Parser

_OUTPUT_OPERATORS = frozenset({">", ">>", "&>", "&>>", ">|"})
MAX_COMMAND_BYTES = 256 * 1024  # a longer command is a parse error under strict (v1 has no such bound)
MAX_NODES = 50_000  # a pathological command is a parse error, not a hang


@dataclass
class ParsedCommand:
    commands: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    redirects: list[str] = field(default_factory=list)
    error: str | None = None


@lru_cache(maxsize=1)
def _parser() -> Parser:
    return Parser(Language(tree_sitter_bash.language()))


def _text(node: Node) -> str:
    raw = (node.text or b"").decode("utf-8", "replace")
    try:
        return "".join(shlex.split(raw, posix=True)) or raw
    except ValueError:
        return raw


def _first_error(root: Node) -> str:
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_missing:
            return f"missing '{node.type}' at offset {node.start_byte}"
        if node.type == "ERROR":
            return f"syntax error at offset {node.start_byte}"
        stack.extend(reversed(node.children))
    return "syntax error"


def parse(command: str) -> ParsedCommand:
    result = ParsedCommand()
    source = command.encode("utf-8", "surrogatepass")
    if len(source) > MAX_COMMAND_BYTES:
        result.error = f"command longer than {MAX_COMMAND_BYTES} bytes"
        return result
    root = _parser().parse(source).root_node
    if root.has_error:
        result.error = _first_error(root)
        return result
    stack, seen = [root], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            result.error = f"command too complex (more than {MAX_NODES} syntax nodes)"
            return result
        if node.type == "command":
            _simple_command(node, result)
        elif node.type == "file_redirect":
            _redirect(node, result)
        stack.extend(reversed(node.children))
    return result


def _simple_command(node: Node, result: ParsedCommand) -> None:
    for child in node.children:
        if child.type == "command_name":
            result.commands.append(_text(child))
        elif child.type == "word" and child.prev_sibling is not None:
            result.words.append(_text(child))


def _redirect(node: Node, result: ParsedCommand) -> None:
    operator = next((c for c in node.children if not c.is_named), None)
    if operator is None or operator.type not in _OUTPUT_OPERATORS:
        return
    destination = node.child_by_field_name("destination") or node.children[-1]
    if destination is not operator:
        result.redirects.append(_text(destination))
