"""Expected values, computed once per pristine snapshot and oracle call, kept as small JSON files.

Key: sha256 over (format, part, snapshot digest, oracle name, implementation `module:qualname@version`,
canonical JSON of the arguments). Each entry also stores those fields, so a file can be checked and inspected
by hand. `part` is `value` (the value plus every accepted alternative, e.g. the tied paths of largest_file)
or `facts` (the snapshot half of a two-tree oracle_bool such as answer_md_kv_matches).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentgym.errors import OracleError
from agentgym.fsutil import write_atomic
from agentgym.oracles.registry import (
    has_snapshot_facts,
    oracle_identity,
    run_oracle_accepted,
    run_snapshot_facts,
    validate_call,
)
from agentgym.sources.base import Snapshot
from agentgym.specs.task import OracleCall

CACHE_FORMAT = 2


@dataclass(frozen=True)
class Expected:
    """What one output expects, from the pristine snapshot: `value`, every `accepted` answer (value first),
    and for a two-tree oracle_bool the snapshot `facts` its judge compares the agent's file with."""

    value: Any = None
    accepted: list[Any] = field(default_factory=list)
    facts: Any = None

    def answers(self) -> list[Any]:
        return self.accepted or [self.value]


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, ASCII only: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


class ExpectedCache:
    """Expected oracle values per snapshot, on disk under `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _header(self, snapshot: Snapshot, call: OracleCall, part: str = "value") -> dict[str, Any]:
        return {
            "format": CACHE_FORMAT,
            "part": part,
            "digest": snapshot.digest,
            "fn": call.fn,
            "impl": oracle_identity(call.fn),
            "args": call.args,
        }

    def path_for(self, snapshot: Snapshot, call: OracleCall, part: str = "value") -> Path:
        """The cache file for this snapshot, call and part (it may not exist yet)."""
        validate_call(call)
        return self.directory / f"{self._key(self._header(snapshot, call, part))}.json"

    @staticmethod
    def _key(header: dict[str, Any]) -> str:
        try:
            blob = canonical_json(header)
        except (TypeError, ValueError):
            raise OracleError(f"oracle '{header['fn']}': arguments are not plain JSON values") from None
        return hashlib.sha256(blob.encode("ascii")).hexdigest()

    def _cached(self, header: dict[str, Any], compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        path = self.directory / f"{self._key(header)}.json"
        hit, entry = self._read(path, header)
        if hit:
            return entry
        entry = compute()
        write_atomic(path, canonical_json({**header, **entry}) + "\n")
        return entry

    def expected(self, snapshot: Snapshot, call: OracleCall) -> Expected:
        """The oracle's value and every accepted alternative on the pristine snapshot (cached)."""
        validate_call(call)

        def compute() -> dict[str, Any]:
            accepted = run_oracle_accepted(call, snapshot.path)
            return {"value": accepted[0], "accepted": accepted}

        entry = self._cached(self._header(snapshot, call), compute)
        accepted = entry.get("accepted")
        return Expected(entry["value"], accepted if isinstance(accepted, list) and len(accepted) > 1 else [])

    def bool_expected(self, snapshot: Snapshot, call: OracleCall) -> Expected:
        """An oracle_bool output expects True; a two-tree oracle also gets its snapshot facts (cached)."""
        validate_call(call)
        if not has_snapshot_facts(call.fn):
            return Expected(True)
        entry = self._cached(
            self._header(snapshot, call, "facts"), lambda: {"value": run_snapshot_facts(call, snapshot.path)}
        )
        return Expected(True, facts=entry["value"])

    def get_or_compute(self, snapshot: Snapshot, call: OracleCall) -> Any:
        """The oracle's value on the pristine snapshot, from the cache or computed and stored."""
        return self.expected(snapshot, call).value

    @staticmethod
    def _read(path: Path, header: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        try:
            entry = json.loads(path.read_text(encoding="ascii"))
        except (OSError, ValueError):
            return False, {}
        if not isinstance(entry, dict) or "value" not in entry:
            return False, {}
        stored = {k: entry.get(k) for k in header}
        if canonical_json(stored) != canonical_json(header):
            return False, {}
        return True, entry
