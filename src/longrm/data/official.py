"""Readers for the official LongRM formats.

- Long-RewardBench: one JSONL per task (fields in shared/reference/longrm.md) -> BenchItem.
- The released training samples: HF `save_to_disk` folders.
  SimPO_Data_Sampled20: `chat_template` (messages), `chosen` (judgment text), `rejects` (judgments) -> PrefPair.
  SFT_Data_Sampled20:   `chat_template` (messages), `golden` (judgment text)                     -> SFTExample.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from longrm.data.io import iter_jsonl
from longrm.data.records import BenchItem, PrefPair, SFTExample
from longrm.errors import InputError


def iter_bench(path: str | Path) -> Iterator[BenchItem]:
    """Stream BenchItems from a Long-RewardBench JSONL file (ours or the official release)."""
    return iter_jsonl(path, BenchItem.from_dict)


def is_hf_folder(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and ((p / "dataset_dict.json").exists() or (p / "dataset_info.json").exists())


def load_hf_folder(path: str | Path):
    """A DatasetDict or Dataset saved with `save_to_disk` (local only; never a hub)."""
    from datasets import load_from_disk

    try:
        return load_from_disk(str(path))
    except Exception as exc:  # datasets raises FileNotFoundError / ValueError variants
        raise InputError(path, f"not a readable HF save_to_disk folder: {exc}") from None


def _prompt_from_messages(messages, path, row) -> str:
    if not isinstance(messages, list) or not messages:
        raise InputError(path, "expected a non-empty list of chat messages", row, "chat_template")
    parts = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("content"), str):
            raise InputError(path, "message without string content", row, f"chat_template[{i}]")
        parts.append(m["content"])
    return "\n\n".join(parts)


def row_to_record(row: dict, path: str, row_no: int, split: str):
    """One released row -> PrefPair (has `rejects`) or SFTExample (has `golden`). The row's chat messages
    are kept as `extra.messages`: training renders them as the official protocol does (train/data.py)."""
    prompt = _prompt_from_messages(row.get("chat_template"), path, row_no)
    messages = [{"role": m.get("role", "user"), "content": m["content"]} for m in row["chat_template"]]
    rid = f"{Path(path).name}/{split}/{row.get('index', row_no)}"
    if "rejects" in row:
        rejects = row.get("rejects")
        if not isinstance(row.get("chosen"), str):
            raise InputError(path, "expected a judgment string", row_no, "chosen")
        if not isinstance(rejects, list) or not rejects or not all(isinstance(r, str) for r in rejects):
            raise InputError(path, "expected a non-empty list of judgment strings", row_no, "rejects")
        extra = {k: row[k] for k in ("insert_index", "conf", "scores", "prompt_ctx_length", "chosen_model") if k in row}
        extra["messages"] = messages
        return PrefPair(id=rid, prompt=prompt, chosen=row["chosen"], rejected=list(rejects), extra=extra)
    if "golden" in row:
        if not isinstance(row["golden"], str):
            raise InputError(path, "expected a judgment string", row_no, "golden")
        extra = {k: row[k] for k in ("ctx_length", "language", "hop", "org_pos", "perspective") if k in row}
        extra["messages"] = messages
        return SFTExample(id=rid, prompt=prompt, response=row["golden"], extra=extra)
    raise InputError(path, "row has neither 'rejects' (preference data) nor 'golden' (SFT data)", row_no)


def iter_released(path: str | Path, split: str | None = None) -> Iterator[tuple[str, object]]:
    """Yield (split, record) from a released LongRM sample folder (all splits unless `split`)."""
    ds = load_hf_folder(path)
    splits = {split: ds[split]} if split else (dict(ds) if hasattr(ds, "keys") else {"": ds})
    for name, part in splits.items():
        where = str(Path(path) / name)
        for i, row in enumerate(part):
            yield name, row_to_record(row, where, i + 1, name)
