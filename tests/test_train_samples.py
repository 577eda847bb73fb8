"""The released LongRM preference sample (SimPO_Data_Sampled20) through our trainer, re-tokenised for the
tiny model; skipped when ../shared is absent. Its memory against the benchmark's fit is a benchmark
(benchmarks/bench_train_memory.py, the released check), not a unit test."""

import math

from longrm.config import load_config
from tests.helpers import tiny_checkpoint


def test_released_folder_is_accepted_as_training_data(samples_dir, tmp_path):
    from longrm.train.loop import train

    ckpt = tiny_checkpoint(tmp_path / "tiny")
    cfg = load_config()
    cfg["train"]["common"].update(max_length=2048, bf16=False, log_every=1)
    cfg["train"]["logo"].update(batch_size=1, max_steps=1)
    s = train("logo", cfg, samples_dir / "SimPO_Data_Sampled20", ckpt, tmp_path / "out")
    assert s["steps"] == 1
    assert s["train_examples"] + sum(s["skipped"].values()) == 16  # the train split
    assert s["tokens_seen"] > 5 * 1024  # 1 chosen + 4 rejected judgments, each after a cut prompt
    assert math.isfinite(s["final_loss"])
