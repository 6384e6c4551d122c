"""AgentGym: evaluate LLMs as tool-based coding agents on real repositories."""

__version__ = "0.1.0"
