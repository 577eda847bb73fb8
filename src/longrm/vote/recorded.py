"""A `vote judge` file read back in step with the vote (`vote tally`, `vote split`): each record must be
that judge's judgment of the item and order the vote asks for next, else an InputError naming file, line
and field."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from longrm.data.io import iter_jsonl
from longrm.data.records import Judgment
from longrm.errors import InputError
from longrm.judges.base import Judge


class JudgmentReader:
    """Reads a `vote judge` file in step with the vote: `next_for(item_id, order)` is the next record and
    must be that judge's judgment of that item in that order, else InputError naming file, line, field."""

    def __init__(self, name: str, path: str | Path):
        self.name, self.path = name, str(path)
        self._records: Iterator = iter_jsonl(path, lambda o, p, n: (n, Judgment.from_dict(o, p, n)))
        self._line = 0

    def next_for(self, item_id: str, order: list[int]) -> Judgment:
        line, rec = next(self._records, (None, None))
        if rec is None:
            raise InputError(
                self.path,
                f"ends after line {self._line}: no judgment of item {item_id!r} in order "
                f"{order} (a partial file: rerun `longrm vote judge --judge {self.name}`)",
            )
        self._line = line
        for field, got, want in (
            ("judge", rec.judge, self.name),
            ("id", rec.id, item_id),
            ("order", list(rec.order), list(order)),
        ):
            if got != want:
                raise InputError(
                    self.path,
                    f"{field} {got!r} where {want!r} was expected (judgments of other items, settings or judge)",
                    line,
                    field,
                )
        return rec

    def take(self, item_id: str, orders: Sequence[list[int]]) -> list[Judgment]:
        """An item's judgments, one per order."""
        return [self.next_for(item_id, order) for order in orders]

    def finish(self) -> None:
        """Raise when records are left over."""
        line, rec = next(self._records, (None, None))
        if rec is not None:
            raise InputError(self.path, "more judgments than the items and orders of the vote", line, "id")


class RecordedJudge(Judge):
    """Replays a `vote judge` file as a judge: each call must ask for exactly its next (item, order) jobs."""

    def __init__(self, name: str, path: str | Path):
        self.name = name
        self.reader = JudgmentReader(name, path)

    def judge(self, items, orders):
        return [self.reader.next_for(item.id, order) for item, order in zip(items, orders)]

    def close(self) -> None:
        self.reader.finish()
