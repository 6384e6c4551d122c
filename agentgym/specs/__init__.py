"""Typed specs for every file AgentGym reads or writes (JSON Schema exportable)."""

from agentgym.specs.repo import RepoSpec
from agentgym.specs.task import CommandPolicy, OracleCall, OutputSpec, TaskSpec
from agentgym.specs.weights import Weights

__all__ = ["CommandPolicy", "OracleCall", "OutputSpec", "RepoSpec", "TaskSpec", "Weights"]
