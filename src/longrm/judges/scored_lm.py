"""A causal LM judge that scores each response of an item once, whatever the presentation order: the base's
own reading (judges/likelihood.py) and its own verdict (judges/verdict.py). Loading, the per-item cache and
the judgments are here; a subclass gives `_score(item)` -> {scores, truncated, prompt_tokens, latency_s}."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from longrm.data.records import BenchItem, Judgment
from longrm.judges.base import Judge, scored_judgment


class ScoringLMJudge(Judge):
    def __init__(
        self,
        path: str | Path,
        name: str,
        max_model_len: int = 4096,
        dtype: str = "auto",
        trust_remote_code: bool = False,
        threads: int | None = None,
    ):
        from longrm.judges.transformers_backend import resolve_dtype
        from longrm.modeling import load_causal_lm, load_tokenizer, set_threads

        set_threads(threads)
        self.name = name
        self.tokenizer = load_tokenizer(path, trust_remote_code=trust_remote_code)
        self.dtype = resolve_dtype(path, dtype, "cpu")
        self.model = load_causal_lm(path, dtype=self.dtype, trust_remote_code=trust_remote_code).eval()
        limit = getattr(self.model.config, "max_position_embeddings", None) or max_model_len
        self.max_model_len = min(max_model_len, limit)
        self._cache: dict[str, dict] = {}

    def _score(self, item: BenchItem) -> dict:
        raise NotImplementedError

    def extra(self) -> dict:
        return {"dtype": str(self.dtype)}

    def judge(self, items: Sequence[BenchItem], orders: Sequence[list[int]]) -> list[Judgment]:
        for item in items:
            if item.id not in self._cache:
                self._cache[item.id] = self._score(item)
        extra = self.extra()
        return [scored_judgment(self.name, it, order, self._cache[it.id], extra) for it, order in zip(items, orders)]

    def close(self) -> None:
        self.model = None
        self._cache.clear()
