"""Long-RewardBench as released: a folder of per-task JSONL files (or one such file) -> BenchItems.

In the release every task file numbers its items from 0, so an id alone is not unique; an item is
identified by (task, id). Each item read here gets
    id             the canonical unique id "{task}/{id}" (what records and scores key on)
    release_id     the id as released (integer or string)
    release_file   the file it came from (name inside the folder)
    release_index  its position among the file's items (0-based), which the official order needs
and keeps every released field (unknown ones in `extra`). A PairWise subtype other than "same" is
read as "diff" (the released evaluator's reading), the value as released kept in `release_subtype`.

Errors name the file, the line and the field; a repeated (task, id) names both places.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from longrm.data.io import iter_jsonl
from longrm.data.records import BenchItem
from longrm.errors import InputError

RELEASE_FIELDS = ("release_id", "release_file", "release_index")


def released_files(path: str | Path) -> list[Path]:
    """The JSONL files of a release folder (sorted by name), or [path] for a single file."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix == ".jsonl")
        if not files:
            raise InputError(path, "no *.jsonl files in the folder (expected one Long-RewardBench file per task)")
        return files
    if not path.exists():
        raise InputError(path, "file not found")
    return [path]


def canonical_id(task: str, raw_id) -> str:
    return f"{task}/{raw_id}"


def _raw_id(obj: dict, path: str, line: int):
    raw = obj.get("id")
    if raw is None:
        raise InputError(path, "missing required field", line, "id")
    if isinstance(raw, bool) or not isinstance(raw, (int, str)) or (isinstance(raw, str) and not raw.strip()):
        raise InputError(path, f"expected an integer or a non-empty string, got {raw!r}", line, "id")
    return raw


def released_item(obj: dict, file_name: str, index: int, path: str, line: int) -> BenchItem:
    """One released line -> BenchItem with a canonical id and the release's provenance fields."""
    raw = _raw_id(obj, path, line)
    task = obj.get("task")
    if not isinstance(task, str) or not task.strip():
        raise InputError(path, "expected the task name (a non-empty string)", line, "task")
    fields = dict(obj, id=canonical_id(task, raw), release_id=raw, release_file=file_name, release_index=index)
    sub = obj.get("subtype")
    if obj.get("tasktype") == "PairWise" and isinstance(sub, str) and sub not in ("", "same", "diff"):
        fields.update(subtype="diff", release_subtype=sub)
    return BenchItem.from_dict(fields, path, line)


def iter_released_bench(path: str | Path) -> Iterator[tuple[BenchItem, str, int]]:
    """(item, file path, line) for every item of a release folder or file, files in name order."""
    seen: dict[str, tuple[str, int]] = {}
    for file in released_files(path):
        index = 0
        for obj, line in iter_jsonl(file, lambda o, _p, no: (o, no)):
            item = released_item(obj, file.name, index, str(file), line)
            if item.id in seen:
                first_file, first_line = seen[item.id]
                raise InputError(
                    file, f"duplicate (task, id) {item.id!r} (first in {first_file} line {first_line})", line, "id"
                )
            seen[item.id] = (str(file), line)
            index += 1
            yield item, str(file), line


def first_id(path: Path):
    """The `id` value of the first non-blank line of a JSONL file (None when unreadable or absent)."""
    with path.open("rb") as f:
        for raw in f:
            if raw.strip():
                try:
                    obj = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    return None
                return obj.get("id") if isinstance(obj, dict) else None
    return None


def is_released(path: str | Path) -> bool:
    """A folder (one file per task), or a file whose ids are integers (the release numbers each task
    file from 0), is read as released; a file of string ids as a normalised bench file (ours, or a
    released one after `longrm data import-released`)."""
    path = Path(path)
    if path.is_dir():
        return True
    if not path.is_file():
        return False
    raw = first_id(path)
    return isinstance(raw, int) and not isinstance(raw, bool)
