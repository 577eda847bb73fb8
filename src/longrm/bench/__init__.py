"""Long-RewardBench evaluation: `run` writes one Judgment per (item, order), `score` derives metrics."""
