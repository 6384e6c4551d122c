"""Bounds on what the page embeds, and JSON that is safe inside a <script> element.

Every string an agent or endpoint produced is hostile: it is capped (with a visible marker) before it is
embedded, and the JSON text escapes `<`, `>`, `&` and U+2028/U+2029 so no byte sequence can end the script
element or be read as markup; the page renders it with textContent only.
"""

from __future__ import annotations

import json
import math
from typing import Any

from agentgym.tools.caps import elide

STRING_CAP = 16 * 1024  # bytes of one embedded string
MAX_DEPTH = 12
MAX_ITEMS = 100_000  # list items / dict keys kept per container
TOTAL_CAP = 48 * 2**20  # bytes of all trial views in one page; further trials are listed without a transcript

_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def bound(value: Any, cap: int = STRING_CAP, depth: int = 0) -> Any:
    """A JSON-able copy with strings capped (marker `[… N bytes elided …]`), nesting and lengths bounded."""
    if isinstance(value, str):
        return elide(value, cap)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int):
        return value
    if depth >= MAX_DEPTH:
        return elide(json.dumps(value, ensure_ascii=False, default=str), cap)
    if isinstance(value, dict):
        items = list(value.items())
        out = {elide(str(k), 1024): bound(v, cap, depth + 1) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            out["…"] = f"[… {len(items) - MAX_ITEMS} more keys elided …]"
        return out
    if isinstance(value, list | tuple):
        kept = [bound(v, cap, depth + 1) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            kept.append(f"[… {len(value) - MAX_ITEMS} more items elided …]")
        return kept
    return elide(str(value), cap)


def script_json(data: Any) -> str:
    """JSON text for `<script type="application/json">`: markup characters and line separators escaped."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)
    return text.translate(_ESCAPES)


def json_size(data: Any) -> int:
    return len(json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8"))


__all__ = ["STRING_CAP", "TOTAL_CAP", "bound", "json_size", "script_json"]
