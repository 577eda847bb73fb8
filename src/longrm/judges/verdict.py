"""The base's own verdict as a judge, zero-shot: a response's score is the logit of " true" minus " false"
where a pointwise judge writes its score.

The prompt is the pointwise judge's (judges/prompts.point_prompt_parts: instructions, the long context and
question, the one response) followed by the verdict cue ("[Score:" by default), so the base is asked in the
judge's own words and layout, as a real base is prompted zero-shot. A base pre-trained to verify a claim
against its context (`make base` stage II: claims followed by " true" / " false") gives the grounded response
the higher score; one that cannot verify sits at chance, which the controls show. No training: it measures
what the base itself judges, beside the judges trained from it. Each response is scored once, whatever the
presentation order.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from longrm.base.rows import VERDICT_WORDS  # the words stage II of `make base` teaches
from longrm.data.records import BenchItem
from longrm.errors import ConfigError
from longrm.judges.prompts import point_prompt_parts
from longrm.judges.scored_lm import ScoringLMJudge
from longrm.judges.truncation import chat_wrappers, encode, fit_prompt

VERDICT_CUE = "[Score:"


def verdict_token_ids(tokenizer, words: Sequence[str] = VERDICT_WORDS) -> tuple[int, int]:
    """The single token of each verdict word; ConfigError when a word is not one token of this tokenizer."""
    ids = [encode(tokenizer, w) for w in words]
    if any(len(i) != 1 for i in ids):
        raise ConfigError(
            f"verdict judge: the verdict words {list(words)} must be one token each of the model's tokenizer, got {ids}"
        )
    return ids[0][0], ids[1][0]


def verdict_margin(model, prompts: list[list[int]], verdicts: tuple[int, int]) -> list[float]:
    """logit(verdicts[1]) - logit(verdicts[0]) after each prompt."""
    import torch

    with torch.inference_mode():
        out = []
        for ids in prompts:
            logits = model(input_ids=torch.tensor([ids]), logits_to_keep=1).logits[0, -1].float()  # (V,)
            out.append(float(logits[verdicts[1]] - logits[verdicts[0]]))
    return out


class VerdictJudge(ScoringLMJudge):
    def __init__(
        self, path: str | Path, name: str = "verdict", use_chat_template: bool = True, cue: str = VERDICT_CUE, **kwargs
    ):
        super().__init__(path, name, **kwargs)
        self.cue = cue
        self.verdicts = verdict_token_ids(self.tokenizer)
        self.wrappers = chat_wrappers(self.tokenizer, use_chat_template)

    def _score(self, item: BenchItem) -> dict:
        fitted = []
        for k in range(len(item.responses)):
            parts = point_prompt_parts(item, k)
            parts = replace(parts, suffix=parts.suffix + self.cue)
            fitted.append(fit_prompt(self.tokenizer, parts, self.max_model_len, self.wrappers))
        start = time.perf_counter()
        scores = verdict_margin(self.model, [f.input_ids for f in fitted], self.verdicts)
        return {
            "scores": scores,
            "truncated": any(f.truncated for f in fitted),
            "prompt_tokens": max(len(f.input_ids) for f in fitted),
            "latency_s": time.perf_counter() - start,
        }

    def extra(self) -> dict:
        return {**super().extra(), "cue": self.cue}
