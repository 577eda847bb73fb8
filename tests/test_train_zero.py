"""ZeRO-3 guards, in one process: a data-parallel ZeRO-3 run needs as many forwards on every rank of a
step (each forward gathers the parameters from all ranks), so examples with different numbers of
responses are refused before any model loads. (Two real ranks: tests/test_distributed_dp.py.)"""

from __future__ import annotations

import json

import pytest

from longrm.data.io import write_jsonl
from longrm.errors import ConfigError
from longrm.train.parallel import check_even_forwards
from tests.test_train import ckpt, pref_records, small_cfg  # noqa: F401  (ckpt is a fixture)


def test_zero3_with_data_parallelism_needs_even_response_counts():
    check_even_forwards(2, 4, [2, 3, 4])  # ZeRO-2: the reduction is coalesced, forwards gather nothing
    check_even_forwards(3, 1, [2, 3, 4])  # one data-parallel group (sequence parallelism only)
    check_even_forwards(3, 4, [3, 3, 3])
    with pytest.raises(ConfigError, match="ZeRO-3 with 2 data-parallel groups.*here 2 to 4"):
        check_even_forwards(3, 2, [2, 4, 3])


def test_a_zero3_data_parallel_run_with_mixed_negatives_is_refused_before_loading(ckpt, tmp_path, monkeypatch):  # noqa: F811
    from longrm.train.loop import train

    recs = pref_records(4, m=3)
    recs[1]["rejected"] = recs[1]["rejected"][:1]
    write_jsonl(tmp_path / "pref.jsonl", recs)
    zero3 = tmp_path / "zero3.json"
    zero3.write_text(json.dumps({"zero_optimization": {"stage": 3}}))
    monkeypatch.setenv("WORLD_SIZE", "2")  # rank 0 of two: refused before torch.distributed starts
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ConfigError, match="ZeRO-3 with 2 data-parallel groups"):
        train("logo", small_cfg(deepspeed=str(zero3)), tmp_path / "pref.jsonl", ckpt, tmp_path / "o")
    assert not (tmp_path / "o").exists()
