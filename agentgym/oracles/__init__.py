"""Deterministic oracles: the v1 built-ins, third-party ones via entry points, and the expected-value cache."""

from agentgym.oracles.builtin import BUILTIN_ORACLES, LICENSE_NAMES, iter_regular_files
from agentgym.oracles.cache import ExpectedCache, canonical_json
from agentgym.oracles.registry import (
    ENTRY_POINT_GROUP,
    clear_registry_cache,
    get_oracle,
    known_oracles,
    oracle_identity,
    run_oracle,
    validate_call,
)

__all__ = [
    "BUILTIN_ORACLES",
    "ENTRY_POINT_GROUP",
    "LICENSE_NAMES",
    "ExpectedCache",
    "canonical_json",
    "clear_registry_cache",
    "get_oracle",
    "iter_regular_files",
    "known_oracles",
    "oracle_identity",
    "run_oracle",
    "validate_call",
]
