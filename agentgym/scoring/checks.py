"""Compare the agent's answer with the oracles' expected values (comparator: exact JSON equality).

Everything read here was written by the agent: answer.json is read bounded and in-tree (oracles/agentfile.py),
any malformed content is `invalid` (failure `invalid_answer_json`) with a one-line detail, never an exception,
and the `actual` value stored in a record is capped (the comparison always uses the full value).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentgym.errors import OracleError, SpecError
from agentgym.oracles import Expected, ExpectedCache, run_oracle
from agentgym.oracles.agentfile import MAX_AGENT_FILE_BYTES, human_size, locate, read_agent_file
from agentgym.sources.base import Snapshot
from agentgym.specs.result import OutputCheck
from agentgym.specs.task import OutputSpec, TaskSpec

ANSWER_JSON = "eval_artifacts/answer.json"
MAX_ANSWER_BYTES = MAX_AGENT_FILE_BYTES
MAX_RECORDED_ACTUAL = 4096  # bytes of an answer value's JSON kept in a record
MAX_RECORDED_DEPTH = 32  # deeper values are recorded as elided text
_ACCEPTED_SHOWN = 5


@dataclass
class CheckOutcome:
    checks: list[OutputCheck]
    answer_status: str  # "ok" | "missing" | "invalid" | "not_needed"
    answer_detail: str | None = None  # why answer.json is missing or invalid, one line


# ----------------------------------------------------------------------------------------------- types


def json_type(value: Any) -> str:
    """The name of a JSON value's kind, as the task file's `type` spells it (plus null/bool/list/object)."""
    if value is None:
        return "null"
    for kind, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"), (list, "list")):
        if isinstance(value, kind):
            return name
    return "object"


def type_matches(declared: str, value: Any) -> bool:
    """`int`: a JSON integer (not 5.0, "5" or true); `float`: any number but a bool; `str`; `json`: anything."""
    kind = json_type(value)
    if declared == "int":
        return kind == "int"
    if declared == "float":
        return kind in ("int", "float")
    if declared == "str":
        return kind == "str"
    return True


def json_equal(expected: Any, actual: Any) -> bool:
    """Exact equality of JSON values: true != 1 and "1" != 1; 3 == 3.0 (JSON has one number type)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return expected == actual
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(json_equal(expected[k], actual[k]) for k in expected)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(json_equal(e, a) for e, a in zip(expected, actual, strict=True))
    return type(expected) is type(actual) and expected == actual


# ----------------------------------------------------------------------------------------------- plan time


def _preview(values: list[Any]) -> str:
    shown = [v["path"] if isinstance(v, dict) and isinstance(v.get("path"), str) else v for v in values]
    text = ", ".join(json.dumps(v, ensure_ascii=True)[:200] for v in shown[:_ACCEPTED_SHOWN])
    return text + (f", … ({len(values) - _ACCEPTED_SHOWN} more)" if len(values) > _ACCEPTED_SHOWN else "")


def tie_message(task_id: str, key: str, fn: str, accepted: list[Any]) -> str:
    """The warning for an output with several right answers (a largest_file tie), for the task author."""
    return (
        f"warning: task {task_id}, output '{key}': {fn} has {len(accepted)} equally right answers on this "
        f"snapshot ({_preview(accepted)}); any of them passes"
    )


def _check_type(task: TaskSpec, out: OutputSpec, exp: Expected, warn: Callable[[str], None]) -> OutputSpec:
    """A declared type must fit the oracle's value; a defaulted `str` that does not fit becomes `json` (v1)."""
    bad = [v for v in exp.answers() if not type_matches(out.type, v)]
    if not bad:
        return out
    where = f"task {task.id}, output '{out.key}'"
    if "type" in out.model_fields_set:
        raise SpecError(f"{where}: type {out.type} but oracle {out.oracle.fn} gives {json_type(bad[0])}")
    warn(f"warning: {where}: no type given and oracle {out.oracle.fn} gives {json_type(bad[0])}; compared as json")
    return out.model_copy(update={"type": "json"})


def plan_expected(
    task: TaskSpec, snapshot: Snapshot, cache: ExpectedCache, warn: Callable[[str], None] = lambda _m: None
) -> tuple[list[OutputSpec], list[Expected]]:
    """Every output's expectation on the pristine snapshot (cached), type-checked; warns about ties."""
    outputs, expected = [], []
    for out in task.outputs:
        if out.type == "oracle_bool":
            exp = cache.bool_expected(snapshot, out.oracle)
        else:
            exp = cache.expected(snapshot, out.oracle)
            out = _check_type(task, out, exp, warn)
            if len(exp.accepted) > 1:
                warn(tie_message(task.id, out.key, out.oracle.fn, exp.accepted))
        outputs.append(out)
        expected.append(exp)
    return outputs, expected


# ----------------------------------------------------------------------------------------------- answers


def _load_json(text: str) -> tuple[Any, str | None]:
    try:
        return json.loads(text), None
    except RecursionError:
        return None, "answer.json is nested too deeply to parse"
    except ValueError as exc:  # JSONDecodeError, and integers too long to convert
        return None, f"answer.json is not valid JSON: {str(exc).splitlines()[0][:200]}"


def read_answer(root: Path) -> tuple[dict[str, Any] | None, str, str | None]:
    """(answer object, status, detail). A symlinked answer.json counts as missing, as before."""
    found = read_agent_file(root, ANSWER_JSON, limit=MAX_ANSWER_BYTES, follow_links=False)
    if found.status == "too_large":
        limit = human_size(MAX_ANSWER_BYTES)
        return None, "invalid", f"answer.json is {human_size(found.size)}, over the {limit} limit; not read"
    if not found.ok:
        return None, "missing", "answer.json missing"
    data, error = _load_json(found.data.decode("utf-8", errors="replace"))
    if error is not None:
        return None, "invalid", error
    if not isinstance(data, dict):
        return None, "invalid", f"answer.json is not a JSON object (got {json_type(data)})"
    return data, "ok", None


def _too_deep(value: Any, limit: int) -> bool:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def recorded_value(value: Any) -> tuple[Any, bool]:
    """(what a record stores for an agent's value, whether it was elided). Small values are kept as they are;
    a deep, huge or non-JSON (NaN) value becomes the head of its text with an explicit elision marker."""
    if _too_deep(value, MAX_RECORDED_DEPTH):
        return f"[… a {json_type(value)} nested deeper than {MAX_RECORDED_DEPTH} levels, elided …]", True
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return f"[… value is not strict JSON: {repr(value)[:MAX_RECORDED_ACTUAL]} …]", True
    size = len(text.encode("utf-8"))
    if size <= MAX_RECORDED_ACTUAL:
        return value, False
    head = text.encode("utf-8")[:MAX_RECORDED_ACTUAL].decode("utf-8", "ignore")
    return f"{head}[… {size - MAX_RECORDED_ACTUAL} of {size} bytes elided …]", True


def _value_check(out: OutputSpec, exp: Expected, answer: dict[str, Any] | None, detail: str | None) -> OutputCheck:
    accepted = exp.accepted if len(exp.accepted) > 1 else None
    base = {"key": out.key, "expected": exp.value, "weight": out.weight, "accepted": accepted}
    if answer is None or out.key not in answer:
        error = detail if answer is None else "key missing"
        return OutputCheck(ok=False, error=error or "answer.json missing", **base)
    actual = answer[out.key]
    shown, elided = recorded_value(actual)
    if not type_matches(out.type, actual):
        error = f"expected {out.type}, got {json_type(actual)}"
        return OutputCheck(ok=False, actual=shown, actual_elided=elided, error=error, **base)
    ok = any(json_equal(value, actual) for value in exp.answers())
    return OutputCheck(ok=ok, actual=shown, actual_elided=elided, **base)


def _as_expected(value: Any) -> Expected:
    return value if isinstance(value, Expected) else Expected(value)


def evaluate_outputs(outputs: list[OutputSpec], expected: list[Any], final_root: Path | None) -> CheckOutcome:
    """`expected[i]` is the pristine-snapshot Expected (or plain value) for outputs[i]."""
    needs_json = any(o.type != "oracle_bool" for o in outputs)
    answer, status, detail = read_answer(final_root) if (needs_json and final_root) else (None, "missing", None)
    if not needs_json:
        status = "missing" if _bool_answer_missing(outputs, final_root) else "not_needed"
    checks: list[OutputCheck] = []
    for out, raw in zip(outputs, expected, strict=True):
        exp = _as_expected(raw)
        if out.type == "oracle_bool":
            checks.append(_bool_check(out, exp, final_root))
        else:
            checks.append(_value_check(out, exp, answer, detail))
    return CheckOutcome(checks, status, detail if status == "invalid" else None)


def _bool_answer_missing(outputs: list[OutputSpec], root: Path | None) -> bool:
    """True when an oracle_bool check points at an answer file (eval_artifacts/...) that was never written."""
    paths = [str(o.oracle.args.get("path", "")) for o in outputs if o.type == "oracle_bool"]
    answers = [p for p in paths if p.startswith("eval_artifacts/")]
    return bool(answers) and (root is None or not any(locate(root, p)[0] == "ok" for p in answers))


def _bool_check(out: OutputSpec, exp: Expected, root: Path | None) -> OutputCheck:
    if root is None:
        return OutputCheck(key=out.key, ok=False, expected=True, actual=None, weight=out.weight, error="no workspace")
    try:
        value = run_oracle(out.oracle, root, facts=exp.facts)
    except OracleError as exc:
        return OutputCheck(key=out.key, ok=False, expected=True, actual=None, weight=out.weight, error=exc.message)
    shown, elided = recorded_value(value)
    return OutputCheck(
        key=out.key, ok=value is True, expected=True, actual=shown, weight=out.weight, actual_elided=elided
    )
