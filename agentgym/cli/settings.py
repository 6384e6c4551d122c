"""Model settings with the original precedence: CLI flag > environment variable > local .env file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

from dotenv import dotenv_values

from agentgym.errors import SpecError

N = TypeVar("N", int, float)

ENV_NAMES = {
    "model": ("MODEL_NAME", "OPENAI_MODEL"),
    "base_url": ("BASE_URL", "OPENAI_BASE_URL"),
    "api_key": ("OPENAI_API_KEY",),
    "temperature": ("OPENAI_TEMPERATURE",),
    "max_output_tokens": ("OPENAI_MAX_OUTPUT_TOKENS",),
    "request_timeout": ("AGENTGYM_REQUEST_TIMEOUT",),
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


def resolve_api_key(cli_value: str | None, env_name: str | None, dotenv_path: Path = Path(".env")) -> str | None:
    """--api-key > the variable named by --api-key-env (environment, then .env) > OPENAI_API_KEY."""
    if cli_value is not None or not env_name:
        return resolve("api_key", cli_value, dotenv_path)
    value = os.environ.get(env_name) or _dotenv(dotenv_path).get(env_name)
    if not value:
        raise SpecError(f"--api-key-env {env_name}: that environment variable is not set (nor in .env)")
    return value


def as_number(name: str, value: str | None, default: N) -> N:
    """`value` converted to the type of `default` (int or float); None gives the default."""
    if value is None:
        return default
    kind = type(default)
    try:
        return kind(value)
    except ValueError:
        raise SpecError(f"{name}: expected {'an integer' if kind is int else 'a number'}, got '{value}'") from None
