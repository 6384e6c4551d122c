"""Compare the agent's answer with the oracles' expected values (comparator: exact JSON equality)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentgym.errors import OracleError
from agentgym.oracles import run_oracle
from agentgym.specs.result import OutputCheck
from agentgym.specs.task import OutputSpec

ANSWER_JSON = "eval_artifacts/answer.json"
MAX_ANSWER_BYTES = 1024 * 1024


@dataclass
class CheckOutcome:
    checks: list[OutputCheck]
    answer_status: str  # "ok" | "missing" | "invalid" | "not_needed"


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


def _read_answer(root: Path) -> tuple[dict[str, Any] | None, str]:
    path = root / ANSWER_JSON
    if path.is_symlink() or not path.is_file():
        return None, "missing"
    if path.stat().st_size > MAX_ANSWER_BYTES:
        return None, "invalid"
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except json.JSONDecodeError:
        return None, "invalid"
    return (data, "ok") if isinstance(data, dict) else (None, "invalid")


def evaluate_outputs(outputs: list[OutputSpec], expected: list[Any], final_root: Path | None) -> CheckOutcome:
    """`expected[i]` is the pristine-snapshot value for outputs[i] (ignored for oracle_bool)."""
    needs_json = any(o.type != "oracle_bool" for o in outputs)
    answer, status = _read_answer(final_root) if (needs_json and final_root) else (None, "missing")
    if not needs_json:
        status = "missing" if _bool_answer_missing(outputs, final_root) else "not_needed"
    checks: list[OutputCheck] = []
    for out, exp in zip(outputs, expected, strict=True):
        if out.type == "oracle_bool":
            checks.append(_bool_check(out, final_root))
            continue
        present = answer is not None and out.key in answer
        actual = answer.get(out.key) if answer is not None else None
        ok = present and json_equal(exp, actual)
        error = (
            None
            if present
            else (
                "answer.json missing"
                if status == "missing"
                else "answer.json is not a JSON object"
                if status == "invalid"
                else "key missing"
            )
        )
        checks.append(OutputCheck(key=out.key, ok=ok, expected=exp, actual=actual, weight=out.weight, error=error))
    return CheckOutcome(checks, status)


def _bool_answer_missing(outputs: list[OutputSpec], root: Path | None) -> bool:
    """True when an oracle_bool check points at an answer file (eval_artifacts/...) that was never written."""
    paths = [str(o.oracle.args.get("path", "")) for o in outputs if o.type == "oracle_bool"]
    answers = [p for p in paths if p.startswith("eval_artifacts/")]
    return bool(answers) and (root is None or not any((root / p).is_file() for p in answers))


def _bool_check(out: OutputSpec, root: Path | None) -> OutputCheck:
    if root is None:
        return OutputCheck(key=out.key, ok=False, expected=True, actual=None, weight=out.weight, error="no workspace")
    try:
        value = run_oracle(out.oracle, root)
    except OracleError as exc:
        return OutputCheck(key=out.key, ok=False, expected=True, actual=None, weight=out.weight, error=exc.message)
    return OutputCheck(key=out.key, ok=value is True, expected=True, actual=value, weight=out.weight)
