"""`longrm inputs tokenizer`: byte-level BPE trained on the raw items and the distractor pool."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from longrm.inputs.corpus import tokenizer_texts


def build_tokenizer(cfg: dict, raw_path, distractors_path, out_dir):
    """Train, save to a temporary sibling folder, then move it into place (atomic for readers)."""
    from longrm.inputs.tiny import train_tokenizer

    vocab_size = cfg["inputs"].get("tokenizer", {}).get("vocab_size", 4096)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    tmp.chmod(0o755)
    try:
        tok = train_tokenizer(tokenizer_texts(raw_path, distractors_path), vocab_size=vocab_size, out_dir=tmp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return tok
