"""`agentgym report --html` on a real two-model campaign (real CLI, scripted servers, bwrap, oracles), checked
in Debian's chromium through Playwright: no console errors and no network request, the numbers equal
summary.json, the grid filters and sorts, a click opens the transcript, a hostile transcript runs no script
and shows its text literally, --compare lists flipped tasks linked to both transcripts; plus the bounds and
escaping without a browser."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from agentgym.results.html import page as page_mod
from agentgym.results.html.bound import STRING_CAP, bound, script_json
from agentgym.results.html.data import columns_of, transcripts
from agentgym.results.runsets import find_runs
from tests.conftest import run_cli
from tests.html_fixtures import (
    HOSTILE,
    PageLog,
    artifacts_dir,
    build_campaign,
    expect_text,
    model_runs,
    summary,
)

SCRIPT = re.compile(r"<script>(.*?)</script>\n", re.DOTALL)


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_campaign(tmp_path_factory.mktemp("html-campaign"))


@pytest.fixture(scope="module")
def report_file(campaign: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html-report") / "report.html"
    proc = run_cli("report", str(campaign), "--html", "-o", str(out), cwd=campaign)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == out and "2 model(s), 6 trial(s)" in proc.stderr
    return out


def _open(browser: Any, url: str) -> tuple[Any, PageLog]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    log = PageLog(page)
    page.goto(url)
    page.wait_for_selector("#grid")
    return page, log


def test_numbers_equal_summary_json_and_page_is_offline(
    browser: Any, report_file: Path, campaign: Path, tmp_path: Path
) -> None:
    page, log = _open(browser, report_file.as_uri())
    shot = artifacts_dir(tmp_path) / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    for model, run in model_runs(campaign).items():
        s = summary(run)
        row = page.locator(f"#leaderboard tr[data-model='{model}']")
        assert row.locator("[data-k=mean-score]").inner_text() == f"{s['avg_score']:.2f}"
        assert row.locator("[data-k=success-rate]").inner_text() == f"{s['success_rate'] * 100:.2f}%"
        runs_row = page.locator(f"#runs tr[data-model='{model}']")
        assert runs_row.locator("[data-k=summary-avg-score]").inner_text() == f"{s['avg_score']:.2f}"
        assert f"{s['tasks_finished']} / {s['tasks_planned']}" in runs_row.inner_text()
    assert page.locator("#leaderboard").inner_text().count("not separable from") == 2  # 3 tasks: wide intervals
    assert page.locator("canvas").count() == 3 and page.locator("#no-charts").count() == 0
    assert log.problems == [] and log.requests == [] and log.dialogs == []
    page.close()


def test_grid_filters_sorts_and_opens_transcripts(browser: Any, report_file: Path, tmp_path: Path) -> None:
    page, log = _open(browser, report_file.as_uri())
    rows = page.locator("#grid tbody tr")
    assert rows.count() == 3
    page.fill("#grid-filter", "task_002")
    assert rows.count() == 1 and rows.first.get_attribute("data-task") == "demo/demo_task_002"
    page.fill("#grid-filter", "")
    page.select_option("#grid-status", "failed")
    assert [rows.nth(i).get_attribute("data-task") for i in range(rows.count())] == ["demo/demo_task_001"]
    page.select_option("#grid-status", "all")
    page.click("#grid th[data-sort='beta']")  # by beta's score, best first
    assert rows.last.get_attribute("data-task") == "demo/demo_task_001"
    page.click("#grid tr[data-task='demo/demo_task_002'] td[data-model='alpha'] a")
    panel = page.locator("#transcript")
    panel.wait_for(state="visible")
    assert "alpha · demo/demo_task_002" in panel.locator("h2").inner_text()
    assert page.locator("#t-outcome").inner_text() == "success"
    page.click("#grid tr[data-task='demo/demo_task_001'] td[data-model='beta'] a")
    expect_text(page.locator("#transcript h2"), "beta")
    text = panel.inner_text()
    assert "wrong_answer" in text and "tool call run_command" in text and "Turns (4)" in text
    checks = panel.locator("table tr").nth(1).inner_text()
    assert "top_level_entries" in checks and "5" in checks and "99" in checks
    assert "answer.json" in text and '{"top_level_entries": 99}' in text
    page.screenshot(path=str(artifacts_dir(tmp_path) / "report-transcript.png"), full_page=True)
    assert log.problems == []
    page.close()


def test_hostile_transcript_runs_no_script_and_shows_text(browser: Any, report_file: Path) -> None:
    raw = report_file.read_text(encoding="utf-8")
    assert "<script>window.__xss" not in raw and "<img" not in raw and "\u2028" not in raw
    page, log = _open(browser, report_file.as_uri())
    for task in ("demo/demo_task_001", "demo/demo_task_003"):
        page.click(f"#grid tr[data-task='{task}'] td[data-model='beta'] a")
        expect_text(page.locator("#transcript h2"), task)
        final = page.locator("#transcript pre.final-message").evaluate("e => e.textContent")
        assert final == HOSTILE  # literally, U+2028/9 included
    page.click("#grid tr[data-task='demo/demo_task_001'] td[data-model='beta'] a")
    expect_text(page.locator("#transcript h2"), "task_001")
    outputs = page.locator("#transcript pre.tool-output").evaluate_all("es => es.map(e => e.textContent).join()")
    assert "<script>window.__xss=1</script>" in outputs and "<img src=x onerror=window.__xss=4>.txt" in outputs
    assert page.evaluate("window.__xss") is None
    assert page.evaluate("document.querySelectorAll('img, iframe, object, embed').length") == 0
    assert page.evaluate("document.querySelectorAll('script').length") == 4  # config, data, Chart.js, report.js
    assert (
        page.evaluate("[...document.querySelectorAll('a')].filter(a => !a.getAttribute('href').startsWith('#')).length")
        == 0
    )
    assert log.dialogs == [] and log.problems == [] and log.requests == []
    page.close()


def test_compare_lists_flipped_tasks_linked_to_both_transcripts(browser: Any, campaign: Path, tmp_path: Path) -> None:
    runs = model_runs(campaign)
    out = tmp_path / "cmp.html"
    proc = run_cli("report", str(runs["beta"]), "--html", "-o", str(out), "--compare", str(runs["alpha"]), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    page, log = _open(browser, out.as_uri())
    section = page.locator(".comparison")
    assert "beta vs alpha (base)" in section.locator("h3").inner_text()
    flip = section.locator("li.flip[data-task='demo/demo_task_001']")
    assert flip.count() == 1
    flip.locator("a").nth(0).click()  # the base's transcript
    expect_text(page.locator("#transcript h2"), "alpha (base)")
    assert page.locator("#t-outcome").inner_text() == "success"
    flip.locator("a").nth(1).click()
    expect_text(page.locator("#transcript h2"), "Transcript: beta")
    assert page.locator("#t-outcome").inner_text() == "failed"
    assert log.problems == []
    page.close()


def test_without_chartjs_the_tables_stay_and_the_cli_warns(
    browser: Any, campaign: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from agentgym.cli.report_cmd import report

    monkeypatch.setattr(page_mod, "chart_js", lambda: None)
    out = tmp_path / "nocharts.html"
    report(campaign, html=True, out=out, compare=None)
    assert "Chart.js is not installed" in capsys.readouterr().err
    page, log = _open(browser, out.as_uri())
    assert page.locator("#no-charts").is_visible() and page.locator("canvas").count() == 0
    assert page.locator("#leaderboard tbody tr").count() == 2 and log.problems == []
    page.close()


def test_csp_allows_exactly_the_inline_scripts(report_file: Path) -> None:
    raw = report_file.read_text(encoding="utf-8")
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', raw)
    assert policy is not None
    csp = policy.group(1).replace("&#x27;", "'")
    assert csp.startswith("default-src 'none'") and "unsafe-inline" not in csp.split("style-src")[0]
    hashes = set(re.findall(r"'sha256-([^']+)'", csp))
    inline = SCRIPT.findall(raw)
    assert len(inline) == 2
    assert hashes == {base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() for s in inline}
    assert "connect-src" not in csp  # a file report fetches nothing


def test_script_json_and_bounds() -> None:
    text = script_json(bound({"a": "</script><!-- & \u2028\u2029", "n": float("nan")}))
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert text == '{"a":"\\u003c/script\\u003e\\u003c!-- \\u0026 \\u2028\\u2029","n":null}'
    big = bound("x" * (STRING_CAP * 4))
    assert len(big.encode()) < STRING_CAP + 100 and f"[… {STRING_CAP * 3} bytes elided …]" in big


def test_total_cap_leaves_transcripts_out(campaign: Path) -> None:
    cols = columns_of(find_runs([campaign]))
    views, omitted = transcripts(cols)
    assert len(views) == 6 and omitted == 0
    views, omitted = transcripts(cols, cap=20_000)
    assert omitted > 0 and len(views) + omitted == 6


def test_bad_input_is_one_line_and_exit_2(campaign: Path, tmp_path: Path) -> None:
    for args in (("report", str(campaign)), ("report", str(tmp_path / "nowhere"), "--html")):
        proc = run_cli(*args, cwd=tmp_path)
        assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr
        assert "error:" in proc.stderr and "Traceback" not in proc.stderr
