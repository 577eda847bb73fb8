"""The judge interface and the presentation orders every judge is run in.

An *order* is a list: order[k] = index (into item.responses, best-first) of the response shown at
position k, i.e. under letter chr(ord('A') + k). A judge returns, per (item, order), a Judgment whose
`ranking` is expressed in canonical indices (best-first), or None when its output did not parse.
"""

from __future__ import annotations

import abc
import itertools
from typing import Sequence

from longrm.data.records import BenchItem, Judgment
from longrm.seeding import rng_for


class Judge(abc.ABC):
    """Judges items shown in given orders. Subclasses implement `judge`."""

    name: str = "judge"

    @abc.abstractmethod
    def judge(self, items: Sequence[BenchItem], orders: Sequence[list[int]]) -> list[Judgment]:
        """One Judgment per (items[i], orders[i]), in input order."""

    def close(self) -> None:
        """Free model memory (backends override)."""


def official_order(item: BenchItem, seed: int = 42) -> list[int]:
    """The single shuffled order of the official protocol (seed 42), derived per item id so it does
    not depend on file order."""
    order = list(range(len(item.responses)))
    rng_for(seed, "official-order", item.id).shuffle(order)
    return order


def judge_orders(item: BenchItem, bon_orders: int = 2, seed: int = 42) -> list[list[int]]:
    """The orders an item is judged in.

    PairWise: both orders. BestOfN: identity and its reverse, then seeded permutations up to
    `bon_orders`; the official order is always included, so the compatibility column is a subset.
    """
    n = len(item.responses)
    ident = list(range(n))
    if n == 2:
        return [ident, ident[::-1]]
    orders = [ident, ident[::-1]]
    official = official_order(item, seed)
    if official not in orders:
        orders.append(official)
    rng = rng_for(seed, "bon-orders", item.id)
    all_perms = [list(p) for p in itertools.permutations(ident)]
    rng.shuffle(all_perms)
    for perm in all_perms:
        if len(orders) >= max(bon_orders, 2) + (official not in (ident, ident[::-1])):
            break
        if perm not in orders:
            orders.append(perm)
    return orders


def rank_by_scores(scores: Sequence[float], order: Sequence[int]) -> list[int]:
    """Canonical indices best-first from per-response scores (canonical indexing); ties go to the
    response shown earlier, which is what a position-biased scorer does."""
    position = {idx: k for k, idx in enumerate(order)}
    return sorted(order, key=lambda idx: (-scores[idx], position[idx]))
