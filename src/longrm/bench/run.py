"""`longrm bench run`: judge every benchmark item in every order, one Judgment record per (item, order).

The bench file is streamed twice, so memory holds at most one batch of items (a Long-RewardBench task
file is ~300 MB): pass 1 validates every line and keeps an `ItemRef` per item (id, byte offset, number
of responses, length key); the plan and the batch order come from those; each batch then re-reads its
items by seeking to their offsets, and a line that changed in between is an error.

Resumable: records are appended to `OUT.partial` and flushed after every batch; a rerun under the same
settings reads it back and skips the (item, order) pairs already judged. Memory keeps only each record's
byte span in the partial file; OUT is copied from it in plan order, atomically, when every pair is done
(the partial file is then removed); a rerun after that judges afresh.

Same bytes, interrupted or not: the batches are fixed by the plan alone (`plan_batches`: an item's orders
never split), and a rerun judges a batch with a missing record whole, as the uninterrupted run did, keeping
only the records that were missing. A judge's numbers depend on its batch (padding, the prefix shared with
the previous prompt, kernels chosen by shape), never on which batches ran before. Timings go to the log.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from itertools import groupby
from pathlib import Path
from typing import NamedTuple

from longrm.bench.evidence import evidence_kept
from longrm.data.io import atomic_write, dumps, iter_jsonl, write_json
from longrm.data.records import BenchItem, Judgment
from longrm.data.released import is_released, iter_released_bench, released_item
from longrm.errors import InputError
from longrm.judges.base import Judge, balanced_orders
from longrm.judges.official import order_group, release_orders

log = logging.getLogger(__name__)


def load_items(path: str | Path) -> list[BenchItem]:
    """Bench items in file order, all in memory (for scoring and tests; `bench run` uses `index_bench`).
    A repeated id is an error naming both lines (records are keyed by id). A released folder or file
    (data/released.py) is read with canonical ids."""
    if is_released(path):
        items = [item for item, _file, _line in iter_released_bench(path)]
    else:
        items = list(iter_jsonl(path, BenchItem.from_dict, unique="id"))
    if not items:
        raise InputError(path, "no items: the benchmark file is empty")
    return items


class ItemRef(NamedTuple):
    """What pass 1 keeps of a bench item: enough to plan, sort and re-read it. `responses` holds n
    Nones, so the order functions of judges.base (which read only `item.id` and `len(item.responses)`)
    take an ItemRef as they take a BenchItem, and any use of a response text fails loudly."""

    id: str
    responses: tuple
    length: int  # len(task_prompt) + total len(responses): longest first makes even batches
    line: int  # 1-based line in the bench file
    offset: int  # byte offset of that line
    group: str = ""  # the official order's group (release file, else task): judges.official.order_group


def ref_of(item: BenchItem, line: int, offset: int) -> ItemRef:
    return ItemRef(
        item.id,
        (None,) * len(item.responses),
        len(item.task_prompt) + sum(map(len, item.responses)),
        line,
        offset,
        order_group(item),
    )


def line_offsets(path: Path) -> Iterator[int]:
    """The byte offset of every line of a file, line 1 first (lines split on b"\\n", as iter_jsonl)."""
    offset = 0
    with path.open("rb") as f:
        for raw in f:
            yield offset
            offset += len(raw)


class BenchIndex:
    """A bench file after pass 1: one ItemRef per item in file order; `read` re-reads items by offset."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.refs: list[ItemRef] = []
        offsets, at_line, offset = line_offsets(self.path), 0, 0
        for item, line in iter_jsonl(self.path, lambda obj, p, no: (BenchItem.from_dict(obj, p, no), no), unique="id"):
            while at_line < line:  # blank lines are skipped by iter_jsonl, not here
                offset, at_line = next(offsets), at_line + 1
            self.refs.append(ref_of(item, line, offset))
        if not self.refs:
            raise InputError(self.path, "no items: the benchmark file is empty")

    def __len__(self) -> int:
        return len(self.refs)

    def read(self, refs: Sequence[ItemRef]) -> dict[str, BenchItem]:
        """The items of `refs` by id, re-read from the file; a line that no longer matches its ref (the
        file changed since pass 1) is an InputError naming it."""
        items: dict[str, BenchItem] = {}
        with self.path.open("rb") as f:
            for ref in sorted(set(refs), key=lambda r: r.offset):
                f.seek(ref.offset)
                raw = f.readline()
                try:
                    obj = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    obj = None
                if not isinstance(obj, dict) or obj.get("id") != ref.id:
                    raise InputError(
                        self.path,
                        f"changed while being judged: line {ref.line} no longer holds id "
                        f"{ref.id!r}; rerun to resume on the new file",
                        ref.line,
                        "id",
                    )
                item = BenchItem.from_dict(obj, str(self.path), ref.line)
                if ref_of(item, ref.line, ref.offset) != ref:
                    raise InputError(
                        self.path,
                        f"changed while being judged: item {ref.id!r} has other "
                        "responses or prompt; rerun to resume on the new file",
                        ref.line,
                    )
                items[ref.id] = item
        return items


class ItemList(BenchIndex):
    """Items already in memory (tests, callers holding a list) behind the BenchIndex interface."""

    def __init__(self, items: Sequence[BenchItem]):
        self.path = Path("<items>")
        self.items = {it.id: it for it in items}
        self.refs = [ref_of(it, k, k) for k, it in enumerate(items, start=1)]

    def read(self, refs: Sequence[ItemRef]) -> dict[str, BenchItem]:
        return {r.id: self.items[r.id] for r in refs}


class ReleasedIndex(BenchIndex):
    """Long-RewardBench as released (a folder of task files, or one file of integer ids) after pass 1:
    items get canonical ids "{task}/{id}" (data/released.py) and are re-read by file and offset."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.refs = []
        self.where: dict[str, tuple[Path, int]] = {}  # id -> (file, release_index)
        offsets: dict[str, Iterator[int]] = {}
        at: dict[str, tuple[int, int]] = {}  # file -> (line reached, its offset)
        for item, file, line in iter_released_bench(self.path):
            if file not in offsets:
                offsets[file], at[file] = line_offsets(Path(file)), (0, 0)
            reached, offset = at[file]
            while reached < line:
                offset, reached = next(offsets[file]), reached + 1
            at[file] = (reached, offset)
            self.refs.append(ref_of(item, line, offset))
            self.where[item.id] = (Path(file), item.extra["release_index"])
        if not self.refs:
            raise InputError(self.path, "no items: the released benchmark is empty")

    def read(self, refs: Sequence[ItemRef]) -> dict[str, BenchItem]:
        items: dict[str, BenchItem] = {}
        for ref in sorted(set(refs), key=lambda r: (str(self.where[r.id][0]), r.offset)):
            file, index = self.where[ref.id]
            with file.open("rb") as f:
                f.seek(ref.offset)
                raw = f.readline()
            try:
                obj = json.loads(raw)
                item = released_item(obj, file.name, index, str(file), ref.line)
            except (json.JSONDecodeError, UnicodeDecodeError, InputError, TypeError):
                item = None
            if item is None or ref_of(item, ref.line, ref.offset) != ref:
                raise InputError(
                    file,
                    f"changed while being judged: line {ref.line} no longer holds item "
                    f"{ref.id!r} as before; rerun to resume on the new file",
                    ref.line,
                    "id",
                )
            items[ref.id] = item
        return items


def index_bench(path: str | Path) -> BenchIndex:
    """Pass 1 over a bench file or a released folder: every line validated, duplicate ids (released:
    duplicate (task, id)) and an empty benchmark refused."""
    return ReleasedIndex(path) if is_released(path) else BenchIndex(path)


def plan(items: Sequence[BenchItem | ItemRef], bon_orders: int, seed: int, protocol: str = "ours") -> list[tuple]:
    """(item, order, is_official_order) for every judgment to make, in file order. The official order
    is the released evaluator's (judges.official.release_orders over the whole benchmark). Protocol
    `ours`: the position-balanced orders, plus the official one when it is not among them; `official`:
    the official order only."""
    official = release_orders(items, seed)
    tasks = []
    for item in items:
        off = official[item.id]
        orders = [off] if protocol == "official" else balanced_orders(item, bon_orders)
        if off not in orders:
            orders = orders + [off]
        for order in orders:
            tasks.append((item, order, order == off))
    return tasks


def record_extras(item: BenchItem, model: str, official: bool, balanced: bool = True, protocol: str = "ours") -> dict:
    """What `bench score` needs beyond the Judgment itself, so scoring reads no model. `balanced` is
    False for an official order judged on top of the position-balanced set (it is left out of our
    column, which would otherwise lean towards that one order)."""
    return {
        "task": item.task,
        "tasktype": item.tasktype,
        "subtype": item.subtype,
        "balanced": balanced,
        "length_bucket": item.length_bucket,
        "model": model,
        "n": len(item.responses),
        "official": official,
        "protocol": protocol,
    }


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


Span = tuple[int, int]  # (byte offset, byte length) of a record's line in the partial file


def read_records(path: Path, model: str) -> tuple[dict[tuple[str, tuple[int, ...]], Span], int | None]:
    """Where each record of an earlier run lies in `path`, keyed by (id, order), and the byte offset of a
    torn last line (a crash mid-write; None when there is none). Streams the file: only the spans stay
    in memory. Anything else malformed is an error naming the line."""
    done: dict[tuple[str, tuple[int, ...]], Span] = {}
    if not path.exists():
        return done, None
    with path.open("rb") as f:
        no, offset = 0, 0
        for raw in iter(f.readline, b""):
            no += 1
            start, offset = offset, offset + len(raw)
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw) if raw.endswith(b"\n") else None  # no newline: cut mid-write
            except (json.JSONDecodeError, UnicodeDecodeError):
                obj = None
            if obj is None:
                if not f.read(1):  # nothing after it: the torn tail of an interrupted write
                    log.warning("%s:%d: dropping a torn last line", path, no)
                    return done, start
                raise InputError(path, "not valid JSON", no)
            rec = Judgment.from_dict(obj, str(path), no)
            if rec.extra.get("model") != model:
                raise InputError(
                    path,
                    f"holds records of model {rec.extra.get('model')!r}, not {model!r}; "
                    "remove it or choose another --out",
                    no,
                    "model",
                )
            done[(rec.id, tuple(rec.order))] = (start, len(raw))
    return done, None


def settings_path(part: Path) -> Path:
    return part.with_name(part.name + ".settings.json")


def check_settings(part: Path, settings: dict) -> list[str]:
    """A partial file resumes only under the settings (and input fingerprints) it was started with,
    stored next to it. Under others it is stale: removed, so the run starts over (never a mix of two
    models' or two benchmarks' judgments). Returns the names of the settings that changed."""
    side = settings_path(part)
    changed: list[str] = []
    if part.exists() and side.exists():
        before = json.loads(side.read_text(encoding="utf-8"))
        now = json.loads(dumps(settings))
        changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if changed:
            print(
                f"longrm bench: {part} was started under other settings ({', '.join(changed)} changed): "
                f"discarded, judging afresh",
                file=sys.stderr,
            )
            part.unlink()
    if changed or not (part.exists() and side.exists()):
        write_json(side, settings)
    return changed


def run_bench(
    judge: Judge,
    model: str,
    items: BenchIndex | Sequence[BenchItem],
    out: str | Path,
    bon_orders: int = 2,
    seed: int = 42,
    chunk: int = 8,
    progress: bool | None = None,
    settings: dict | None = None,
    protocol: str = "ours",
) -> dict:
    """Judge all (item, order) pairs not yet in OUT.partial, then write OUT. Returns run statistics.
    `items`: a bench file's `index_bench` (items are re-read one batch at a time) or a list of items.

    `settings` (what the judgments depend on: model path, bench config, input fingerprints) are stored
    beside the partial file; a partial file started under other settings is discarded (check_settings)."""
    from tqdm import tqdm

    # 1. the plan, and what an earlier run of it left in the partial file
    out = Path(out)
    part = partial_path(out)
    bench = items if isinstance(items, BenchIndex) else ItemList(items)
    tasks = plan(bench.refs, bon_orders, seed, protocol)
    settings = {"model": model, "bon_orders": bon_orders, "seed": seed, "protocol": protocol, **(settings or {})}
    discarded = check_settings(part, settings)
    done, batches = resume_partial(part, model, tasks, chunk)
    missing = sum(1 for b in batches for t in b if _key(t) not in done)
    # 2. judge the batches with a missing record, each missing record appended (and synced) as it comes
    out.parent.mkdir(parents=True, exist_ok=True)
    n_tokens, start = 0, time.perf_counter()
    bar = tqdm(
        total=missing,
        unit="judgment",
        desc=f"bench {model}",
        disable=True if progress is False else None,
        file=sys.stderr,
    )
    with part.open("ab") as f:
        for refs in batches:
            batch, got = judge_chunk(judge, bench, refs)
            for (item, order, official), rec in zip(batch, got):
                if (item.id, tuple(order)) in done:
                    continue  # kept from the interrupted run: the same bytes (same batch)
                label_record(rec, judge.name, model, item, order, official, bon_orders, protocol)
                n_tokens += append_record(f, rec, (item.id, tuple(order)), done)
                bar.update(1)
            f.flush()
            os.fsync(f.fileno())
            elapsed = max(time.perf_counter() - start, 1e-9)
            bar.set_postfix(tok_s=f"{n_tokens / elapsed:.0f}", refresh=False)
    bar.close()
    elapsed = time.perf_counter() - start
    # 3. OUT in plan order; the partial file and its settings go
    write_in_plan_order(part, out, tasks, done)
    part.unlink(missing_ok=True)
    settings_path(part).unlink(missing_ok=True)
    return run_stats(model, protocol, len(bench.refs), len(tasks), missing, n_tokens, elapsed, discarded)


def _key(task: tuple) -> tuple[str, tuple[int, ...]]:
    return task[0].id, tuple(task[1])


def plan_batches(tasks: list[tuple], chunk: int) -> list[list[tuple]]:
    """Every planned (item ref, order, official) task in batches fixed by the plan alone: longest prompts
    first (batches of similar length), an item's orders side by side and never split over two batches, up to
    `chunk` judgments a batch (an item with more orders fills one alone). So a resumed run judges exactly
    the batches of an uninterrupted one."""
    ordered = sorted(tasks, key=lambda t: (-t[0].length, t[0].id))  # stable: an item's orders in plan order
    batches: list[list[tuple]] = []
    current: list[tuple] = []
    for _, group in groupby(ordered, key=lambda t: t[0].id):
        group = list(group)
        if current and len(current) + len(group) > chunk:
            batches.append(current)
            current = []
        current += group
    return batches + [current] if current else batches


def resume_partial(
    part: Path, model: str, tasks: list[tuple], chunk: int
) -> tuple[dict[tuple[str, tuple[int, ...]], Span], list[list[tuple]]]:
    """The records already in the partial file (a torn last line cut off) and the batches of the plan
    (plan_batches) that still miss one. A record outside the plan (the bench file changed) is an error."""
    done, torn_at = read_records(part, model)
    if torn_at is not None:  # drop the torn tail before appending after it
        os.truncate(part, torn_at)
    planned = {(it.id, tuple(o)) for it, o, _ in tasks}
    stale = [k for k in done if k not in planned]
    if stale:
        raise InputError(
            part,
            f"{len(stale)} records (e.g. id {stale[0][0]!r} order {list(stale[0][1])}) are not in "
            "the benchmark's plan: the bench file changed; remove the partial file",
        )
    return done, [b for b in plan_batches(tasks, chunk) if any(_key(t) not in done for t in b)]


def judge_chunk(judge: Judge, bench: BenchIndex, refs: list[tuple]) -> tuple[list[tuple], list[Judgment]]:
    """One chunk of planned (item ref, order, official) tasks read and judged: the (item, order,
    official) triples and their judgments, one each."""
    by_id = bench.read([ref for ref, _, _ in refs])
    batch = [(by_id[ref.id], order, official) for ref, order, official in refs]
    got = judge.judge([t[0] for t in batch], [t[1] for t in batch])
    if len(got) != len(batch):
        raise RuntimeError(f"judge {judge.name} returned {len(got)} judgments for {len(batch)} inputs")
    return batch, got


def label_record(
    rec: Judgment,
    judge_name: str,
    model: str,
    item: BenchItem,
    order: Sequence[int],
    official: bool,
    bon_orders: int,
    protocol: str,
) -> None:
    """A judgment checked against what was asked, then given the model's name and what scoring reads
    (record_extras, and whether the item's evidence survived the prompt's cut)."""
    if rec.id != item.id or list(rec.order) != list(order):
        raise RuntimeError(f"judge {judge_name} returned ({rec.id}, {rec.order}) for ({item.id}, {order})")
    rec.judge = model
    balanced = list(order) in balanced_orders(item, bon_orders)
    rec.extra.update(record_extras(item, model, official, balanced, protocol))
    kept = evidence_kept(item, rec.extra, rec.truncated)
    if kept is not None:
        rec.extra["evidence_kept"] = kept


def append_record(f, rec: Judgment, key: tuple[str, tuple[int, ...]], done: dict) -> int:
    """One record appended to the open partial file, its span noted in `done`; returns its tokens."""
    line = (dumps(rec.to_dict()) + "\n").encode("utf-8")
    done[key] = (f.tell(), len(line))
    f.write(line)
    return rec.prompt_tokens + rec.output_tokens


def write_in_plan_order(part: Path, out: Path, tasks: list[tuple], done: dict) -> None:
    """OUT written atomically from the partial file's lines in plan order, one line at a time."""
    with part.open("rb") as src, atomic_write(out, "wb") as dst:
        for it, o, _ in tasks:
            offset, length = done[(it.id, tuple(o))]
            src.seek(offset)
            dst.write(src.read(length))


def run_stats(
    model: str,
    protocol: str,
    n_items: int,
    n_records: int,
    judged_now: int,
    n_tokens: int,
    elapsed: float,
    discarded: list[str],
) -> dict:
    return {
        "model": model,
        "protocol": protocol,
        "items": n_items,
        "records": n_records,
        "judged_now": judged_now,
        "resumed": n_records - judged_now,
        "discarded_stale_partial": discarded,
        "seconds": round(elapsed, 3),
        "judgments_per_s": round(judged_now / elapsed, 3) if elapsed > 0 else None,
        "tokens_per_s": round(n_tokens / elapsed, 1) if elapsed > 0 else None,
    }
