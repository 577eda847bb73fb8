"""The train rule as Snakemake runs it (real `longrm train`, local executor): a job killed mid-run (the
way a cluster ends a job at its time limit) fails, Snakemake deletes its output and retries it, and the
retry continues from the checkpoint in results/checkpoints/STAGE/ instead of starting over."""

from __future__ import annotations

import pytest
import yaml

from longrm.data.io import read_json, read_jsonl, write_jsonl
from longrm.train.timing import read_run_facts
from tests.helpers import config_in, tiny_checkpoint
from tests.test_train import sft_records
from tests.test_workflow import snakemake


@pytest.mark.slow
def test_a_killed_training_job_is_retried_and_continues_from_its_checkpoint(tmp_path):
    results = tmp_path / "results"
    tiny_checkpoint(results / "inputs" / "base_model")
    write_jsonl(results / "splits" / "sft.jsonl", sft_records(8))
    cfg_path = config_in(results)
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["train"]["common"].update(checkpoint_every=1, log_every=1, max_length=256, bf16=False)
    cfg["train"]["sft"].update(batch_size=2, epochs=1, grad_accum=1)  # 4 steps
    cfg["train"].pop("short", None)  # SFT starts from the pre-trained base, not a short judge
    cfg_path.write_text(yaml.safe_dump(cfg))
    env = {"LONGRM_TRAIN_KILL_AFTER": "2", "LONGRM_THREADS": "1"}  # SIGKILL after step 2, once
    out = snakemake(
        "--cores",
        "1",
        "--configfile",
        str(cfg_path),
        "--allowed-rules",
        "train_sft",
        "--retries",
        "1",
        "--latency-wait",
        "1",
        str(results / "models" / "sft"),
        env=env,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    assert "Trying to restart job" in out.stderr or "attempt" in out.stderr.lower(), out.stderr[-4000:]
    summary = read_json(results / "models" / "sft" / "train_summary.json")
    facts = read_run_facts((results / "logs" / "train_sft.log").read_text())  # the retry's log
    assert facts["resumed_from"] == 2 and summary["steps"] == 4
    assert [r["step"] for r in read_jsonl(results / "models" / "sft" / "train_log.jsonl")] == [1, 2, 3, 4]
    assert (results / "checkpoints" / "sft" / "latest").read_text().strip() == "step-4"
    assert (results / "models" / "sft" / "provenance.json").is_file()
