"""YaRN in training (train.<stage>.rope_scaling): the model is trained with the RoPE scaling the bench
judges it with, through the same override function; the trained checkpoint's config.json carries it and
the bench applies it once, not twice. Bad input: a different scaling given again, a max_length past the
model's positions."""

from __future__ import annotations

import json
import math

import pytest

from longrm.data.io import write_jsonl
from longrm.errors import ConfigError
from longrm.judges.factory import bench_params, make_judge
from longrm.judges.model_args import vllm_engine_args
from tests.test_families import YARN, build, cfg_with
from tests.test_train import pref_records, sft_records, small_cfg


@pytest.fixture(scope="module")
def qwen3(tmp_path_factory):
    return build(tmp_path_factory.mktemp("rope") / "qwen3", "qwen3")  # 40,960 positions, rope_theta 1e6


def rope_cfg(**stage):
    cfg = small_cfg()
    for name in ("sft", "logo"):
        cfg["train"][name].update(max_steps=1, **stage)
    return cfg


@pytest.fixture(scope="module")
def trained(qwen3, tmp_path_factory):
    from longrm.train.loop import train

    tmp = tmp_path_factory.mktemp("trained")
    write_jsonl(tmp / "sft.jsonl", sft_records(2))
    write_jsonl(tmp / "pref.jsonl", pref_records(2, m=2))
    cfg = rope_cfg(rope_scaling=YARN)
    train("sft", cfg, tmp / "sft.jsonl", qwen3, tmp / "sft")
    train("logo", cfg, tmp / "pref.jsonl", tmp / "sft", tmp / "logo")  # from a checkpoint scaled already
    return tmp


def saved(path) -> dict:
    return json.loads((path / "config.json").read_text())


@pytest.mark.parametrize("stage", ["sft", "logo"])
def test_the_trained_checkpoint_carries_the_scaling_once(trained, stage):
    conf = saved(trained / stage)
    rope = conf["rope_parameters"]
    assert {k: rope[k] for k in YARN} == YARN and rope["rope_theta"] == 1_000_000.0
    assert conf["max_position_embeddings"] == 131072  # 4 x 32,768, not 4 x 4 x 32,768


@pytest.mark.parametrize("entry", [{"rope_scaling": YARN}, {}], ids=["entry-has-yarn", "entry-without"])
def test_the_bench_applies_the_trained_scaling_once(trained, entry):
    path, cfg = trained / "logo", cfg_with(max_model_len=4 * 131072)
    spec = {"name": "logo", "kind": "generative", "format": "pairwise", "path": str(path), **entry}
    judge = make_judge(spec, cfg)
    conf, stored = judge.model.config, saved(path)
    assert conf.rope_parameters == stored["rope_parameters"]
    assert conf.max_position_embeddings == judge.max_model_len == 131072
    assert judge.model.model.rotary_emb.attention_scaling == pytest.approx(0.1 * math.log(4.0) + 1.0)
    args = vllm_engine_args(path, spec, cfg, bench_params(cfg))
    assert "hf_overrides" not in args  # vLLM reads the scaling from config.json, as transformers does
    judge.close()


def test_another_scaling_on_a_scaled_checkpoint_is_refused(trained):
    other = {**YARN, "factor": 2.0}
    spec = {"name": "logo", "kind": "generative", "format": "pairwise", "path": str(trained / "logo")}
    with pytest.raises(ConfigError, match="already has RoPE scaling"):
        make_judge({**spec, "rope_scaling": other}, cfg_with())
    with pytest.raises(ConfigError, match="already has RoPE scaling"):
        vllm_engine_args(trained / "logo", {**spec, "rope_scaling": other}, cfg_with(), bench_params(cfg_with()))


def test_training_past_the_native_positions_needs_the_scaling(qwen3, trained, tmp_path):
    from longrm.train.loop import train

    cfg = rope_cfg()
    cfg["train"]["common"]["max_length"] = 131072
    # refused before the data is read or a model loaded (the data file does not exist)
    with pytest.raises(ConfigError, match="max_length 131072 is past the 40960 positions.*rope_scaling"):
        train("sft", cfg, tmp_path / "missing.jsonl", qwen3, tmp_path / "o")
    # an init trained with YaRN x4, given x2: refused, before any load
    other = rope_cfg(rope_scaling={**YARN, "factor": 2.0})
    with pytest.raises(ConfigError, match="train.logo.*already has RoPE scaling"):
        train("logo", other, tmp_path / "missing.jsonl", trained / "sft", tmp_path / "o")
