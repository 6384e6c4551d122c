"""`campaign.json`: the campaign's manifest (spec without secrets, per-model folders, planned trial keys,
status), rewritten atomically when the campaign starts and ends."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentgym import __version__
from agentgym.fsutil import write_atomic
from agentgym.scrub import SCRUBBER
from agentgym.specs.campaign import CampaignSpec

if TYPE_CHECKING:
    from agentgym.runner.run import Plan
    from agentgym.runner.scheduler import ModelRun


def new_campaign_id(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"campaign-{stamp}-{uuid.uuid4().hex[:6]}"


VOLATILE_CARD = ("file", "threads", "startup_seconds")  # where and how fast an embedded model runs, not what it is


def stable_settings(model: dict[str, Any]) -> dict[str, Any]:
    """The settings that would change a model's answers: an embedded model (one with a model card) is served
    by the campaign on a new port each time, from a file whose path and load time vary; its weights' sha256,
    quantisation, context size and server version stay in."""
    card = model.get("model_card")
    if not isinstance(card, dict):
        return model
    kept = {k: v for k, v in model.items() if k != "base_url"}
    kept["model_card"] = {k: v for k, v in card.items() if k not in VOLATILE_CARD}
    return kept


def config_hash(model: dict[str, Any]) -> str:
    """Hash of a model's stable settings (what would change its answers), the first part of a trial key."""
    return hashlib.sha256(json.dumps(stable_settings(model), sort_keys=True, default=str).encode()).hexdigest()[:16]


def _spec(spec: CampaignSpec) -> dict[str, Any]:
    data = spec.public()
    for model in data["models"]:
        model["extra_headers"] = sorted(model.get("extra_headers") or {})  # names only
    return data


class Manifest:
    def __init__(self, root: Path, spec: CampaignSpec, runs: list[ModelRun], plan: Plan) -> None:
        self.path = root / "campaign.json"
        hashes = {t.spec.id: t.spec.content_hash() for t in plan.tasks}
        self.models: list[dict[str, Any]] = []
        for run, entry in zip(runs, spec.models, strict=True):
            model = run.rundir.run_config.get("model", {})
            key = config_hash({"agent": run.ctx.agent.name, **model})
            self.models.append(
                {
                    "id": entry.display_id(),
                    "folder": run.rundir.root.name,
                    "config_hash": key,
                    "model": model,
                    "trials": [f"{key}/{t.task.spec.id}/{hashes[t.task.spec.id]}/{t.epoch}" for t in run.trials],
                }
            )
        self.base = {
            "campaign_id": root.name,
            "agentgym_version": __version__,
            "created_at": datetime.now(UTC).isoformat(),
            "spec": _spec(spec),
            "trials_per_model": len(plan.trials),
        }

    def write(self, status: str, results: dict[str, Any] | None = None) -> None:
        models = []
        for model in self.models:
            done = (results or {}).get(model["id"])
            outcome = {}
            if done is not None:
                outcome = {
                    "status": done.status,
                    "error": done.error,
                    "trials_done": len(done.records),
                    "succeeded": done.succeeded,
                    "average_score": round(done.average_score, 2),
                    "cost_usd": done.cost_usd,
                }
            models.append({**model, **outcome})
        data = {**self.base, "status": status, "updated_at": datetime.now(UTC).isoformat(), "models": models}
        write_atomic(self.path, SCRUBBER(json.dumps(data, indent=2, ensure_ascii=False, default=str)) + "\n")
