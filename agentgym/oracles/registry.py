"""Find oracles by name: the v1 built-ins plus third-party ones from the `agentgym.oracles` entry points.

A third-party oracle is any callable `fn(root: Path, **kwargs) -> JSON value`, published as

    [project.entry-points."agentgym.oracles"]
    my_oracle = "my_package.oracles:my_oracle"

Entry points are discovered on first use and each is imported once, when its name is first asked for.
A built-in name cannot be overridden by an entry point.

Optional parts, as attributes of the function (each takes the same keyword arguments):
`accepted_values(root, **args) -> list` lists every right answer, the function's own value first (a tie);
`snapshot_facts(root, **args) -> JSON` plus `judge(final_root, facts, **args) -> bool` split an oracle_bool
check into what is computed on the pristine snapshot and what is read from the agent's final tree.
"""

from __future__ import annotations

import inspect
import json
import threading
import types
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from agentgym.errors import OracleError
from agentgym.oracles.builtin import BUILTIN_ORACLES, BUILTIN_REVISION
from agentgym.specs.task import OracleCall

ENTRY_POINT_GROUP = "agentgym.oracles"

Oracle = Callable[..., Any]

_lock = threading.Lock()
_entry_points: dict[str, EntryPoint] | None = None
_loaded: dict[str, Oracle] = {}


def clear_registry_cache() -> None:
    """Forget discovered entry points (after installing a plugin at run time, and in tests)."""
    global _entry_points
    with _lock:
        _entry_points = None
        _loaded.clear()


def _discovered() -> dict[str, EntryPoint]:
    global _entry_points
    with _lock:
        if _entry_points is None:
            found: dict[str, EntryPoint] = {}
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                if ep.name not in BUILTIN_ORACLES:
                    found.setdefault(ep.name, ep)
            _entry_points = found
        return _entry_points


def known_oracles() -> list[str]:
    """All oracle names, built-in and registered, sorted."""
    return sorted({*BUILTIN_ORACLES, *_discovered()})


def _load(name: str, ep: EntryPoint) -> Oracle:
    with _lock:
        if name in _loaded:
            return _loaded[name]
    try:
        fn = ep.load()
    except Exception as exc:
        raise OracleError(f"oracle '{name}': cannot load entry point {ep.value!r}: {_one_line(exc)}") from None
    if not callable(fn):
        raise OracleError(f"oracle '{name}': entry point {ep.value!r} is not callable")
    with _lock:
        return _loaded.setdefault(name, fn)


def get_oracle(name: str) -> Oracle:
    """The oracle function called `name`; OracleError naming it (and the known ones) if there is none."""
    if name in BUILTIN_ORACLES:
        return BUILTIN_ORACLES[name]
    ep = _discovered().get(name)
    if ep is None:
        raise OracleError(f"unknown oracle '{name}' (known: {', '.join(known_oracles())})")
    return _load(name, ep)


def oracle_identity(name: str) -> str:
    """What identifies an oracle's implementation: `module:qualname@version` (for cache keys)."""
    fn = get_oracle(name)
    where = f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', type(fn).__qualname__)}"
    if name in BUILTIN_ORACLES:
        return f"{where}@builtin-{BUILTIN_REVISION}"
    dist = getattr(_discovered()[name], "dist", None)
    return f"{where}@{getattr(dist, 'version', '?')}"


# ----------------------------------------------------------------------------------------------- checks


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _matches_hint(value: Any, hint: Any) -> bool:
    """A light check of a JSON value against a simple annotation; unknown annotations accept anything."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_matches_hint(value, arm) for arm in get_args(hint))
    if origin is list:
        (item,) = get_args(hint) or (Any,)
        return isinstance(value, list) and all(_matches_hint(v, item) for v in value)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True


def _hint_name(hint: Any) -> str:
    if get_origin(hint) is None and isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def _type_hints(fn: Oracle) -> dict[str, Any]:
    try:
        return get_type_hints(fn)
    except Exception:
        return {}


def _parameters(name: str, fn: Oracle) -> list[inspect.Parameter]:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        raise OracleError(f"oracle '{name}': cannot read its signature") from None
    if not params or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        raise OracleError(f"oracle '{name}': must take the repo root as its first parameter")
    return params[1:]


def validate_call(call: OracleCall) -> None:
    """Check `call.args` against the oracle's signature without running it (OracleError naming fn and arg)."""
    fn = get_oracle(call.fn)
    params = _parameters(call.fn, fn)
    named = {p.name: p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
    for arg in call.args:
        if arg not in named and not takes_any:
            accepted = ", ".join(named) or "none"
            raise OracleError(f"oracle '{call.fn}': unknown argument '{arg}' (accepted: {accepted})")
    for param in named.values():
        if param.default is param.empty and param.name not in call.args:
            raise OracleError(f"oracle '{call.fn}': missing required argument '{param.name}'")
    hints = _type_hints(fn)
    for arg, value in call.args.items():
        hint = hints.get(arg)
        if arg in named and hint is not None and not _matches_hint(value, hint):
            raise OracleError(
                f"oracle '{call.fn}': argument '{arg}' must be {_hint_name(hint)}, got {type(value).__name__}"
            )


def _normalised(name: str, result: Any) -> Any:
    try:
        return json.loads(json.dumps(result, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise OracleError(f"oracle '{name}' returned a value that is not JSON: {_one_line(exc)}") from None


def _call(call: OracleCall, fn: Oracle, root: Path, *extra: Any) -> Any:
    if not root.is_dir():
        raise OracleError(f"oracle '{call.fn}': repo root {root} is not a directory")
    try:
        result = fn(root, *extra, **call.args)
    except OracleError:
        raise
    except Exception as exc:
        raise OracleError(f"oracle '{call.fn}' failed: {_one_line(exc)}") from exc
    return _normalised(call.fn, result)


def run_oracle(call: OracleCall, root: Path, *, facts: Any = None) -> Any:
    """Run an oracle on a tree. Its result is normalised through JSON; any failure becomes an OracleError.

    `facts` (from `run_snapshot_facts` on the pristine snapshot) goes to the oracle's `judge` part, if it
    has one; without facts, or without a judge, the oracle itself runs on `root`.
    """
    validate_call(call)
    fn = get_oracle(call.fn)
    judge = getattr(fn, "judge", None)
    if facts is not None and callable(judge):
        return _call(call, judge, root, facts)
    return _call(call, fn, root)


def run_oracle_accepted(call: OracleCall, root: Path) -> list[Any]:
    """Every right answer on `root`, the oracle's own value first (its `accepted_values` part, if any)."""
    validate_call(call)
    fn = get_oracle(call.fn)
    accepted = getattr(fn, "accepted_values", None)
    if not callable(accepted):
        return [_call(call, fn, root)]
    values = _call(call, accepted, root)
    if not isinstance(values, list) or not values:
        raise OracleError(f"oracle '{call.fn}': accepted_values must return a non-empty list")
    return values


def has_snapshot_facts(name: str) -> bool:
    """Whether an oracle_bool oracle computes part of its verdict on the pristine snapshot."""
    fn = get_oracle(name)
    return callable(getattr(fn, "snapshot_facts", None)) and callable(getattr(fn, "judge", None))


def run_snapshot_facts(call: OracleCall, root: Path) -> Any:
    """The oracle's `snapshot_facts` part on the pristine snapshot (None if it has none)."""
    validate_call(call)
    if not has_snapshot_facts(call.fn):
        return None
    return _call(call, get_oracle(call.fn).snapshot_facts, root)
