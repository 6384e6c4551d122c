"""Mutation operators: where a small, plausible bug can go in a Python source file, found with `ast` and made
by replacing one span of the file's bytes (never by unparsing: comments, layout and every other line stay
byte for byte, so the setup patch is one hunk a reviewer can read and its inverse restores the file).

Operators: `compare` (< <=, > >=, == !=, in / not in, is / is not), `arith` (+ -, * //, / *, also in
augmented assignments: `i += 1` → `i -= 1` can make a loop hang), `off_by_one` (a small int n → n+1),
`branch` (`if x:` → `if not (x):`), `drop_call` (a call statement in a function → `pass`), `boolean`
(and ↔ or, `return True` ↔ `return False`). Offsets are byte offsets (ast's col_offset is in UTF-8 bytes).
"""

from __future__ import annotations

import ast
import fnmatch
import os
import random
from dataclasses import dataclass
from pathlib import Path

OPERATORS = ("compare", "arith", "off_by_one", "branch", "drop_call", "boolean")
COMPARE_FLIPS = {
    ast.Lt: ("<", "<="),
    ast.LtE: ("<=", "<"),
    ast.Gt: (">", ">="),
    ast.GtE: (">=", ">"),
    ast.Eq: ("==", "!="),
    ast.NotEq: ("!=", "=="),
    ast.In: ("in", "not in"),
    ast.NotIn: ("not in", "in"),
    ast.Is: ("is", "is not"),
    ast.IsNot: ("is not", "is"),
}
ARITH_FLIPS = {ast.Add: ("+", "-"), ast.Sub: ("-", "+"), ast.Mult: ("*", "//"), ast.FloorDiv: ("//", "*")}
ARITH_FLIPS[ast.Div] = ("/", "*")
SMALL_INT_MAX = 10
SKIP_DIRS = frozenset({"docs", "doc", "examples", "example", "benchmarks", "benchmark", "build", "dist", "venv"})
SKIP_FILES = ("setup.py", "conftest.py", "noxfile.py", "test_*.py", "*_test.py", "__main__.py")
MAX_SOURCE_BYTES = 512 * 1024
_GAP_JUNK = b" \t\r\n\\()"


@dataclass(frozen=True)
class Mutation:
    """Replace bytes [start, end) of file `path` (which hold `old`) with `new`."""

    path: str
    operator: str
    start: int
    end: int
    old: str
    new: str
    line: int

    def apply(self, source: bytes) -> bytes:
        if source[self.start : self.end] != self.old.encode():
            raise ValueError(f"{self.path}:{self.line}: the source does not hold {self.old!r} at the mutation")
        return source[: self.start] + self.new.encode() + source[self.end :]

    def inverse(self) -> Mutation:
        """The mutation that turns the mutated file back into the original."""
        end = self.start + len(self.new.encode())
        return Mutation(self.path, self.operator, self.start, end, self.new, self.old, self.line)

    def describe(self) -> str:
        old, new = _short(self.old), _short(self.new)
        if self.operator == "branch" and new != f"not ({old})":
            new = "not (...)"
        return f"{self.operator} {self.path}:{self.line} {old!r} -> {new!r}"


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 40 else flat[:37] + "..."


class _Finder:
    """Collects the mutation sites of one parsed file."""

    def __init__(self, path: str, source: bytes) -> None:
        self.path, self.source = path, source
        self.starts = [0]
        for line in source.splitlines(keepends=True):
            self.starts.append(self.starts[-1] + len(line))
        self.found: list[Mutation] = []

    def begin(self, node: ast.AST) -> int:
        return self.starts[node.lineno - 1] + node.col_offset  # type: ignore[attr-defined]

    def finish(self, node: ast.AST) -> int:
        return self.starts[node.end_lineno - 1] + node.end_col_offset  # type: ignore[attr-defined]

    def add(self, operator: str, start: int, end: int, new: str) -> None:
        old = self.source[start:end].decode("utf-8", "surrogateescape")
        line = self.source.count(b"\n", 0, start) + 1
        self.found.append(Mutation(self.path, operator, start, end, old, new, line))

    def gap_token(self, left: ast.AST, right: ast.AST, token: str) -> tuple[int, int] | None:
        """The span of `token` between two operands, if the gap holds only it (and parentheses, blanks)."""
        lo, hi = self.finish(left), self.begin(right)
        gap = self.source[lo:hi]
        if b"#" in gap:
            return None
        head = len(gap) - len(gap.lstrip(_GAP_JUNK))
        tail = len(gap.rstrip(_GAP_JUNK))
        core = gap[head:tail]
        if core.split() != token.encode().split():
            return None
        return lo + head, lo + tail

    def walk(self, node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.JoinedStr):  # positions inside f-strings are not reliable before 3.12
                continue
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            self.visit(child, in_function)
            self.walk(child, inner)

    def visit(self, node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.Compare):
            self._compare(node)
        elif isinstance(node, ast.BinOp):
            self._arith(node.op, node.left, node.right, skip_strings=(node.left, node.right))
        elif isinstance(node, ast.AugAssign):
            self._arith(node.op, node.target, node.value, skip_strings=(node.value,), augmented=True)
        elif isinstance(node, ast.Constant) and type(node.value) is int and 0 <= node.value <= SMALL_INT_MAX:
            start, end = self.begin(node), self.finish(node)
            if self.source[start:end] == str(node.value).encode():
                self.add("off_by_one", start, end, str(node.value + 1))
        elif isinstance(node, ast.If) and not _guard(node.test):
            start, end = self.begin(node.test), self.finish(node.test)
            text = self.source[start:end].decode("utf-8", "surrogateescape")
            self.add("branch", start, end, f"not ({text})")
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and in_function:
            self.add("drop_call", self.begin(node), self.finish(node), "pass")
        elif isinstance(node, ast.BoolOp) and len(node.values) == 2:
            token, other = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
            span = self.gap_token(node.values[0], node.values[1], token)
            if span:
                self.add("boolean", *span, other)
        elif isinstance(node, ast.Return) and isinstance(node.value, ast.Constant) and type(node.value.value) is bool:
            self.add("boolean", self.begin(node.value), self.finish(node.value), str(not node.value.value))

    def _compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        for index, op in enumerate(node.ops):
            token, other = COMPARE_FLIPS[type(op)]
            span = self.gap_token(operands[index], operands[index + 1], token)
            if span:
                self.add("compare", *span, other)

    def _arith(
        self,
        op: ast.operator,
        left: ast.AST,
        right: ast.AST,
        skip_strings: tuple[ast.AST, ...],
        augmented: bool = False,
    ) -> None:
        flip = ARITH_FLIPS.get(type(op))
        if flip is None or any(_stringish(n) for n in skip_strings):
            return
        token, other = (flip[0] + "=", flip[1] + "=") if augmented else flip
        span = self.gap_token(left, right, token)
        if span:
            self.add("arith", *span, other)


def _stringish(node: ast.AST) -> bool:
    """Operands that make `+` a concatenation (or `*` a repetition): flipping them only raises TypeError."""
    return isinstance(node, ast.JoinedStr | ast.List | ast.Tuple) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str | bytes)
    )


def _guard(test: ast.AST) -> bool:
    """`if __name__ == "__main__":` and `if TYPE_CHECKING:` are not behaviour."""
    names = {n.id for n in ast.walk(test) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(test) if isinstance(n, ast.Attribute)}
    return bool(names & {"__name__", "TYPE_CHECKING"})


def find_mutations(path: str, source: bytes) -> list[Mutation]:
    """Every mutation site of one file, in source order; [] when it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    finder = _Finder(path, source)
    finder.walk(tree, False)
    return sorted(finder.found, key=lambda m: (m.start, m.end, m.operator))


def source_files(root: Path, pattern: str | None = None) -> list[str]:
    """The repo's non-test Python source files (relative paths, sorted): no tests, docs, setup or test
    infrastructure, nothing the grader would take from the snapshot instead of the agent's tree."""
    from agentgym.grading.gradetree import is_protected  # sandbox code: not on the CLI's import path

    found = []
    for folder, dirs, files in os.walk(root):
        rel_dir = os.path.relpath(folder, root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS and d != "__pycache__")
        for name in sorted(files):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            full = Path(folder) / name
            if not name.endswith(".py") or any(fnmatch.fnmatch(name, p) for p in SKIP_FILES) or full.is_symlink():
                continue
            if is_protected(rel) or full.stat().st_size > MAX_SOURCE_BYTES:
                continue
            if pattern is None or fnmatch.fnmatch(rel, pattern):
                found.append(rel)
    return sorted(found)


def all_mutations(root: Path, pattern: str | None = None, operators: tuple[str, ...] = OPERATORS) -> list[Mutation]:
    """Every site in every source file, in a fixed order (path, offset, operator)."""
    out: list[Mutation] = []
    for rel in source_files(root, pattern):
        out += [m for m in find_mutations(rel, (root / rel).read_bytes()) if m.operator in operators]
    return out


def sample(mutations: list[Mutation], count: int, seed: int) -> list[Mutation]:
    """`count` mutations chosen with `seed`: each operator's sites shuffled, then taken in turn, so that every
    operator is tried even when one (off_by_one) has most of the sites. Same seed, same list."""
    rng = random.Random(seed)
    groups: dict[str, list[Mutation]] = {}
    for mutation in mutations:
        groups.setdefault(mutation.operator, []).append(mutation)
    for group in groups.values():
        rng.shuffle(group)
    order = [op for op in OPERATORS if op in groups]
    chosen: list[Mutation] = []
    while len(chosen) < count and any(groups[op] for op in order):
        for op in order:
            if groups[op] and len(chosen) < count:
                chosen.append(groups[op].pop())
    return chosen
