"""The campaign spec: which models, which tasks, how many epochs, limits, sandbox, scoring and concurrency.

Loaded from a campaign YAML (`agentgym run --config FILE`), a YAML list of model entries (`--models FILE`) or
the original's `parallel_eval_config.json` (FORMATS.md), which is read unchanged. Bad input is one line naming
the file and the field (SpecError, exit 2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from agentgym.errors import SpecError
from agentgym.specs.loader import describe_validation_error, read_yaml

V1_IGNORED = ("session_name", "repo_root")  # tmux session and checkout of the original: not needed here


class ModelEntry(BaseModel):
    """One model of the matrix. Unset fields fall back to the usual settings (flag > env > .env)."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, description="Name of the model's run folder (default: model, or local-<choice>).")
    model: str | None = Field(None, description="Model name sent to the endpoint [env MODEL_NAME / OPENAI_MODEL].")
    base_url: str | None = Field(None, description="OpenAI-compatible base URL [env BASE_URL / OPENAI_BASE_URL].")
    api_key_env: str | None = Field(None, description="NAME of the environment variable holding the key.")
    api_key: SecretStr | None = Field(None, exclude=True, description="The key itself (API use; never written).")
    temperature: float | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    include_reasoning_content: bool = False
    max_connections: int | None = Field(None, ge=1, description="Requests in flight to this endpoint (default: any).")
    request_timeout: float | None = Field(None, gt=0, description="Seconds per HTTP attempt (default 600).")
    extra_body: dict[str, Any] = Field(default_factory=dict, description="Extra JSON fields of every request.")
    extra_headers: dict[str, str] = Field(default_factory=dict, description="Extra HTTP headers of every request.")
    price_per_million_input: float | None = Field(None, ge=0)
    price_per_million_output: float | None = Field(None, ge=0)
    local: str | None = Field(None, description="The embedded model: 1.5b, 0.5b or a GGUF path.")

    @model_validator(mode="after")
    def _local_alone(self) -> ModelEntry:
        if self.local and (self.model or self.base_url):
            raise ValueError("'local' (the embedded model) cannot be combined with model or base_url")
        return self

    def display_id(self) -> str:
        return self.id or self.model or (f"local-{Path(self.local).stem}" if self.local else "model")

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        if self.price_per_million_input is None and self.price_per_million_output is None:
            return None
        pin, pout = self.price_per_million_input or 0.0, self.price_per_million_output or 0.0
        return round((prompt_tokens * pin + completion_tokens * pout) / 1e6, 6)


class CampaignSpec(BaseModel):
    """Everything one `agentgym run` needs (the RunRequest fields plus the models and the scheduler bounds)."""

    model_config = ConfigDict(extra="forbid")

    models: list[ModelEntry] = Field(default_factory=lambda: [ModelEntry()])
    task_set: str = "l1"
    repos: list[str] | None = None
    tasks: str | None = Field(None, description="Only tasks whose id (or file path) matches this glob.")
    limit: int | None = Field(None, ge=1)
    epochs: int = Field(1, ge=1)
    limits: dict[str, int] = Field(default_factory=dict, description="Sandbox limit overrides (docs/sandbox.md).")
    sandbox: Literal["bwrap", "local"] = "bwrap"
    agent: Literal["model", "nop", "oracle"] = "model"
    dry_run: bool = False
    scoring_profile: Literal["v1", "v2"] | None = None
    concurrency: int = Field(1, ge=1, description="Trials of one model at once.")
    max_sandboxes: int | None = Field(None, ge=1, description="Trials at once over all models (default: machine).")
    runs_root: Path = Path("runs")
    config_dir: Path | None = None
    command_policy: Literal["v1", "strict"] = "v1"
    command_budget: Literal["v1", "refuse"] = "v1"
    repeat_limit: int | None = Field(None, ge=2)
    tools: Literal["v1", "coding"] = Field(
        "v1",
        description="Tool profile: v1 (the original four tools) or coding (bash, view, str_replace, create, "
        "glob, grep).",
    )
    prompt_profile: Literal["v1", "agentgym"] | None = None
    prompt_file: Path | None = None
    tool_output_bytes: int | None = Field(None, ge=256)
    cache_responses: bool = Field(False, description="Answer a request seen before from $AGENTGYM_CACHE/responses.")
    replay: Path | None = Field(None, description="Serve the assistant turns recorded in this run folder instead.")
    campaign_id: str | None = Field(None, pattern=r"^[A-Za-z0-9._-]{1,80}$")
    executor: Literal["local", "ray"] = Field("local", description="Where trials run: here, or as Ray tasks.")
    ray_address: str | None = Field(None, description="The Ray cluster to join (default: $RAY_ADDRESS, else auto).")

    @model_validator(mode="after")
    def _unique_ids(self) -> CampaignSpec:
        if not self.models:
            raise ValueError("at least one model is needed")
        ids = [m.display_id() for m in self.models]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"model ids must be unique (give each entry an 'id'): {', '.join(dupes)}")
        if self.tools != "v1" and self.executor == "ray":
            raise ValueError(f"tools {self.tools}: not supported with executor ray yet (Ray workers play v1's tools)")
        return self

    def public(self) -> dict[str, Any]:
        """The spec as written to campaign.json: keys never (api_key is excluded), paths as text."""
        return self.model_dump(mode="json")


def _validate(path: Path, model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SpecError(describe_validation_error(path, exc)) from None


def _read(path: Path) -> Any:
    if path.suffix == ".json":
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SpecError(f"{path}: cannot read ({exc.strerror or exc})") from None
        except json.JSONDecodeError as exc:
            raise SpecError(f"{path}: line {exc.lineno} column {exc.colno}: malformed JSON: {exc.msg}") from None
    return read_yaml(path)


def is_v1_parallel(data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    models = data.get("models")
    entries = models if isinstance(models, list) else []
    return any(k in data for k in V1_IGNORED) or any(isinstance(m, dict) and "model_id" in m for m in entries)


def _v1_model(path: Path, i: int, raw: Any) -> dict[str, Any]:
    known = {"model_id", "base_url", "api_key", "temperature", "max_output_tokens", "include_reasoning_content"}
    if not isinstance(raw, dict) or not isinstance(raw.get("model_id"), str):
        raise SpecError(f"{path}: field models[{i}].model_id: required field is missing")
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SpecError(f"{path}: field models[{i}].{unknown[0]}: unknown key (misspelled?)")
    entry = {
        k: raw[k] for k in ("base_url", "temperature", "max_output_tokens", "include_reasoning_content") if k in raw
    }
    entry["id"] = entry["model"] = raw["model_id"]
    if raw.get("api_key"):
        entry["api_key_env"] = raw["api_key"]  # v1: the NAME of the variable, never the key
    return entry


def v1_parallel_config(path: Path, data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The original's parallel_eval_config.json as campaign fields, plus notes about what is ignored."""
    known = {"models", "repos", "task_set", "runs_root", "dry_run", *V1_IGNORED}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SpecError(f"{path}: field {unknown[0]}: unknown key (misspelled?)")
    if not isinstance(data.get("models"), list):
        raise SpecError(f"{path}: field models: expected a list of models")
    fields: dict[str, Any] = {"models": [_v1_model(path, i, m) for i, m in enumerate(data["models"])]}
    for key in ("repos", "task_set", "dry_run"):
        if key in data:
            fields[key] = data[key]
    if isinstance(data.get("runs_root"), str):
        fields["runs_root"] = str(Path(data["runs_root"]).expanduser())
    notes = [
        f"{path.name}: '{k}' is ignored (tmux session / checkout of the original)" for k in V1_IGNORED if k in data
    ]
    return fields, notes


def campaign_fields(path: Path, *, models_only: bool = False) -> tuple[dict[str, Any], list[str]]:
    """Raw campaign fields of a file (validated later, with the flags merged in), and notes to print."""
    data = _read(path)
    if is_v1_parallel(data):
        return v1_parallel_config(path, data)
    if isinstance(data, list):
        return {"models": data}, []
    if models_only or not isinstance(data, dict):
        raise SpecError(f"{path}: expected a list of model entries (or the original's parallel_eval_config.json)")
    return data, []


def build_spec(path: Path | None, fields: dict[str, Any]) -> CampaignSpec:
    return _validate(path or Path("<flags>"), CampaignSpec, fields)


def load_campaign(path: Path) -> CampaignSpec:
    """A campaign file (YAML spec, YAML list of models, or the original's JSON config) as a CampaignSpec."""
    fields, _notes = campaign_fields(path)
    return build_spec(path, fields)


__all__ = ["CampaignSpec", "ModelEntry", "build_spec", "campaign_fields", "load_campaign"]
