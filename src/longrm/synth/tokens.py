"""Token counting in the judge's tokenizer, fast enough for 128k-token contexts.

A context is a sequence of documents joined by a separator. Its length is counted as the sum of the
documents' token counts plus one separator count per join: each distractor document is tokenized once
(cached), so building a context never re-tokenizes the whole text. BPE merges across a document
boundary can make the exact count of the joined text differ by a token or so per boundary; the
benchmark script measures that gap.
"""

from __future__ import annotations

from collections.abc import Sequence

SEPARATOR = "\n\n"


def bucket_label(n_tokens: int) -> str:
    """512 -> '512', 1024 -> '1k', 131072 -> '128k' (the Long-RewardBench labels)."""
    if n_tokens >= 1024 and n_tokens % 1024 == 0:
        return f"{n_tokens // 1024}k"
    return str(n_tokens)


class TokenCounter:
    """Counts tokens of texts with a HF tokenizer; caches counts by text."""

    def __init__(self, tokenizer, cache_limit: int = 200_000):
        self.tokenizer = tokenizer
        self._cache: dict[str, int] = {}
        self._cache_limit = cache_limit
        # the separator's cost between two documents (byte-level BPE splits "\n\n" before a word
        # into two pre-tokens, so counting it alone would be off by one per join)
        pair, single = self._encode_len([f"x{SEPARATOR}x", "x"])
        self.sep_tokens = max(pair - 2 * single, 0)

    def _encode_len(self, texts: Sequence[str]) -> list[int]:
        enc = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in enc]

    def count(self, text: str) -> int:
        n = self._cache.get(text)
        if n is None:
            n = self._encode_len([text])[0]
            if len(self._cache) < self._cache_limit:
                self._cache[text] = n
        return n

    def count_many(self, texts: Sequence[str], batch_size: int = 256) -> list[int]:
        """Counts for many texts, tokenized in batches (the fast tokenizer's batch path)."""
        out: list[int] = []
        for start in range(0, len(texts), batch_size):
            out.extend(self._encode_len(texts[start : start + batch_size]))
        return out

    def joined(self, lengths: Sequence[int]) -> int:
        """Token count of documents of the given lengths joined by SEPARATOR."""
        return sum(lengths) + self.sep_tokens * max(len(lengths) - 1, 0)

    def exact(self, text: str) -> int:
        return self._encode_len([text])[0]


class WhitespaceTokenizer:
    """A stand-in tokenizer (one token per whitespace-separated word; the separator costs nothing), so
    token offsets are word indices: for tests and dry runs."""

    def __call__(self, texts, add_special_tokens: bool = False):
        if isinstance(texts, str):
            texts = [texts]
        return {"input_ids": [[0] * len(t.split()) for t in texts]}
