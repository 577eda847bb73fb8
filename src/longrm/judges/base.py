"""The judge interface and the presentation orders every judge is run in.

An *order* is a list: order[k] = index (into item.responses, best-first) of the response shown at
position k, i.e. under letter chr(ord('A') + k). A judge returns, per (item, order), a Judgment whose
`ranking` is expressed in canonical indices (best-first), or None when its output did not parse.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from longrm.data.records import BenchItem, Judgment
from longrm.seeding import rng_for


class Judge(abc.ABC):
    """Judges items shown in given orders. Subclasses implement `judge`."""

    name: str = "judge"

    @abc.abstractmethod
    def judge(self, items: Sequence[BenchItem], orders: Sequence[list[int]]) -> list[Judgment]:
        """One Judgment per (items[i], orders[i]), in input order."""

    def close(self) -> None:  # noqa: B027 - optional: backends that hold a model override it
        """Free model memory (backends override)."""


def official_order(item: BenchItem, seed: int = 42) -> list[int]:
    """The single shuffled order of the official protocol (seed 42), derived per item id so it does
    not depend on file order."""
    order = list(range(len(item.responses)))
    rng_for(seed, "official-order", item.id).shuffle(order)
    return order


BALANCED_SETS = (1, 2)


def rotations(base: Sequence[int]) -> list[list[int]]:
    """The n cyclic rotations of `base`: rotation r shows base[(k + r) % n] at position k, so over the
    n rotations every response sits once at every position (a Latin square)."""
    n = len(base)
    return [[base[(k + r) % n] for k in range(n)] for r in range(n)]


def balanced_orders(item: BenchItem, bon_orders: int = 2) -> list[list[int]]:
    """The position-balanced orders of an item: both orders of a pair; for Best-of-N, `bon_orders`
    sets of n rotations (1 = rotations of the identity, 2 = those and the rotations of the reverse)."""
    if bon_orders not in BALANCED_SETS:
        raise ValueError(f"bon_orders must be 1 or 2 (position-balanced order sets), got {bon_orders!r}")
    n = len(item.responses)
    ident = list(range(n))
    if n == 2:
        return [ident, ident[::-1]]
    orders: list[list[int]] = []
    for base in (ident, ident[::-1])[:bon_orders]:
        orders += [o for o in rotations(base) if o not in orders]
    return orders


def judge_orders(item: BenchItem, bon_orders: int = 2, seed: int = 42) -> list[list[int]]:
    """The orders an item is judged in: its balanced orders (so a position-biased judge scores chance),
    then the official order (`official_order(item, seed)`) when it is not already one of them, so the
    official single-order column is always computable from the records."""
    orders = balanced_orders(item, bon_orders)
    official = official_order(item, seed)
    if official not in orders:
        orders.append(official)
    return orders


def rank_by_scores(scores: Sequence[float], order: Sequence[int]) -> list[int]:
    """Canonical indices best-first from per-response scores (canonical indexing); ties go to the
    response shown earlier, which is what a position-biased scorer does."""
    position = {idx: k for k, idx in enumerate(order)}
    return sorted(order, key=lambda idx: (-scores[idx], position[idx]))


def scored_judgment(judge: str, item: BenchItem, order: Sequence[int], scored: dict, extra: dict) -> Judgment:
    """The judgment of a judge that scores each response once, whatever the order (a scalar RM, a
    likelihood): `scored` holds the item's scores, truncated, prompt_tokens and latency_s."""
    order = list(order)
    return Judgment(
        id=item.id,
        judge=judge,
        order=order,
        raw="",
        scores=scored["scores"],
        ranking=rank_by_scores(scored["scores"], order),
        truncated=scored["truncated"],
        prompt_tokens=scored["prompt_tokens"],
        output_tokens=0,
        latency_s=round(scored["latency_s"], 6),
        extra=extra,
    )
