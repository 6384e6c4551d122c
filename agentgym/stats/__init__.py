"""Statistics over result records: intervals, pass@k, clustered errors, paired comparison, summaries.

Pure functions over lists of TaskResult or plain arrays; no I/O. See docs/metrics.md, "Statistics".
"""

from agentgym.stats.clustered import cluster_bootstrap, clustered_mean, mde, t_interval
from agentgym.stats.paired import Comparison, TaskDelta, compare, mcnemar_exact, newcombe_interval
from agentgym.stats.proportions import clopper_pearson, pass_at_k, pass_hat_k, wilson
from agentgym.stats.records import Estimate, Interval
from agentgym.stats.summary import GroupStats, ModelSummary, summarize_model, summarize_models
from agentgym.stats.usage import Prices

__all__ = [
    "Comparison",
    "Estimate",
    "GroupStats",
    "Interval",
    "ModelSummary",
    "Prices",
    "TaskDelta",
    "clopper_pearson",
    "cluster_bootstrap",
    "clustered_mean",
    "compare",
    "mcnemar_exact",
    "mde",
    "newcombe_interval",
    "pass_at_k",
    "pass_hat_k",
    "summarize_model",
    "summarize_models",
    "t_interval",
    "wilson",
]
