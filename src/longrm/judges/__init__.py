"""Judges: one interface, several backends (scorers, transformers, vLLM, scalar RMs).

Prompts and verdict parsing live here; `vote` and `bench` both use them.
"""

from longrm.judges.base import Judge, judge_orders, official_order, rank_by_scores

__all__ = ["Judge", "judge_orders", "official_order", "rank_by_scores"]
