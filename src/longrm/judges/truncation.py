"""Fit a judge prompt into a token budget by cutting the long context in the middle.

The budget of a generative judge is `max_model_len - max_new_tokens`, so the answer always has room
(the official evaluator cuts at 131,072 tokens and leaves a 128K model ~5 tokens to answer). Only the
context part of `prompts.prompt_parts` is cut; the instructions, the responses and the verdict request
are kept whole unless they alone overflow the budget, in which case the responses are cut in their
middle too (and the record says so).

A chat template, when the tokenizer has one, wraps the whole judge prompt as one user turn; its text
before and after the user content is part of the fixed prefix/suffix.
"""

from __future__ import annotations

from dataclasses import dataclass

from longrm.judges.model_args import chat_template_kwargs
from longrm.judges.prompts import PromptParts

_SLOT = "\u0000LONGRM_USER_CONTENT\u0000"


@dataclass(frozen=True)
class FittedPrompt:
    input_ids: list[int]
    truncated: bool
    context_tokens: int  # tokens of the context before cutting
    context_kept: int  # tokens of the context kept


def chat_wrappers(tokenizer, use_chat_template: bool = True) -> tuple[str, str]:
    """Text before and after the user content in the tokenizer's chat template ('' '' without one);
    thinking off where the template has the switch (judges/model_args.chat_template_kwargs)."""
    if not use_chat_template or not getattr(tokenizer, "chat_template", None):
        return "", ""
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": _SLOT}],
        tokenize=False,
        add_generation_prompt=True,
        **chat_template_kwargs(tokenizer),
    )
    before, sep, after = text.partition(_SLOT)
    if not sep:
        return "", ""
    return before, after


def cut_middle(ids: list[int], keep: int) -> list[int]:
    """Keep the first ceil(keep/2) and the last floor(keep/2) tokens."""
    if keep >= len(ids):
        return list(ids)
    if keep <= 0:
        return []
    head = (keep + 1) // 2
    tail = keep - head
    return list(ids[:head]) + (list(ids[len(ids) - tail :]) if tail else [])


def encode(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []


def fit_prompt(
    tokenizer, parts: PromptParts, budget: int, wrappers: tuple[str, str] = ("", ""), response: str | None = None
) -> FittedPrompt:
    """Token ids of prefix | context | suffix (+ response ids for a scalar RM) within `budget` tokens.

    A prompt that fits is tokenized whole, exactly as the trainer does (docs/formats/train.md: prompt
    ids + response ids). One that does not is tokenized part by part, so the cut falls on token
    boundaries inside the context only.
    """
    if budget <= 0:
        raise ValueError(f"token budget must be positive, got {budget}")
    before, after = wrappers
    context = encode(tokenizer, parts.context)
    tail = encode(tokenizer, response) if response is not None else []
    whole = encode(tokenizer, before + parts.join() + after)
    if len(whole) + len(tail) <= budget:
        return FittedPrompt(whole + tail, False, len(context), len(context))
    prefix = encode(tokenizer, before + parts.prefix)
    suffix = encode(tokenizer, parts.suffix + after)
    fixed = len(prefix) + len(suffix) + len(tail)
    if fixed + len(context) <= budget:  # the piecewise ids happen to fit: cut nothing
        return FittedPrompt(prefix + context + suffix + tail, False, len(context), len(context))
    room = budget - fixed
    if room >= 0:
        return FittedPrompt(prefix + cut_middle(context, room) + suffix + tail, True, len(context), room)
    # The fixed parts alone overflow: drop the context and cut the responses block in its middle,
    # keeping the instructions (prefix) and the verdict request at the end of the suffix.
    body = suffix + tail
    keep = budget - len(prefix)
    if keep <= 0:
        raise ValueError(f"token budget {budget} is smaller than the judge instructions ({len(prefix)} tokens)")
    return FittedPrompt(prefix + cut_middle(body, keep), True, len(context), 0)
