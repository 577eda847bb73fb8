import subprocess
import sys

from longrm.data.official import iter_released
from longrm.data.records import PrefPair, SFTExample
from longrm.data.validate import summarize


def test_released_preference_data_reads(samples_dir):
    recs = list(iter_released(samples_dir / "SimPO_Data_Sampled20"))
    splits = {}
    for split, rec in recs:
        assert isinstance(rec, PrefPair)
        assert rec.chosen.startswith("[Analysis]") and rec.rejected
        splits[split] = splits.get(split, 0) + 1
    assert splits == {"train": 16, "eval": 2, "test": 2}


def test_released_sft_data_reads(samples_dir):
    recs = [r for _, r in iter_released(samples_dir / "SFT_Data_Sampled20")]
    assert len(recs) == 4 and all(isinstance(r, SFTExample) for r in recs)
    assert all("[Score:" in r.response for r in recs)


def test_validate_prints_counts_and_lengths(samples_dir):
    out = subprocess.run(
        [sys.executable, "-m", "longrm.cli", "data", "validate", str(samples_dir / "SimPO_Data_Sampled20")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "train: 16 records" in out and "eval: 2 records" in out
    summary = summarize(samples_dir / "SimPO_Data_Sampled20")
    assert summary["train"]["words"]["median"] > 10_000  # long-context data: ~20k words
