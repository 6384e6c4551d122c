"""A real two-model campaign (real CLI, two scripted servers on 127.0.0.1, real git repo, bwrap, oracles)
for the HTML report and viewer tests; the second model's transcript is hostile (markup, script, javascript:
links, U+2028 in its final message, tool output, file names and answer file)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from agentgym.models.scripted import ScriptByTask, ScriptedServer
from tests.conftest import make_git_repo, run_cli, write_config
from tests.test_campaign import SCRIPTS

XSS = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=2">'
JS_LINK = "[click](javascript:window.__xss=3) javascript:window.__xss=3"
HOSTILE = f"{XSS} {IMG} {JS_LINK} line\u2028sep\u2029para & </pre></textarea>"
HOSTILE_NAME = "eval_artifacts/<img src=x onerror=window.__xss=4>.txt"

GOOD = SCRIPTS  # the campaign tests' scripted answers: every check passes
HOSTILE_SCRIPTS = {
    "Count the entries": [  # wrong answer, hostile everything: fails (a flip against alpha)
        {"tool": "run_command", "args": {"command": f"echo '{XSS}'; echo '{IMG}'"}},
        {"tool": "write_file", "args": {"path": HOSTILE_NAME, "content": HOSTILE}},
        {"tool": "write_file", "args": {"path": "eval_artifacts/answer.json", "content": '{"top_level_entries": 99}'}},
        {"content": HOSTILE},
    ],
    "first non-empty line": GOOD["first non-empty line"],
    "answer.md": [
        {"tool": "write_file", "args": {"path": "eval_artifacts/answer.md", "content": f"core util {HOSTILE}"}},
        {"content": HOSTILE},
    ],
}


def launch(playwright: Any) -> Any:
    """Debian's chromium driven by Playwright (no browser download: executable_path)."""
    return playwright.chromium.launch(executable_path=chromium_path())


class PageLog:
    """Console errors and warnings, page errors, dialogs and any request that is not file:/data: of a page."""

    def __init__(self, page: Any, allowed_prefix: str = "file:") -> None:
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        page.on(
            "console", lambda m: self.problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
        )
        page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on(
            "request", lambda r: None if r.url.startswith((allowed_prefix, "data:")) else self.requests.append(r.url)
        )


def expect_text(locator: Any, text: str | re.Pattern[str], timeout: float = 15_000) -> None:
    """Wait until the locator contains text (polled by Playwright: no string eval, which the page's CSP forbids)."""
    from playwright.sync_api import expect

    expect(locator).to_contain_text(text, timeout=timeout)


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it with apt-get)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    return path


def artifacts_dir(tmp_path: Path) -> Path:
    root = os.environ.get("AGENTGYM_TEST_ARTIFACTS")
    out = Path(root) if root else tmp_path / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


def models_yaml(path: Path, alpha: str, beta: str) -> Path:
    path.write_text(
        f"- {{id: alpha, model: scripted-model, base_url: '{alpha}', price_per_million_input: 1000,"
        f" price_per_million_output: 2000}}\n- {{id: beta, model: m2, base_url: '{beta}'}}\n"
    )
    return path


def build_campaign(base: Path, epochs: int = 1) -> Path:
    """A demo repo and config tree under base, and the campaign run over them; the campaign folder."""
    repo = make_git_repo(base / "origin")
    config = write_config(base / "cfg", str(repo))
    return run_campaign(base, config, base / "runs", epochs)


def run_campaign(tmp_path: Path, config: Path, runs: Path, epochs: int = 1) -> Path:
    """Run the campaign through the real CLI (its own cache under tmp_path); return the campaign folder."""
    with (
        ScriptedServer(ScriptByTask(GOOD)) as one,
        ScriptedServer(ScriptByTask(HOSTILE_SCRIPTS), model="m2") as two,
    ):
        models = models_yaml(tmp_path / "models.yaml", one.base_url, two.base_url)
        proc = run_cli(
            "run", "--config-dir", str(config), "--models", str(models), "--runs-root", str(runs),
            "--epochs", str(epochs), "--concurrency", "2", cwd=tmp_path,
            env={"AGENTGYM_CACHE": str(tmp_path / "cache")},
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip().splitlines()[-1])


def model_runs(campaign: Path) -> dict[str, Path]:
    manifest = json.loads((campaign / "campaign.json").read_text())
    return {m["id"]: campaign / m["folder"] for m in manifest["models"]}


def summary(run: Path) -> dict[str, Any]:
    return json.loads((run / "results" / "summary.json").read_text())
