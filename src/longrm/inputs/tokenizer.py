"""`longrm inputs tokenizer`: byte-level BPE trained on the raw items and the distractor pool."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from longrm.inputs.corpus import tokenizer_texts


@contextlib.contextmanager
def atomic_dir(out_dir: str | Path) -> Iterator[Path]:
    """A temporary sibling folder to fill; it replaces `out_dir` only when the block succeeds."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    tmp.chmod(0o755)
    try:
        yield tmp
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_tokenizer(cfg: dict, raw_path, distractors_path, out_dir):
    from longrm.inputs.tiny import train_tokenizer

    vocab_size = cfg["inputs"]["tokenizer"]["vocab_size"]
    texts = tokenizer_texts(raw_path, distractors_path)
    with atomic_dir(out_dir) as tmp:
        tok = train_tokenizer(texts, vocab_size=vocab_size, out_dir=tmp)
    return tok
