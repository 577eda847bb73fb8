"""Data parallelism when ranks run different numbers of backward passes in a step (`make
test-distributed`): preference examples carry 2-4 responses, so the ranks of a step back-propagate a
different number of sequences, while ZeRO-2 reduces gradients on each backward. The step's backward calls
run inside DeepSpeed's gradient-reduction coalescing (one reduction per step on every rank), so the run
finishes (bounded here) and equals one plain process on the same global batches."""

import json

import pytest
import torch
import yaml

from longrm.config import with_defaults
from longrm.data.io import read_json, write_jsonl
from longrm.train.loop import epoch_order
from tests.distributed.ranks import run_ranks, tail
from tests.helpers import config_in
from tests.test_distributed import _load, _zero2, gqa_ckpt, shm_op  # noqa: F401  (fixtures)
from tests.test_train import pref_records

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

NEGATIVES = [1, 3, 2, 1, 3, 2]  # 2, 4, 3, ... responses: backward calls per example


def records() -> list[dict]:
    recs = pref_records(len(NEGATIVES), m=max(NEGATIVES))
    for rec, m in zip(recs, NEGATIVES):
        rec["rejected"] = rec["rejected"][:m]
    return recs


def _cfg(tmp_path, deepspeed):
    cfg_path = config_in(tmp_path)
    cfg = yaml.safe_load(cfg_path.read_text())
    common = dict(checkpoint_every=100, log_every=1, max_length=256, bf16=False, deepspeed=deepspeed)
    # each response its own backward (grad cache): the paper's path, where gradient checkpointing or
    # sequence parallelism turns the shared prompt off (one backward per example otherwise)
    cfg["train"]["common"].update(common, share_prompt=False, grad_cache=True)
    cfg["train"]["logo"].update(batch_size=2, epochs=1, num_negatives=3, lr=1e-2)
    cfg_path.write_text(yaml.safe_dump(cfg))
    return cfg_path, cfg


def test_two_ranks_with_different_numbers_of_negatives_finish_and_equal_one_process(shm_op, gqa_ckpt, tmp_path):  # noqa: F811
    from longrm.train.loop import train

    data = tmp_path / "pref.jsonl"
    write_jsonl(data, records())
    cfg_path, cfg = _cfg(tmp_path, str(_zero2(tmp_path)))
    seed = with_defaults(json.loads(json.dumps(cfg)))["seed"]
    order = epoch_order([r["id"] for r in records()], seed, "logo", 0)  # each example is its own group
    steps = [[NEGATIVES[i] for i in order[k : k + 2]] for k in range(0, len(order), 2)]
    assert any(a != b for a, b in steps), steps  # some step gives its two ranks different counts
    one_cfg = with_defaults(json.loads(json.dumps(cfg)))
    one_cfg["train"]["common"]["deepspeed"] = None
    train("logo", one_cfg, data, gqa_ckpt, tmp_path / "one")
    argv = ["-m", "longrm.cli", "train", "logo", "--config", str(cfg_path), "--data", str(data)]
    argv += ["--init", str(gqa_ckpt), "--out", str(tmp_path / "dp"), "--checkpoints", str(tmp_path / "ck")]
    codes = run_ranks(argv, 2, tmp_path / "logs", timeout=150)  # a hang ends here, not in the CI's limit
    assert codes == [0, 0], tail(tmp_path / "logs")
    assert read_json(tmp_path / "dp" / "train_summary.json")["steps"] == len(steps) == 3
    a, b = _load(tmp_path / "one" / "model.safetensors"), _load(tmp_path / "dp" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5, rtol=0), (k, (a[k] - b[k]).abs().max())
