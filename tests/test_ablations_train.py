"""A variant's jobs through the `longrm` CLI: `train --variant` trains with the variant's overrides and records
them in provenance; `bench run --model VARIANT` judges the variant's model as `ablations.judge` says."""

from __future__ import annotations

import argparse
import json

import pytest
import yaml

from longrm.cli import main
from longrm.config import DEFAULT_CONFIG, load_config
from longrm.data.io import write_jsonl
from tests.helpers import tiny_checkpoint
from tests.test_train import pref_records


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))


def small_config(tmp_path):
    cfg = yaml.safe_load(DEFAULT_CONFIG.read_text())
    cfg["results_dir"] = str(tmp_path)
    cfg["train"]["common"].update(max_length=256, log_every=1, checkpoint_every=2)
    cfg["train"]["logo"].update(max_steps=2, batch_size=2)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def train_logo(tmp_path, ckpt, variant) -> tuple[int, dict, dict]:
    config = small_config(tmp_path)
    write_jsonl(tmp_path / "pref.jsonl", pref_records(4))
    out = tmp_path / variant
    rc = main(
        ["train", "logo", "--config", str(config), "--data", str(tmp_path / "pref.jsonl")]
        + ["--init", str(ckpt), "--out", str(out), "--variant", variant]
    )
    if rc:
        return rc, {}, {}
    return rc, json.loads((out / "train_summary.json").read_text()), json.loads((out / "provenance.json").read_text())


def test_train_variant_runs_its_overrides_and_records_them(ckpt, tmp_path):
    rc, summary, prov = train_logo(tmp_path, ckpt, "sft-dpo")
    assert rc == 0 and summary["loss_type"] == "dpo"  # the main run's train.logo.loss is logo
    sections = prov["config"]["sections"]
    assert sections["ablations.variants.sft-dpo"]["train"] == {"logo": {"loss": "dpo"}}
    assert sections["train.logo"]["loss"] == "logo"  # the main run's section, as the config holds it
    assert "--variant" in prov["command"]


def test_train_refuses_a_stage_the_variant_does_not_train(ckpt, tmp_path, capsys):
    config = small_config(tmp_path)
    write_jsonl(tmp_path / "sft.jsonl", [{"id": "s0", "prompt": "p", "response": "[[A]]"}])
    args = ["train", "sft", "--config", str(config), "--data", str(tmp_path / "sft.jsonl"), "--init", str(ckpt)]
    assert main([*args, "--out", str(tmp_path / "x"), "--variant", "logo-from-base"]) == 2
    assert "variant 'logo-from-base' does not train stage 'sft'" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "y"), "--variant", "nope"]) == 2
    assert "no ablation variant 'nope'" in capsys.readouterr().err


def test_bench_run_judges_a_variant_as_the_ablations_judge_says():
    from longrm.bench.cli import ablation_spec
    from longrm.commands import reads

    cfg = load_config(DEFAULT_CONFIG)
    args = argparse.Namespace(model="logo-m1", prov_params=reads("bench run"))
    spec = ablation_spec(cfg, args)
    assert spec == {
        "name": "logo-m1",
        "kind": "generative",
        "path": "results/ablations/models/logo-m1/logo",
        "format": cfg["ablations"]["judge"]["format"],
    }
    assert "ablations.judge" in args.prov_params
    assert ablation_spec(cfg, argparse.Namespace(model="logo-pointwise")) is None  # a bench model: as before
