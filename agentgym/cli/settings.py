"""Model settings with the original precedence: CLI flag > environment variable > local .env file."""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import dotenv_values

from agentgym.errors import SpecError

ENV_NAMES = {
    "model": ("MODEL_NAME", "OPENAI_MODEL"),
    "base_url": ("BASE_URL", "OPENAI_BASE_URL"),
    "api_key": ("OPENAI_API_KEY",),
    "temperature": ("OPENAI_TEMPERATURE",),
    "max_output_tokens": ("OPENAI_MAX_OUTPUT_TOKENS",),
}


def _dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def resolve(name: str, cli_value: object, dotenv_path: Path = Path(".env")) -> str | None:
    """The setting's value and nothing about where the secret came from (never logged)."""
    if cli_value is not None:
        return str(cli_value)
    for var in ENV_NAMES[name]:
        if os.environ.get(var):
            return os.environ[var]
    file_values = _dotenv(dotenv_path)
    for var in ENV_NAMES[name]:
        if file_values.get(var):
            return file_values[var]
    return None


def as_float(name: str, value: str | None, default: float) -> float:
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise SpecError(f"{name}: expected a number, got '{value}'") from None


def as_int(name: str, value: str | None, default: int) -> int:
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise SpecError(f"{name}: expected an integer, got '{value}'") from None
