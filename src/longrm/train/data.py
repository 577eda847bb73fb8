"""Training data: read SFTExample / PrefPair records (JSONL or a released HF folder) and tokenise them
once into `Example`s (prompt ids + one or more response ids). Layout rules: docs/formats/train.md."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from longrm.data.io import iter_jsonl
from longrm.data.official import is_hf_folder, iter_released
from longrm.data.records import PrefPair, SFTExample
from longrm.errors import InputError
from longrm.judges.truncation import cut_middle  # the one middle cut: training and judging agree


@dataclass
class Example:
    """One training item. responses[0] is the SFT target or the chosen completion; the rest are rejected."""

    id: str
    prompt_ids: list[int]
    responses: list[list[int]]
    group: str = ""  # examples of one group (one benchmark item's orders and formats) are batched together

    @property
    def num_tokens(self) -> int:
        return sum(len(self.prompt_ids) + len(r) for r in self.responses)


def read_records(path: str | Path, stage: str) -> list:
    """SFTExample records for sft, PrefPair records for logo/disrm, from JSONL or a released HF folder."""
    want = SFTExample if stage == "sft" else PrefPair
    path = Path(path)
    if is_hf_folder(path) or (path.is_dir() and any(path.glob("*/dataset_info.json"))):
        pairs = list(iter_released(path, "train")) if (path / "train").is_dir() else list(iter_released(path))
        records = [rec for _, rec in pairs]
        if stage == "sft" and records and isinstance(records[0], PrefPair):
            # released preference data: the chosen judgment is a valid SFT target
            records = [SFTExample(id=r.id, prompt=r.prompt, response=r.chosen, extra=r.extra) for r in records]
    else:
        records = list(iter_jsonl(path, want.from_dict))
    if not records:
        raise InputError(path, "no training records")
    for i, rec in enumerate(records):
        if not isinstance(rec, want):
            raise InputError(
                path, f"expected {want.__name__} records for `train {stage}`, got {type(rec).__name__}", i + 1
            )
    return records


def prompt_ids(tokenizer, rec, room: int, use_chat_template: bool = True) -> list[int]:
    """The judge prompt a record's responses are conditioned on, rendered by the function the benchmark
    renders the same prompt with, so a trained judge is evaluated on the ids it was trained on:
    - the prompt as one user turn (our judge prompts, the DisRM task prompt): judges.truncation.fit_prompt
      with the tokenizer's chat wrappers (thinking off where the template has the switch), the user
      content cut in its middle when longer than `room`;
    - the release's chat messages (`extra.messages`: system + user, the official protocol):
      judges.official.template_ids, then the ids as the release gives them (decoded, re-encoded), the
      whole prompt cut in its middle when longer than `room`."""
    from longrm.judges.official import as_given, template_ids
    from longrm.judges.prompts import PromptParts
    from longrm.judges.truncation import chat_wrappers, fit_prompt

    messages = (getattr(rec, "extra", None) or {}).get("messages")
    if messages:
        return as_given(tokenizer, cut_middle(template_ids(tokenizer, messages), room))
    parts = PromptParts(prefix="", context=rec.prompt, suffix="")
    return fit_prompt(tokenizer, parts, room, chat_wrappers(tokenizer, use_chat_template)).input_ids


def prompt_token_ids(tokenizer, prompt: str, use_chat_template: bool = True) -> list[int]:
    """A one-user-turn prompt's ids, uncut (as `prompt_ids` renders it)."""
    from longrm.data.records import SFTExample

    return prompt_ids(tokenizer, SFTExample(id="", prompt=prompt, response=""), 1 << 62, use_chat_template)


def tokenize(
    records: list,
    tokenizer,
    stage: str,
    max_length: int,
    num_negatives: int | None = None,
    use_chat_template: bool = True,
) -> tuple[list[Example], dict]:
    """Records -> Examples. Returns (examples, skipped) where skipped counts reasons for dropped records."""
    eos = [tokenizer.eos_token_id] if stage in ("sft", "logo") and tokenizer.eos_token_id is not None else []
    examples, skipped = [], {}
    for rec in records:
        texts = [rec.response] if stage == "sft" else [rec.chosen, *rec.rejected[:num_negatives]]
        responses = [tokenizer(t, add_special_tokens=False)["input_ids"] + eos for t in texts]
        if any(len(r) == 0 for r in responses):
            skipped["empty response"] = skipped.get("empty response", 0) + 1
            continue
        room = max_length - max(len(r) for r in responses)
        if room < 1:
            skipped["response longer than max_length"] = skipped.get("response longer than max_length", 0) + 1
            continue
        prompt = prompt_ids(tokenizer, rec, room, use_chat_template)
        if not prompt:
            skipped["empty prompt"] = skipped.get("empty prompt", 0) + 1
            continue
        group = str((getattr(rec, "extra", None) or {}).get("group") or rec.id)
        examples.append(Example(id=rec.id, prompt_ids=prompt, responses=responses, group=group))
    return examples, skipped
