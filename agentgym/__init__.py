"""AgentGym: evaluate LLMs as tool-based coding agents on real repositories.

    import agentgym
    result = agentgym.evaluate({"models": [{"model": "m", "base_url": "http://127.0.0.1:8000/v1"}]})
    print(result.models["m"].average_score)

`evaluate` (runner/campaign.py) is imported on first use, so `import agentgym` (and the CLI) stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from agentgym.runner.campaign import CampaignResult, evaluate, evaluate_async
    from agentgym.specs.campaign import CampaignSpec, ModelEntry

_LAZY = {
    "evaluate": "agentgym.runner.campaign",
    "evaluate_async": "agentgym.runner.campaign",
    "CampaignResult": "agentgym.runner.campaign",
    "CampaignSpec": "agentgym.specs.campaign",
    "ModelEntry": "agentgym.specs.campaign",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agentgym' has no attribute {name!r}")


__all__ = ["CampaignResult", "CampaignSpec", "ModelEntry", "__version__", "evaluate", "evaluate_async"]
