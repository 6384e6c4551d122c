"""`agentgym run --resume CAMPAIGN_DIR` and `--retry-infra N`.

Resume loads the spec from `campaign.json` (keys come from the environment again, via api_key_env), re-plans,
refuses when a task's content or a model's settings changed (one line naming which), reopens each model's run
folder without wiping it and schedules only the trials without a finished record (none, or infra_error only).
A rerun's record replaces the old one only when it is written (atomic rename); its `attempt` is one more.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentgym.errors import SpecError
from agentgym.results.rundir import is_finished
from agentgym.runner.manifest import stable_settings
from agentgym.specs.campaign import CampaignSpec, build_spec

if TYPE_CHECKING:
    from agentgym.runner.manifest import Manifest
    from agentgym.runner.run import Plan
    from agentgym.runner.scheduler import ModelRun

TrialId = tuple[str, str, int]  # repo, task id, epoch


@dataclass
class ResumeState:
    root: Path
    manifest: dict[str, Any]

    def folder(self, model_id: str) -> Path | None:
        for model in self.manifest.get("models", []):
            if model.get("id") == model_id:
                return self.root / str(model["folder"])
        return None


def load_resume(root: Path) -> tuple[CampaignSpec, ResumeState]:
    """The campaign's spec as it was started (campaign.json), bound to this folder."""
    path = root / "campaign.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        data = dict(manifest["spec"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpecError(f"--resume {root}: no readable campaign.json ({type(exc).__name__})") from None
    for model in data.get("models", []):
        headers = model.get("extra_headers")
        if isinstance(headers, list):  # names only are stored; values are never written
            if headers:
                raise SpecError(
                    f"--resume: model {model.get('id') or model.get('model')}: extra_headers values are not stored"
                )
            model["extra_headers"] = {}
    for stale in root.glob(".campaign.json.*.tmp"):  # a manifest write cut by a crash
        stale.unlink(missing_ok=True)
    data["runs_root"], data["campaign_id"] = str(root.parent), root.name
    return build_spec(path, data), ResumeState(root, manifest)


def _task_hashes(keys: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key in keys:
        parts = str(key).split("/")
        if len(parts) == 4:
            out[parts[1]] = parts[2]
    return out


def check_tasks(state: ResumeState, plan: Plan) -> None:
    """Before anything starts: SpecError (one line) naming the first planned task whose content changed."""
    now = {t.spec.id: t.spec.content_hash() for t in plan.tasks}
    for model in state.manifest.get("models", []):
        before = _task_hashes(model.get("trials", []))
        for task_id, digest in now.items():
            if task_id in before and before[task_id] != digest:
                raise SpecError(f"--resume: task {task_id} changed (content hash {before[task_id]} -> {digest})")


def check_unchanged(state: ResumeState, fresh: Manifest) -> None:
    """SpecError (one line) naming the first task or model whose content or settings changed."""
    old_models = {m.get("id"): m for m in state.manifest.get("models", [])}
    for new in fresh.models:
        old = old_models.get(new["id"])
        if old is None:
            raise SpecError(f"--resume: model {new['id']} is not in the campaign")
        if old.get("config_hash") != new["config_hash"]:
            was, now_set = stable_settings(old.get("model", {})), stable_settings(new["model"])
            changed = sorted(k for k in {*was, *now_set} if was.get(k) != now_set.get(k))
            raise SpecError(f"--resume: model {new['id']} settings changed ({', '.join(changed) or 'agent'})")
        before, now = _task_hashes(old.get("trials", [])), _task_hashes(new["trials"])
        for task_id, digest in now.items():
            if task_id not in before:
                raise SpecError(f"--resume: task {task_id} is not in the campaign")
            if before[task_id] != digest:
                raise SpecError(f"--resume: task {task_id} changed (content hash {before[task_id]} -> {digest})")
        gone = sorted(set(before) - set(now))
        if gone:
            raise SpecError(f"--resume: task {gone[0]} of the campaign is no longer planned")


def trial_id(repo: str, task_id: str, epoch: int) -> TrialId:
    return (repo, task_id, epoch)


def pending(run: ModelRun, planned: list[Any], *, infra_only: bool = False) -> int:
    """Set the run's trials to those of `planned` still to do (infra_only: only those whose last record is an
    infra error), each with its attempt number (one more than its last record)."""
    last = {trial_id(r.task.repo, r.task.id, r.epoch): r for r in run.rundir.results}
    todo = []
    for trial in planned:
        key = trial_id(trial.task.spec.repo, trial.task.spec.id, trial.epoch)
        old = last.get(key)
        if old is None and infra_only:
            continue
        if old is not None and is_finished(old):
            continue
        run.attempts[key] = old.attempt + 1 if old is not None else 0
        todo.append(trial)
    run.trials = todo
    return len(todo)


__all__ = ["ResumeState", "check_tasks", "check_unchanged", "load_resume", "pending"]
