"""Normalised benchmark files (BenchItem JSONL, docs/CONTRACTS.md) from external formats.

- `import_released`: Long-RewardBench as released (a folder of per-task files, or one file) ->
  one file, items in release order (files by name, lines in order), ids "{task}/{id}", every released
  field kept plus release_id / release_file / release_index (data/released.py). The official order of
  `bench run --protocol official` is the same on this file as on the folder.
- `import_rewardbench`: a short-context set in the RewardBench format (JSONL with prompt, chosen,
  rejected, subset, id; other fields kept) -> PairWise items, task = subset, the prompt as one user
  message, bucket label "short".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from longrm.data.io import iter_jsonl, write_jsonl
from longrm.data.records import BenchItem
from longrm.data.released import iter_released_bench
from longrm.errors import InputError

REWARDBENCH_FIELDS = ("prompt", "chosen", "rejected", "subset")
SHORT_BUCKET = "short"


def import_released(src: str | Path, out: str | Path) -> int:
    """Write the release at `src` as one normalised JSONL; returns the item count."""
    n = write_jsonl(out, (item for item, _file, _line in iter_released_bench(src)))
    if n == 0:
        raise InputError(src, "no items: the released benchmark is empty")
    return n


def rewardbench_item(obj: dict, path: str, line: int) -> BenchItem:
    for name in REWARDBENCH_FIELDS:
        if not isinstance(obj.get(name), str) or not obj[name].strip():
            raise InputError(path, "expected a non-empty string", line, name)
    raw = obj.get("id")
    if isinstance(raw, bool) or not isinstance(raw, (int, str)) or str(raw).strip() == "":
        raise InputError(path, f"expected an integer or a non-empty string, got {raw!r}", line, "id")
    extra = {k: v for k, v in obj.items() if k not in ("id", "prompt", "chosen", "rejected", "subset")}
    fields = {
        **extra,
        "id": f"rewardbench/{raw}",
        "release_id": raw,
        "task": obj["subset"],
        "subset": obj["subset"],
        "tasktype": "PairWise",
        "subtype": "",
        "question": obj["prompt"],
        "prompt_template": [{"role": "user", "content": obj["prompt"]}],
        "chosen": obj["chosen"],
        "rejected": obj["rejected"],
        "ctx_length_for_length": SHORT_BUCKET,
        "source": obj.get("source") or "rewardbench",
    }
    return BenchItem.from_dict(fields, path, line)


def iter_rewardbench(path: str | Path) -> Iterator[BenchItem]:
    return iter_jsonl(path, rewardbench_item, unique="id")


def import_rewardbench(src: str | Path, out: str | Path) -> int:
    n = write_jsonl(out, iter_rewardbench(src))
    if n == 0:
        raise InputError(src, "no items: the RewardBench file is empty")
    return n
