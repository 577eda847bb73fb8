"""Did an item's evidence survive the cut of its judge prompt?

Synthesis records where each evidence piece lies in the task prompt (`evidence_spans`: [start, end)
in judge-tokenizer tokens from the start of the task prompt, the context). A judge that cuts a prompt
records what it kept; an evidence piece survives when it lies wholly in the kept head or the kept tail.
  ours      the context alone is cut: of `context_tokens`, the first ceil(k/2) and last floor(k/2) of
            k = `context_kept` tokens are kept (judges/truncation.py)
  official  the whole prompt is cut: of `template_tokens`, the first 65,536 and last 65,531 are kept;
            the context starts `context_start` tokens in (judges/official.py)
Token offsets counted at synthesis can differ from the judge's by a token or so per document boundary.
"""

from __future__ import annotations

from longrm.judges.official import KEEP_HEAD, KEEP_TAIL


def span_kept(start: int, end: int, total: int, head: int, tail: int) -> bool:
    """[start, end) of a sequence of `total` tokens lies wholly in its first `head` or last `tail`."""
    return end <= head or start >= total - tail


def evidence_kept(item, extra: dict, truncated: bool) -> bool | None:
    """True / False for an item with `evidence_spans`; None when it has none or the judge's record
    does not say what it kept (scalar RMs)."""
    spans = (getattr(item, "extra", None) or {}).get("evidence_spans")
    if not spans:
        return None
    if not truncated:
        return True
    if "context_start" in extra:
        total, shift, head, tail = extra["template_tokens"], extra["context_start"], KEEP_HEAD, KEEP_TAIL
    elif extra.get("context_kept") is not None:
        total, shift, kept = extra["context_tokens"], 0, extra["context_kept"]
        head, tail = (kept + 1) // 2, kept // 2
    else:
        return None
    return all(span_kept(s + shift, e + shift, total, head, tail) for s, e in spans)
