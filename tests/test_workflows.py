"""The results workflow: schema-valid, clean under zizmor, and its campaign writer refuses bad inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentgym.specs.campaign import load_campaign

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def test_there_is_an_eval_workflow() -> None:
    assert [w.name for w in WORKFLOWS] == ["eval.yml"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_the_github_actions_schema(workflow: Path) -> None:
    done = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", workflow],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_has_no_zizmor_findings(workflow: Path) -> None:
    done = subprocess.run(
        [BIN / "zizmor", "--offline", "--no-progress", "--format", "json", workflow],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == []


def _campaign(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("MODELS", "REPOS", "EPOCHS", "GITHUB_OUTPUT")}
    return subprocess.run(
        [sys.executable, ROOT / "scripts" / "ci_campaign.py", tmp_path / "campaign.yaml"],
        env={**clean, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_campaign_writer_makes_a_valid_campaign(tmp_path: Path) -> None:
    out = tmp_path / "gh_output"
    done = _campaign(tmp_path, MODELS="m-a, m/b", REPOS="mmengine", EPOCHS="2", INPUT_BASE_URL="http://h/v1",
                     RUN_ID="77", GITHUB_OUTPUT=str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    spec = load_campaign(tmp_path / "campaign.yaml")
    assert [m.model for m in spec.models] == ["m-a", "m/b"] and spec.epochs == 2 and spec.repos == ["mmengine"]
    assert all(m.api_key_env == "OPENAI_API_KEY" and m.base_url == "http://h/v1" for m in spec.models)
    assert out.read_text() == "campaign=gh-77\n" and spec.campaign_id == "gh-77"


@pytest.mark.parametrize(
    ("env", "cause"),
    [({"MODELS": "a;rm -rf /"}, "models:"), ({"MODELS": ""}, "models:"), ({"MODELS": "a", "EPOCHS": "x"}, "epochs:")],
)
def test_campaign_writer_refuses_bad_inputs_in_one_line(tmp_path: Path, env: dict[str, str], cause: str) -> None:
    done = _campaign(tmp_path, **env)
    assert done.returncode == 2 and done.stderr.startswith(f"error: {cause}")
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "campaign.yaml").exists()


def test_regression_gate_script_compares_each_model_with_its_last_published_results(tmp_path: Path) -> None:
    from tests.conftest import run_cli
    from tests.test_compare import _run

    old = tmp_path / "old"
    _run(old, "m1-20261101T000000Z", [100.0] * 20)
    assert run_cli("publish", str(old), "--out-root", str(tmp_path / "results"), cwd=tmp_path).returncode == 0
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}

    def gate(campaign: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", ROOT / "scripts" / "ci_gate.sh", campaign, tmp_path / "results"],
                              env=env, capture_output=True, text=True, timeout=120)  # fmt: skip

    same = tmp_path / "same"
    _run(same, "m1-20261202T000000Z", [100.0] * 20)
    _run(same, "m9-20261202T000000Z", [0.0] * 20)  # never published: nothing to compare
    done = gate(same)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "m9: no published results yet" in done.stdout and "verdict: no detectable change" in done.stdout
    worse = tmp_path / "worse"
    _run(worse, "m1-20261202T000000Z", [0.0] * 10 + [100.0] * 10)
    done = gate(worse)
    assert done.returncode == 1 and "verdict: regression" in done.stdout
