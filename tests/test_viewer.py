"""`agentgym view RUNS_ROOT` (real CLI in a subprocess, real HTTP on 127.0.0.1) over a real two-model campaign:
the run list, only listed folders served (traversal and other hosts refused), Ctrl-C stops cleanly, a
side-by-side comparison of two runs, and a trial recorded (through RunDir) while the page is open appears
without a reload."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentgym.results.rundir import RunDir
from agentgym.specs.result import TaskResult
from tests.html_fixtures import PageLog, artifacts_dir, build_campaign, expect_text, model_runs


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_campaign(tmp_path_factory.mktemp("view-campaign"))


class Viewer:
    def __init__(self, root: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agentgym.cli.main", "view", str(root), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), self.proc.stderr.read() if self.proc.stderr else ""

    def get(self, path: str, host: str | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url.rstrip("/") + path, headers={"Host": host} if host else {})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        _out, err = self.proc.communicate(timeout=15)
        return self.proc.returncode, err


@pytest.fixture
def viewer(campaign: Path) -> Iterator[Viewer]:
    v = Viewer(campaign.parent)
    yield v
    v.stop()


def test_lists_runs_serves_only_listed_folders_and_stops_on_ctrl_c(viewer: Viewer, campaign: Path) -> None:
    status, body = viewer.get("/api/runs")
    listing = {r["id"]: r for r in json.loads(body)["runs"]}
    runs = {name: f"{campaign.name}/{path.name}" for name, path in model_runs(campaign).items()}
    assert status == 200 and listing[campaign.name]["kind"] == "campaign" and listing[campaign.name]["trials"] == 6
    assert listing[runs["alpha"]]["models"] == ["alpha"] and listing[runs["beta"]]["status"] == "finished"
    status, body = viewer.get(f"/api/trial?run={runs['beta']}&repo=demo&stem=demo_task_001")
    assert status == 200 and json.loads(body)["failure_reason"] == "wrong_answer"
    for path in (
        "/api/report?run=..",
        "/api/report?run=/etc",
        f"/api/report?run={campaign.name}/..",
        "/api/report",
        f"/api/trial?run={campaign.name}&repo=demo&stem=demo_task_001",  # a campaign is not a run
        f"/api/trial?run={runs['beta']}&repo=demo&stem=../../results/summary",
        f"/api/trial?run={runs['beta']}&repo=..&stem=demo_task_001",
        "/etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        f"/{campaign.name}/campaign.json",
    ):
        assert viewer.get(path)[0] == 404, path
    assert viewer.get("/api/runs", host="attacker.example")[0] == 403
    code, err = viewer.stop()
    assert code == 0 and "stopped" in err and "Traceback" not in err


def test_side_by_side_comparison_of_two_runs(browser: Any, viewer: Viewer, campaign: Path, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    log = PageLog(page, allowed_prefix=viewer.url)
    page.goto(viewer.url)
    page.wait_for_selector("#run-list")
    for path in model_runs(campaign).values():
        page.check(f"input[data-run='{campaign.name}/{path.name}']")
    page.click("#compare")
    page.wait_for_selector(".comparison")
    assert page.locator("#grid thead th").all_inner_texts()[2:] == ["alpha (base)", "beta"]
    assert page.locator(".comparison li.flip[data-task='demo/demo_task_001']").count() == 1
    page.click("#grid tr[data-task='demo/demo_task_003'] td[data-model='beta'] a")  # fetched from /api/trial
    expect_text(page.locator("#transcript h2"), "demo_task_003")
    assert "answer.md" in page.locator("#transcript").inner_text()
    page.screenshot(path=str(artifacts_dir(tmp_path) / "view-compare.png"), full_page=True)
    assert log.problems == [] and log.requests == [] and page.evaluate("window.__xss") is None
    page.close()


def test_a_trial_recorded_while_the_page_is_open_appears_without_reload(
    browser: Any, campaign: Path, tmp_path: Path
) -> None:
    root = tmp_path / "runs"
    shutil.copytree(campaign.parent, root, symlinks=True)
    run = root / campaign.name / model_runs(campaign)["beta"].name
    record = run / "results" / "demo" / "demo_task_003.json"
    result = TaskResult.model_validate_json(record.read_bytes())
    record.unlink()
    viewer = Viewer(root)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        log = PageLog(page, allowed_prefix=viewer.url)
        page.goto(f"{viewer.url}?run={campaign.name}")
        cell = page.locator("#grid tr[data-task='demo/demo_task_003'] td[data-model='beta']")
        cell.wait_for()
        assert cell.inner_text() == "—"
        page.evaluate("window.__same_page = 1")
        rundir = RunDir.open(run, [])
        rundir.record(result, None, [])
        rundir.close()
        expect_text(cell, re.compile(r"^100\.00"))
        assert page.evaluate("window.__same_page") == 1  # no reload happened
        assert "3 × 1" in page.locator("#leaderboard tr[data-model='beta']").inner_text()
        page.screenshot(path=str(artifacts_dir(tmp_path) / "view-live.png"), full_page=True)
        assert log.problems == []
        page.close()
    finally:
        code, err = viewer.stop()
    assert code == 0, err
