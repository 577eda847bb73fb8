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
from pathlib import Path

from longrm.data.records import BenchItem, Judgment
from longrm.errors import ConfigError
from longrm.judges.base import Judge, scored_judgment
from longrm.judges.prompts import point_prompt_parts
from longrm.judges.truncation import chat_wrappers, encode, fit_prompt

VERDICT_CUE = "[Score:"
VERDICT_WORDS = (" false", " true")


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


class VerdictJudge(Judge):
    def __init__(
        self,
        path: str | Path,
        name: str = "verdict",
        max_model_len: int = 4096,
        dtype: str = "auto",
        trust_remote_code: bool = False,
        use_chat_template: bool = True,
        threads: int | None = None,
        cue: str = VERDICT_CUE,
    ):
        from longrm.judges.transformers_backend import resolve_dtype
        from longrm.modeling import load_causal_lm, load_tokenizer, set_threads

        set_threads(threads)
        self.name, self.cue = name, cue
        self.tokenizer = load_tokenizer(path, trust_remote_code=trust_remote_code)
        self.verdicts = verdict_token_ids(self.tokenizer)
        self.wrappers = chat_wrappers(self.tokenizer, use_chat_template)
        self.dtype = resolve_dtype(path, dtype, "cpu")
        self.model = load_causal_lm(path, dtype=self.dtype, trust_remote_code=trust_remote_code).eval()
        limit = getattr(self.model.config, "max_position_embeddings", None) or max_model_len
        self.max_model_len = min(max_model_len, limit)
        self._cache: dict[str, dict] = {}

    def _score(self, item: BenchItem) -> dict:
        fitted = []
        for k in range(len(item.responses)):
            parts = point_prompt_parts(item, k)
            parts = type(parts)(prefix=parts.prefix, context=parts.context, suffix=parts.suffix + self.cue)
            fitted.append(fit_prompt(self.tokenizer, parts, self.max_model_len, self.wrappers))
        start = time.perf_counter()
        scores = verdict_margin(self.model, [f.input_ids for f in fitted], self.verdicts)
        return {
            "scores": scores,
            "truncated": any(f.truncated for f in fitted),
            "prompt_tokens": max(len(f.input_ids) for f in fitted),
            "latency_s": time.perf_counter() - start,
        }

    def judge(self, items: Sequence[BenchItem], orders: Sequence[list[int]]) -> list[Judgment]:
        for item in items:
            if item.id not in self._cache:
                self._cache[item.id] = self._score(item)
        extra = {"dtype": str(self.dtype), "cue": self.cue}
        return [scored_judgment(self.name, it, order, self._cache[it.id], extra) for it, order in zip(items, orders)]

    def close(self) -> None:
        self.model = None
        self._cache.clear()
