"""Expected values, computed once per pristine snapshot and oracle call, kept as small JSON files.

Key: sha256 over (snapshot digest, oracle name, implementation `module:qualname@version`, canonical JSON
of the arguments). Each entry also stores those fields, so a file can be checked and inspected by hand.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from agentgym.errors import OracleError
from agentgym.fsutil import write_atomic
from agentgym.oracles.registry import oracle_identity, run_oracle, validate_call
from agentgym.sources.base import Snapshot
from agentgym.specs.task import OracleCall

CACHE_FORMAT = 1


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, ASCII only: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


class ExpectedCache:
    """Expected oracle values per snapshot, on disk under `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _header(self, snapshot: Snapshot, call: OracleCall) -> dict[str, Any]:
        return {
            "format": CACHE_FORMAT,
            "digest": snapshot.digest,
            "fn": call.fn,
            "impl": oracle_identity(call.fn),
            "args": call.args,
        }

    def path_for(self, snapshot: Snapshot, call: OracleCall) -> Path:
        """The cache file for this snapshot and call (it may not exist yet)."""
        validate_call(call)
        return self.directory / f"{self._key(self._header(snapshot, call))}.json"

    @staticmethod
    def _key(header: dict[str, Any]) -> str:
        try:
            blob = canonical_json(header)
        except (TypeError, ValueError):
            raise OracleError(f"oracle '{header['fn']}': arguments are not plain JSON values") from None
        return hashlib.sha256(blob.encode("ascii")).hexdigest()

    def get_or_compute(self, snapshot: Snapshot, call: OracleCall) -> Any:
        """The oracle's value on the pristine snapshot, from the cache or computed and stored."""
        validate_call(call)
        header = self._header(snapshot, call)
        path = self.directory / f"{self._key(header)}.json"
        hit, value = self._read(path, header)
        if hit:
            return value
        value = run_oracle(call, snapshot.path)
        write_atomic(path, canonical_json({**header, "value": value}) + "\n")
        return value

    @staticmethod
    def _read(path: Path, header: dict[str, Any]) -> tuple[bool, Any]:
        try:
            entry = json.loads(path.read_text(encoding="ascii"))
        except (OSError, ValueError):
            return False, None
        if not isinstance(entry, dict) or "value" not in entry:
            return False, None
        stored = {k: entry.get(k) for k in header}
        if canonical_json(stored) != canonical_json(header):
            return False, None
        return True, entry["value"]
