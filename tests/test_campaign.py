"""Campaigns: several models × tasks × epochs in one command (real CLI, real HTTP to two scripted servers on
127.0.0.1, real git repo, bwrap sandbox, oracles), the original's parallel_eval_config.json, the per-endpoint
connection limit, the three-line Python API of docs/running.md and one-line errors for bad campaign files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agentgym.models.scripted import ScriptByTask, ScriptedServer
from tests.conftest import TASK_MD, TASK_README, TASK_TOP, run_cli, write_config

SCRIPTS = {
    "Count the entries": [
        {"tool": "run_command", "args": {"command": "ls"}},
        {"tool": "write_file", "args": {"path": "eval_artifacts/answer.json", "content": '{"top_level_entries": 5}'}},
        {"content": "Done: 5 entries."},
    ],
    "first non-empty line": [
        {
            "tool": "write_file",
            "args": {"path": "eval_artifacts/answer.json", "content": '{"line": "  # Demo Project  "}'},
        },
        {"content": "done"},
    ],
    "answer.md": [
        {"tool": "write_file", "args": {"path": "eval_artifacts/answer.md", "content": "core and util"}},
        {"content": "written"},
    ],
}
STEMS = {"demo_task_001", "demo_task_002", "demo_task_003"}


def _slow(seconds: float) -> dict[str, list[dict[str, object]]]:
    return {k: [{**step, "sleep": seconds} for step in steps] for k, steps in SCRIPTS.items()}


def _one_campaign(runs_root: Path) -> Path:
    folders = [p for p in runs_root.iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    assert (folders[0] / "campaign.json").is_file()
    return folders[0]


def _model_folder(campaign: Path, model_id: str) -> Path:
    found = [
        p for p in campaign.iterdir() if p.is_dir() and re.fullmatch(rf"{re.escape(model_id)}-\d{{8}}T\d{{6}}Z", p.name)
    ]
    assert len(found) == 1, list(campaign.iterdir())
    return found[0]


def _all_text(root: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())


def test_models_yaml_two_endpoints_campaign_folder(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    """(a) --config campaign file + --models YAML + a flag override: 2 endpoints x 3 tasks x 2 epochs."""
    runs = tmp_path / "runs"
    with ScriptedServer(ScriptByTask(SCRIPTS)) as one, ScriptedServer(ScriptByTask(SCRIPTS), model="m2") as two:
        models = tmp_path / "models.yaml"
        models.write_text(
            f"- {{id: alpha, model: scripted-model, base_url: '{one.base_url}', api_key_env: ALPHA_KEY,"
            f" price_per_million_input: 1000, price_per_million_output: 2000}}\n"
            f"- {{id: beta, model: m2, base_url: '{two.base_url}', temperature: 0.5}}\n"
        )
        campaign = tmp_path / "campaign.yaml"
        campaign.write_text(
            f"config_dir: {demo_config}\nruns_root: {runs}\nepochs: 1\nconcurrency: 2\nmax_sandboxes: 3\n"
        )
        proc = run_cli(
            "run", "--config", str(campaign), "--models", str(models), "--epochs", "2",
            cwd=tmp_path, env={"ALPHA_KEY": "sk-alpha-SECRET-42"},
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    root = _one_campaign(runs)
    assert Path(proc.stdout.strip().splitlines()[-1]) == root
    manifest = json.loads((root / "campaign.json").read_text())
    assert manifest["status"] == "finished" and manifest["spec"]["epochs"] == 2  # the flag won over the file
    assert [m["id"] for m in manifest["models"]] == ["alpha", "beta"]
    for m in manifest["models"]:
        assert len(m["trials"]) == 6 == len(set(m["trials"])) and m["trials_done"] == 6 and m["succeeded"] == 6
        assert (root / m["folder"]).is_dir()
    assert manifest["models"][0]["config_hash"] != manifest["models"][1]["config_hash"]
    assert manifest["models"][0]["cost_usd"] > 0 and manifest["models"][1]["cost_usd"] is None
    for model_id, server in (("alpha", one), ("beta", two)):
        run = _model_folder(root, model_id)
        names = {p.name for p in (run / "results" / "demo").glob("*.json")} - {"index.json"}
        assert names == {f"{s}.json" for s in STEMS} | {f"{s}.epoch1.json" for s in STEMS}
        for name in names:
            record = json.loads((run / "results" / "demo" / name).read_text())
            assert record["metrics"]["success"] is True, (model_id, name, record["failure_reason"])
            assert 0 <= record["metrics"]["work_time_s"] <= record["metrics"]["wall_time_s"]
        cfg = json.loads((run / "results" / "run_config.json").read_text())
        assert cfg["campaign"] == {"id": root.name, "model_entry": model_id} and cfg["epochs"] == 2
        assert (run / "results" / "REPORT.md").is_file() and (run / "transcripts" / "demo.jsonl").is_file()
        assert server.requests and {r["model"] for r in server.requests} == {cfg["model"]["model"]}
    assert {r["temperature"] for r in two.requests} == {0.5}
    assert set(one.auth_headers) == {"Bearer sk-alpha-SECRET-42"}
    assert "sk-alpha-SECRET-42" not in _all_text(root)


def test_original_parallel_eval_config_runs_unchanged(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    """(b) The original's JSON: api_key is a variable NAME; an unset base_url falls back to BASE_URL."""
    runs = tmp_path / "v1runs"
    with ScriptedServer(ScriptByTask(SCRIPTS), model="intern-s1") as one, ScriptedServer(ScriptByTask(SCRIPTS)) as two:
        config = {
            "session_name": "agentgym-l1",
            "repo_root": ".",
            "runs_root": str(runs),
            "repos": ["demo"],
            "task_set": "l1",
            "dry_run": False,
            "models": [
                {"model_id": "intern-s1", "api_key": "INTERN_S1_API_KEY", "base_url": one.base_url},
                {"model_id": "kimi-k2.5", "temperature": 1.0, "include_reasoning_content": True},
            ],
        }
        path = tmp_path / "parallel_eval_config.json"
        path.write_text(json.dumps(config))
        env = {"INTERN_S1_API_KEY": "sk-intern-SECRET-7", "BASE_URL": two.base_url}
        proc = run_cli("run", "--models", str(path), "--config-dir", str(demo_config), cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "session_name" in proc.stderr and "ignored" in proc.stderr
    root = _one_campaign(runs)
    assert set(one.auth_headers) == {"Bearer sk-intern-SECRET-7"}
    assert {r["model"] for r in one.requests} == {"intern-s1"}
    assert {r["model"] for r in two.requests} == {"kimi-k2.5"} and {r["temperature"] for r in two.requests} == {1.0}
    for model_id in ("intern-s1", "kimi-k2.5"):
        run = _model_folder(root, model_id)
        names = {p.stem for p in (run / "results" / "demo").glob("*.json")} - {"index"}
        assert names == STEMS
        index = json.loads((run / "results" / "demo" / "index.json").read_text())
        assert {t["task_id"] for t in index["tasks"]} == STEMS
    assert "sk-intern-SECRET-7" not in _all_text(root)


def test_max_connections_one_is_never_exceeded(tmp_path: Path, demo_config: Path, cache_dir: Path) -> None:
    """(c) alpha (max_connections 1) never sees two requests at once although 3 of its trials run at once;
    beta (no limit, same load) does: the limit is what keeps alpha at one. Waiting is not work."""
    runs = tmp_path / "runs"
    with ScriptedServer(ScriptByTask(_slow(0.4))) as one, ScriptedServer(ScriptByTask(_slow(0.4))) as two:
        models = tmp_path / "models.yaml"
        models.write_text(
            f"- {{id: alpha, model: scripted-model, base_url: '{one.base_url}', max_connections: 1}}\n"
            f"- {{id: beta, model: scripted-model, base_url: '{two.base_url}'}}\n"
        )
        proc = run_cli(
            "run", "--models", str(models), "--config-dir", str(demo_config), "--runs-root", str(runs),
            "--concurrency", "3", "--max-sandboxes", "6", cwd=tmp_path,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert len(one.requests) >= 7 and one.max_in_flight == 1
    assert two.max_in_flight >= 2
    run = _model_folder(_one_campaign(runs), "alpha")
    metrics = [json.loads(p.read_text())["metrics"] for p in (run / "results" / "demo").glob("demo_task_*.json")]
    assert len(metrics) == 3 and all(m["success"] for m in metrics)
    assert any(m["work_time_s"] < m["wall_time_s"] for m in metrics)  # some trial waited for the one slot


def _docs_example() -> str:
    text = (Path(__file__).parents[1] / "docs" / "running.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    example = next(b for b in blocks if "agentgym.evaluate(" in b)
    assert len(example.strip().splitlines()) == 3
    return example


def test_three_line_python_api_from_the_docs_runs(
    tmp_path: Path,
    demo_config: Path,
    cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """(d) The example of docs/running.md, in process, against a scripted server."""
    monkeypatch.chdir(tmp_path)
    with ScriptedServer(ScriptByTask(SCRIPTS), model="my-model") as server:
        code = (
            _docs_example().replace("http://127.0.0.1:8000/v1", server.base_url).replace("my-config", str(demo_config))
        )
        exec(compile(code, "docs/running.md", "exec"), {})
    score, root = capsys.readouterr().out.split()
    assert float(score) == 100.0
    assert Path(root).parent == Path("runs") and (tmp_path / root / "campaign.json").is_file()
    assert server.requests and {r["model"] for r in server.requests} == {"my-model"}


@pytest.mark.parametrize(
    ("name", "text", "field"),
    [
        ("campaign.yaml", "models:\n  - {id: a, model: m, temprature: 0.5}\n", "models[0].temprature"),
        ("campaign.yaml", "models: [{model: m}]\nepochs: 0\n", "epochs"),
        ("campaign.yaml", "models: [{model: m, max_connections: 0}]\n", "models[0].max_connections"),
        ("campaign.yaml", "models: [{id: x, model: m}, {id: x, model: n}]\n", "unique"),
        ("parallel_eval_config.json", '{"models": [{"model_id": "a", "api_kee": "K"}]}', "models[0].api_kee"),
    ],
)
def test_bad_campaign_file_is_one_line_exit_2(tmp_path: Path, name: str, text: str, field: str) -> None:
    """(e) A bad campaign file: exit 2, one line naming the file and the field, no traceback."""
    path = tmp_path / name
    path.write_text(text)
    proc = run_cli("run", "--config", str(path), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and field in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "runs").exists()


def test_schema_campaign_and_model_flags_rejected_with_models(tmp_path: Path) -> None:
    schema = run_cli("schema", "campaign", cwd=tmp_path)
    assert schema.returncode == 0
    props = json.loads(schema.stdout)["properties"]
    assert {"models", "epochs", "max_sandboxes", "concurrency", "runs_root"} <= set(props)
    models = tmp_path / "m.yaml"
    models.write_text("- {model: m, base_url: 'http://127.0.0.1:9/v1'}\n")
    proc = run_cli("run", "--models", str(models), "--model", "other", cwd=tmp_path)
    assert proc.returncode == 2 and "--model" in proc.stderr and "--models" in proc.stderr


def test_waiting_for_a_connection_slot_does_not_use_the_time_budget(
    tmp_path: Path, demo_repo: Path, cache_dir: Path
) -> None:
    """Six trials share one connection slot: each waits far longer than its 3 s budget in total, but works
    well under it; the budget pauses while waiting, so none times out."""
    tasks = {
        name: text.replace("timeout_seconds: 60\n", "") + "timeout_seconds: 3\n"
        for name, text in (("task_001.yaml", TASK_TOP), ("task_002.yaml", TASK_README), ("task_003.yaml", TASK_MD))
    }
    cfg = write_config(tmp_path / "cfg", str(demo_repo), tasks)
    runs = tmp_path / "runs"
    with ScriptedServer(ScriptByTask(_slow(0.6))) as server:  # 14 requests in a row: 8.4 s > 3 s + 5 s grace
        models = tmp_path / "models.yaml"
        models.write_text(f"- {{id: solo, model: scripted-model, base_url: '{server.base_url}', max_connections: 1}}\n")
        proc = run_cli(
            "run", "--models", str(models), "--config-dir", str(cfg), "--runs-root", str(runs),
            "--epochs", "2", "--concurrency", "6", "--max-sandboxes", "6", cwd=tmp_path,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert server.max_in_flight == 1
    run = _model_folder(_one_campaign(runs), "solo")
    records = [json.loads(p.read_text()) for p in (run / "results" / "demo").glob("demo_task_*.json")]
    assert len(records) == 6
    assert [r["failure_reason"] for r in records] == [None] * 6
    assert max(r["metrics"]["wall_time_s"] for r in records) > 3 > max(r["metrics"]["work_time_s"] for r in records)


def test_trials_are_submitted_round_robin_over_models() -> None:
    from agentgym.runner.scheduler import default_max_sandboxes, interleave

    assert interleave([["a1", "a2", "a3"], ["b1"], ["c1", "c2"]]) == ["a1", "b1", "c1", "a2", "c2", "a3"]
    assert interleave([[None, None], []]) == [None, None]  # None is an item like any other
    assert default_max_sandboxes() >= 1


def test_campaign_id_flag_names_the_campaign_folder_even_for_one_model(tmp_path: Path, demo_config: Path) -> None:
    runs = tmp_path / "runs"
    proc = run_cli("run", "--agent", "oracle", "--config-dir", str(demo_config), "--runs-root", str(runs),
                   "--campaign-id", "nightly-7", "--progress", "plain", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((runs / "nightly-7" / "campaign.json").read_text())
    assert manifest["campaign_id"] == "nightly-7" and len(manifest["models"]) == 1
    bad = run_cli("run", "--agent", "oracle", "--config-dir", str(demo_config), "--campaign-id", "../x", cwd=tmp_path)
    assert bad.returncode == 2 and "--campaign-id" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
