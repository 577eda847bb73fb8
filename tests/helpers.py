"""Shared test helpers: a real (random-weight) checkpoint built in about a second."""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import subprocess
from pathlib import Path

TEXTS = [
    "The quick brown fox jumps over the lazy dog. [Analysis] Response A cites the context. [[A]] [[B]]",
    "def add(a, b):\n    return a + b\n# Python standard library style code and docstrings.",
    "Context: the secret code of the blue door is 4812. Question: what is the code? Answer: 4812.",
] * 20


def tiny_checkpoint(out_dir: Path, vocab_size: int = 400, hidden_size: int = 32, seed: int = 0) -> Path:
    from longrm.inputs.tiny import build_tiny_checkpoint

    return build_tiny_checkpoint(
        out_dir,
        TEXTS,
        vocab_size=vocab_size,
        seed=seed,
        hidden_size=hidden_size,
        num_layers=2,
        num_heads=2,
        num_kv_heads=1,
        intermediate_size=64,
        max_position_embeddings=4096,
    )


def config_in(tmp_dir: Path, **top) -> Path:
    """The default config with results_dir = tmp_dir (the CLI refuses outputs outside results_dir), plus
    top-level overrides (e.g. allow_outside_results=True); written to tmp_dir/test-config.yaml."""
    import yaml

    from longrm.config import DEFAULT_CONFIG

    cfg = yaml.safe_load(DEFAULT_CONFIG.read_text())
    cfg.update(results_dir=str(tmp_dir), **top)
    path = Path(tmp_dir) / "test-config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def load_script(path: Path):
    """A script of the repository (benchmarks/, workflow/scripts/) imported as a module."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_in_group(cmd: list, cwd, env: dict, timeout: float, merge_stderr: bool = False) -> subprocess.CompletedProcess:
    """Run `cmd` in its own process group; on timeout end the whole group (its jobs included) and re-raise."""
    proc = subprocess.Popen(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err or "")


def pair_item(i: int, context: str, chosen: str, rejected: str):
    """A LongQA PairWise item whose prompt is `context` (one user turn)."""
    from longrm.data.records import BenchItem

    return BenchItem(
        id=f"t{i}",
        task="LongQA",
        tasktype="PairWise",
        prompt_template=[{"role": "user", "content": context}],
        chosen=chosen,
        rejected=rejected,
    )


def assert_scores_ignore_order(judge, item) -> None:
    """A judge that scores each response once (judges/scored_lm.py): both presentation orders get the same
    scores, and the ranking follows them."""
    a, b = judge.judge([item, item], [[0, 1], [1, 0]])
    assert a.scores == b.scores
    best = 0 if a.scores[0] >= a.scores[1] else 1
    assert a.ranking[0] == best and b.ranking[0] == best


def fact_items(tok, n: int = 24, facts: int = 4, seed: int = 0) -> list:
    """Handmade items in the study's fact form, with one-token words of the base: chosen states the
    context's value for the entity asked about, rejected another entity's value from the same context."""
    from longrm.base.text import one_token_words

    words = [tok.decode([i])[1:] for i in one_token_words(tok)]
    rng = random.Random(seed)
    items = []
    for i in range(n):
        picked = rng.sample(words, 2 * facts)
        ents, vals = picked[:facts], picked[facts:]
        prose = " ".join(f"The tag of {e} is {v}." for e, v in zip(ents, vals))
        context = f"Notes on the release. {prose} Nothing else changed.\n\nWhat is the tag of {ents[0]}?"
        items.append(
            pair_item(i, context, f"The tag of {ents[0]} is {vals[0]}.", f"The tag of {ents[0]} is {vals[1]}.")
        )
    return items
