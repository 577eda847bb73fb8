"""How the vote asks its judges: the orders of each item, and the items in chunks of CHUNK with their
(item, order) jobs. `vote run`/`vote tally` (vote/run.py) and `vote judge` (vote/judgments.py) both cut the
items here, so a judge in its own job sees exactly the batches it would see inside the vote."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from longrm.data.records import BenchItem
from longrm.errors import ConfigError
from longrm.judges.base import judge_orders

CHUNK = 128


def item_orders(item: BenchItem, vcfg: dict, seed: int = 42) -> list[list[int]]:
    """The orders an item is judged in: 'all' = judges.base.judge_orders; 'two' = identity + reverse."""
    if vcfg["orders"] == "two":
        ident = list(range(len(item.responses)))
        return [ident, ident[::-1]]
    return judge_orders(item, vcfg["bon_orders"], seed)


def lm_params(vcfg: dict) -> dict:
    """Generation settings for LM judges in the vote (the rest come from `bench`)."""
    return {k: vcfg[k] for k in ("max_new_tokens", "max_model_len", "batch_size") if k in vcfg}


def _chunks(items: Iterable[BenchItem], size: int) -> Iterator[list[BenchItem]]:
    buf = []
    for it in items:
        buf.append(it)
        if len(buf) >= size:
            yield buf
            buf = []
    if buf:
        yield buf


@dataclass
class Chunk:
    """Up to CHUNK items and their (item, order) jobs: every judge is asked for exactly these, in this
    order and batch, whether it runs in the vote's process or in its own job (same batches, same bytes)."""

    index: int
    items: list[BenchItem]
    orders_of: dict[str, list[list[int]]]
    flat_items: list[BenchItem]
    flat_orders: list[list[int]]


def vote_chunks(items: Iterable[BenchItem], vcfg: dict, order_seed: int = 42) -> Iterator[Chunk]:
    """The items in chunks of CHUNK with their orders; a repeated item id is an error."""
    seen: set[str] = set()
    for index, chunk in enumerate(_chunks(items, CHUNK)):
        orders_of, flat_items, flat_orders = {}, [], []
        for item in chunk:
            if item.id in seen:
                raise ConfigError(f"duplicate item id {item.id!r} in the items file")
            seen.add(item.id)
            orders_of[item.id] = item_orders(item, vcfg, order_seed)
            for o in orders_of[item.id]:
                flat_items.append(item)
                flat_orders.append(o)
        yield Chunk(index, chunk, orders_of, flat_items, flat_orders)
