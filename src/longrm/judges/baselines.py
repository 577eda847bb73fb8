"""Reference judges that look at no context: random, always-longer, always-first.

Each writes its verdict as text in the judge format (`[[B]]`, `[[C>A>B]]`), so its records go through
the same parsing and scoring as a model's.
"""

from __future__ import annotations

from collections.abc import Sequence

from longrm.data.records import BenchItem, Judgment
from longrm.judges.base import Judge, rank_by_scores
from longrm.judges.prompts import format_verdict
from longrm.seeding import rng_for

BASELINES = ("random", "longer", "first")


class BaselineJudge(Judge):
    """`kind`: random (a uniformly random ranking of the shown positions, seeded by config seed, item id
    and order), longer (longest response in characters first; ties -> earlier position), first
    (position order: A > B > C ...)."""

    def __init__(self, kind: str, seed: int = 0, name: str | None = None):
        if kind not in BASELINES:
            raise ValueError(f"unknown baseline {kind!r}; expected one of {', '.join(BASELINES)}")
        self.kind = kind
        self.seed = seed
        self.name = name or kind

    def positions(self, item: BenchItem, order: list[int]) -> list[int]:
        """Shown positions best-first."""
        n = len(order)
        if self.kind == "random":
            pos = list(range(n))
            rng_for(self.seed, "bench-random", item.id, ",".join(map(str, order))).shuffle(pos)
            return pos
        if self.kind == "longer":
            lengths = [float(len(r)) for r in item.responses]
            ranking = rank_by_scores(lengths, order)
            return [order.index(idx) for idx in ranking]
        return list(range(n))

    def judge(self, items: Sequence[BenchItem], orders: Sequence[list[int]]) -> list[Judgment]:
        out = []
        for item, order in zip(items, orders):
            pos = self.positions(item, list(order))
            out.append(
                Judgment(
                    id=item.id,
                    judge=self.name,
                    order=list(order),
                    raw=format_verdict(pos),
                    ranking=[order[p] for p in pos],
                )
            )
        return out
