"""Statistics over result records: intervals, pass@k, clustered errors, paired comparison, summaries.

Pure functions over lists of TaskResult or plain arrays; no I/O. See docs/metrics.md, "Statistics".
"""
