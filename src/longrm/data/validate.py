"""`longrm data validate PATH`: read any supported file or folder, print counts and length statistics."""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path

from longrm.data.io import iter_jsonl, read_parquet
from longrm.data.official import is_hf_folder, iter_released
from longrm.data.records import BenchItem, PrefPair, SFTExample, ShortItem
from longrm.data.released import is_released, iter_released_bench
from longrm.errors import InputError


def detect_record_type(obj: dict):
    if "tasktype" in obj:
        return BenchItem
    if "evidence" in obj and "candidates" in obj:
        return ShortItem
    if "prompt" in obj and "chosen" in obj:
        return PrefPair
    if "prompt" in obj and "response" in obj:
        return SFTExample
    return None


def _text_lengths(rec) -> tuple[int, int]:
    """(characters, words) of the prompt-side text of a record."""
    if isinstance(rec, BenchItem):
        text = rec.task_prompt
    elif isinstance(rec, ShortItem):
        text = "\n".join(rec.evidence) + "\n" + rec.question
    else:
        text = rec.prompt
    return len(text), len(text.split())


def _records(path: Path):
    """Yield (group, record) for a file or folder."""
    if is_hf_folder(path):
        yield from iter_released(path)
        return
    if is_released(path):  # a Long-RewardBench folder (one file per task) or integer-id file
        for item, _file, _line in iter_released_bench(path):
            yield item.extra["release_file"], item
        return
    if path.suffix == ".parquet":
        rows = read_parquet(path)
        for i, row in enumerate(rows, 1):
            typ = detect_record_type(row)
            if typ is None:
                raise InputError(path, "cannot tell the record type from the fields", i)
            yield typ.__name__, typ.from_dict(row, str(path), i)
        return
    typ = None
    for i, obj in enumerate(iter_jsonl(path), 1):
        typ = typ or detect_record_type(obj)
        if typ is None:
            raise InputError(path, "cannot tell the record type from the fields", i)
        yield typ.__name__, typ.from_dict(obj, str(path), i)


def summarize(path: str | Path, tokenizer=None) -> dict:
    """Counts per group (split or record type) and per task, and prompt length statistics."""
    path = Path(path)
    groups: dict[str, dict] = {}
    for group, rec in _records(path):
        g = groups.setdefault(group or "all", {"count": 0, "chars": [], "words": [], "tokens": [], "tasks": Counter()})
        g["count"] += 1
        chars, words = _text_lengths(rec)
        g["chars"].append(chars)
        g["words"].append(words)
        if tokenizer is not None:
            text = rec.task_prompt if isinstance(rec, BenchItem) else getattr(rec, "prompt", "")
            g["tokens"].append(len(tokenizer(text)["input_ids"]))
        task = getattr(rec, "task", None)
        if task:
            g["tasks"][task] += 1
    if not groups:
        raise InputError(path, "empty dataset: no records")
    out = {}
    for name, g in groups.items():
        stats = {"count": g["count"]}
        for key in ("chars", "words", "tokens"):
            vals = g[key]
            if vals:
                stats[key] = {"min": min(vals), "median": statistics.median(vals), "max": max(vals)}
        if g["tasks"]:
            stats["tasks"] = dict(sorted(g["tasks"].items()))
        out[name] = stats
    return out


def format_summary(path, summary: dict) -> str:
    lines = [f"{path}"]
    for name, s in summary.items():
        lines.append(f"  {name}: {s['count']} records")
        for key in ("chars", "words", "tokens"):
            if key in s:
                st = s[key]
                lines.append(f"    {key:<6} min {st['min']:>9,}  median {st['median']:>11,.1f}  max {st['max']:>9,}")
        if "tasks" in s:
            lines.append("    tasks  " + ", ".join(f"{k} {v}" for k, v in s["tasks"].items()))
    return "\n".join(lines)
