"""Reading pytest's JUnit XML report (written outside the tree) into one status per grading node id."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

MAX_MESSAGE = 300


@dataclass
class Report:
    cases: dict[tuple[str, str], tuple[str, str | None]]  # (classname, name) → (status, message)
    collection_errors: list[str] = field(default_factory=list)


def junit_key(node_id: str) -> tuple[str, str]:
    """The (classname, name) pytest's junitxml gives the test `node_id` (its mangle_test_address)."""
    path, bracket, params = node_id.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def parse(text: str) -> Report:
    """Raises ValueError when the text is not a JUnit report."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"JUnit report is not XML: {exc}") from None
    report = Report({})
    for case in root.iter("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "")
        status, message = "passed", None
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                status = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                message = " ".join((child.get("message") or child.tag).split())[:MAX_MESSAGE]
                if child.tag != "skipped":
                    break
        if not classname and status == "error":
            report.collection_errors.append(f"{name}: {message}")
            continue
        report.cases[(classname, name)] = (status, message)
    return report
