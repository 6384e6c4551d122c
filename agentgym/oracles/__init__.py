"""Deterministic oracles: the v1 built-ins, third-party ones via entry points, and the expected-value cache."""

from agentgym.oracles.builtin import BUILTIN_ORACLES, LICENSE_NAMES, iter_files
from agentgym.oracles.cache import Expected, ExpectedCache, canonical_json
from agentgym.oracles.registry import (
    ENTRY_POINT_GROUP,
    clear_registry_cache,
    get_oracle,
    has_snapshot_facts,
    known_oracles,
    oracle_identity,
    run_oracle,
    run_oracle_accepted,
    run_snapshot_facts,
    validate_call,
)

__all__ = [
    "BUILTIN_ORACLES",
    "ENTRY_POINT_GROUP",
    "LICENSE_NAMES",
    "Expected",
    "ExpectedCache",
    "canonical_json",
    "clear_registry_cache",
    "get_oracle",
    "has_snapshot_facts",
    "iter_files",
    "known_oracles",
    "oracle_identity",
    "run_oracle",
    "run_oracle_accepted",
    "run_snapshot_facts",
    "validate_call",
]
