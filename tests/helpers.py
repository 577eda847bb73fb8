"""Shared test helpers: a real (random-weight) checkpoint built in about a second."""

from __future__ import annotations

from pathlib import Path

TEXTS = [
    "The quick brown fox jumps over the lazy dog. [Analysis] Response A cites the context. [[A]] [[B]]",
    "def add(a, b):\n    return a + b\n# Python standard library style code and docstrings.",
    "Context: the secret code of the blue door is 4812. Question: what is the code? Answer: 4812.",
] * 20


def tiny_checkpoint(out_dir: Path, vocab_size: int = 400, hidden_size: int = 32, seed: int = 0) -> Path:
    from longrm.inputs.tiny import build_tiny_checkpoint

    return build_tiny_checkpoint(out_dir, TEXTS, vocab_size=vocab_size, seed=seed, hidden_size=hidden_size,
                                 num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=64,
                                 max_position_embeddings=4096)
