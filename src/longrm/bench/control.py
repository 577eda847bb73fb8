"""Controls are data: benchmark files derived from a held-out one, judged by the same `bench run`.

  swap  each item's context replaced by another item's context of the same task and length bucket: a
        seeded derangement within each (task, bucket) group that also avoids donors built from the same
        source item (they carry the same evidence). Records `context_from` (the donor's id) and
        `context_length` (the donor's `length`). An item with no possible donor (alone in its group, or
        every other item shares its source) is left out and listed in the report.
  none  the context removed (data.context): everything else identical, `context_from` null.
Both keep each item's id, responses, labels and length bucket, so a control's rows line up with the
held-out ones. `share` < 1 keeps that share of the items of each (task, length bucket) group (a seeded
hash of the id orders them; swap donors are chosen over all items first), so a control costs a fraction
of the held-out set's judging. Output is a pure function of the input file, the config seed and the share
(same bytes).

`response_only_pairs`: the discriminative RM's training pairs with the contexts removed (the prompt
keeps its question), for the response-only baseline.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from longrm.data.context import PromptSplit, question_part, split_prompt
from longrm.data.io import iter_jsonl, write_json, write_jsonl
from longrm.data.records import BenchItem, PrefPair
from longrm.errors import InputError
from longrm.seeding import derive_seed, rng_for

KINDS = ("swap", "none")


def read_items(path: str | Path) -> list[tuple[int, dict, BenchItem, PromptSplit]]:
    """(line, raw object, item, prompt split) per item, file order; ids unique."""
    rows = []
    for line, obj in iter_jsonl(path, parse=lambda o, p, n: (n, o), unique="id"):
        item = BenchItem.from_dict(obj, str(path), line)
        rows.append((line, obj, item, split_prompt(item, str(path), line)))
    if not rows:
        raise InputError(path, "no items: the benchmark file is empty")
    return rows


def source_of(item: BenchItem) -> str:
    return str(item.extra.get("source_id") or item.id)


def group_donors(items: list[BenchItem], seed: int, group: tuple[str, str]) -> tuple[dict[str, str], list[str]]:
    """{id: donor id} for one (task, bucket) group, and the ids left without a donor.

    Items are laid out by source (sources in a seeded order, items of a source side by side in a seeded
    order); each takes the context of the item `shift` places on, cyclically, with shift = max(longest
    run of one source, n // 2): no item gets its own context, and no item a context of its own source
    unless one source holds more than half the group (those items are left out)."""
    by_source: dict[str, list[str]] = defaultdict(list)
    for it in sorted(items, key=lambda it: it.id):
        by_source[source_of(it)].append(it.id)
    rng = rng_for(seed, "control-swap", *group)
    sources = sorted(by_source)
    rng.shuffle(sources)
    layout = []
    for s in sources:
        ids = by_source[s]
        rng.shuffle(ids)
        layout.extend(ids)
    n = len(layout)
    if n < 2:
        return {}, layout
    src = {it.id: source_of(it) for it in items}
    shift = min(max(max(len(v) for v in by_source.values()), n // 2), n - 1)
    donors, left_out = {}, []
    for i, item_id in enumerate(layout):
        donor = layout[(i + shift) % n]
        if src[donor] == src[item_id]:
            left_out.append(item_id)
        else:
            donors[item_id] = donor
    return donors, sorted(left_out)


def swap_donors(items: list[BenchItem], seed: int) -> tuple[dict[str, str], dict[str, list[str]]]:
    """{id: donor id} over all groups, and {group label: ids left out}."""
    groups: dict[tuple[str, str], list[BenchItem]] = defaultdict(list)
    for it in items:
        groups[(it.task, it.length_bucket)].append(it)
    donors, left_out = {}, {}
    for key in sorted(groups):
        got, missing = group_donors(groups[key], seed, key)
        donors.update(got)
        if missing:
            left_out[f"{key[0]}/{key[1]}"] = missing
    return donors, left_out


def sampled_ids(items: list[BenchItem], share: float, seed: int) -> set[str]:
    """round(share * n) ids of each (task, length bucket) group: the first by a seeded hash of the id."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for it in items:
        groups[(it.task, it.length_bucket)].append(it.id)
    keep = set()
    for ids in groups.values():
        ordered = sorted(ids, key=lambda i: (derive_seed(seed, "control-share", i), i))
        keep.update(ordered[: round(share * len(ordered))])
    return keep


def control_items(path: str | Path, kind: str, seed: int, share: float = 1.0) -> tuple[list[dict], dict]:
    """The control file's records (input file order) and a report of what was done."""
    if kind not in KINDS:
        raise ValueError(f"control kind must be one of {KINDS}, got {kind!r}")
    if not 0 < share <= 1:
        raise ValueError(f"control share must be in (0, 1], got {share!r}")
    rows = read_items(path)
    report = {"kind": kind, "seed": seed, "share": share, "items_in": len(rows)}
    out = []
    keep = sampled_ids([item for _, _, item, _ in rows], share, seed)
    if kind == "none":
        for _, obj, item, split in rows:
            if item.id not in keep:
                continue
            out.append({**obj, "prompt_template": split.without_context(), "control": "none", "context_from": None})
    else:
        by_id = {item.id: (obj, item, split) for _, obj, item, split in rows}
        donors, left_out = swap_donors([item for _, _, item, _ in rows], seed)
        for _, obj, item, split in rows:
            if item.id not in donors or item.id not in keep:
                continue
            _, donor, donor_split = by_id[donors[item.id]]
            out.append(
                {
                    **obj,
                    "prompt_template": split.with_context(donor_split),
                    "control": "swap",
                    "context_from": donor.id,
                    "context_length": donor.length,
                }
            )
        report["groups"] = len({(it.task, it.length_bucket) for _, _, it, _ in rows})
        report["left_out"] = left_out
        report["left_out_items"] = sum(map(len, left_out.values()))
    report["items_out"] = len(out)
    return out, report


def write_control(
    path: str | Path, out: str | Path, kind: str, seed: int, report_path: str | Path | None = None, share: float = 1.0
) -> dict:
    records, report = control_items(path, kind, seed, share)
    if not records:
        raise InputError(path, f"the {kind} control left no items (every group has a single source)")
    write_jsonl(out, records)
    if report_path:
        write_json(report_path, report)
    return report


def response_only_pairs(path: str | Path) -> Iterable[dict]:
    """PrefPairs of `path` with each prompt cut to its question (data.context.question_part)."""
    for pair in iter_jsonl(path, PrefPair.from_dict, unique="id"):
        rec = pair.to_dict()
        rec["prompt"] = question_part(pair.prompt)
        rec["control"] = "none"
        yield rec
