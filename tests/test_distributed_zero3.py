"""ZeRO-3 on 2 CPU ranks (`make test-distributed`): the model is loaded under DeepSpeed's zero-init (no
rank holds it whole), a run killed after a step resumes from its ZeRO-3 checkpoint, and the saved model
(full fine-tune, and a LoRA reward model merged after gathering) equals the ZeRO-2 run's; the summary
counts the unpartitioned parameters."""

import json
import re

import pytest
import torch
import yaml

from longrm.data.io import read_json, write_jsonl
from tests.distributed.ranks import run_ranks, tail
from tests.helpers import config_in
from tests.test_distributed import _load, gqa_ckpt, shm_op  # noqa: F401  (fixtures)
from tests.test_train import pref_records, sft_records

pytestmark = [pytest.mark.distributed, pytest.mark.slow]


def _zero(tmp_path, stage: int):
    zero = {"stage": stage}
    if stage == 3:  # partition every parameter: by default ZeRO-3 keeps parameters under 100k elements whole
        zero.update(stage3_param_persistence_threshold=0, stage3_model_persistence_threshold=0)
    path = tmp_path / f"zero{stage}.json"
    path.write_text(json.dumps({"zero_optimization": zero, "bf16": {"enabled": False}}))
    return path


def _cfg(tmp_path, ds):
    cfg_path = config_in(tmp_path)
    cfg = yaml.safe_load(cfg_path.read_text())
    common = dict(checkpoint_every=1, log_every=1, max_length=256, bf16=False, deepspeed=str(ds))
    cfg["train"]["common"].update(common)
    for stage in ("sft", "disrm"):
        cfg["train"][stage].update(batch_size=2, epochs=1, lr=1e-2)
    cfg["train"]["disrm"]["lora_r"] = 4
    cfg_path.write_text(yaml.safe_dump(cfg))
    return cfg_path


def _run(tmp_path, name, stage, ds, data, init, kill=None):
    (tmp_path / name).mkdir(exist_ok=True)
    argv = ["-m", "longrm.cli", "train", stage, "--config", str(_cfg(tmp_path / name, ds)), "--data", str(data)]
    argv += ["--init", str(init), "--out", str(tmp_path / name / "out"), "--checkpoints", str(tmp_path / name / "ck")]
    argv += ["--auto-resume"]
    env = {"LONGRM_TRAIN_KILL_AFTER": str(kill)} if kill else None
    codes = run_ranks(argv, 2, tmp_path / name / f"logs-{kill}", extra_env=env, timeout=200)
    assert codes == ([-9, -9] if kill else [0, 0]), tail(tmp_path / name / f"logs-{kill}")
    return tmp_path / name / "out"


def loaded(log) -> tuple[int, int]:
    """(elements this rank held, elements of the model) right after loading, from its log."""
    m = re.search(r"ZeRO-3 zero-init: (\d+) of (\d+) parameter elements", log.read_text())
    assert m, log.read_text()[-2000:]
    return int(m.group(1)), int(m.group(2))


def _same(a, b):
    wa, wb = _load(a / "model.safetensors"), _load(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=1e-5, rtol=0), (k, (wa[k] - wb[k]).abs().max())


def test_zero3_save_then_load_equals_zero2(shm_op, gqa_ckpt, tmp_path):  # noqa: F811
    data = tmp_path / "sft.jsonl"
    write_jsonl(data, sft_records(4))
    zero2, zero3 = _zero(tmp_path, 2), _zero(tmp_path, 3)
    two = _run(tmp_path, "z2", "sft", zero2, data, gqa_ckpt)
    _run(tmp_path, "z3", "sft", zero3, data, gqa_ckpt, kill=1)  # killed after step 1: its checkpoint is ZeRO-3's
    three = _run(tmp_path, "z3", "sft", zero3, data, gqa_ckpt)
    assert (tmp_path / "z3" / "ck" / "step-2" / "engine" / "state").is_dir()
    _same(two, three)
    s2, s3 = read_json(two / "train_summary.json"), read_json(three / "train_summary.json")
    assert s3["params"] == s2["params"] > 0 and s3["trainable_params"] == s2["trainable_params"]
    held = [loaded(tmp_path / "z3" / "logs-None" / f"rank-{r}.log") for r in (0, 1)]
    assert all(whole == s3["params"] and 0 < part < whole for part, whole in held), held  # never whole on a rank
    assert sum(part for part, _ in held) >= s3["params"]  # the two partitions (padded) make the model


def test_zero3_lora_reward_model_is_merged_from_gathered_weights(shm_op, gqa_ckpt, tmp_path):  # noqa: F811
    from transformers import AutoModelForSequenceClassification

    from longrm.modeling import load_tokenizer

    init = tmp_path / "rm-init"  # a scoring head in the checkpoint: both runs start from the same weights
    model = AutoModelForSequenceClassification.from_pretrained(str(gqa_ckpt), num_labels=1)
    model.config.pad_token_id = 0
    model.save_pretrained(str(init))
    load_tokenizer(gqa_ckpt).save_pretrained(str(init))
    data = tmp_path / "disrm.jsonl"
    write_jsonl(data, pref_records(4, m=2))
    two = _run(tmp_path, "z2", "disrm", _zero(tmp_path, 2), data, init)
    three = _run(tmp_path, "z3", "disrm", _zero(tmp_path, 3), data, init)
    _same(two, three)
    assert not any("lora" in k for k in _load(three / "model.safetensors"))
    s2, s3 = read_json(two / "train_summary.json"), read_json(three / "train_summary.json")
    assert s3["params"] == s2["params"] and 0 < s3["trainable_params"] == s2["trainable_params"] < s3["params"]
