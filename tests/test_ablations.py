"""Training ablations (config `ablations`, longrm.ablations): the plan of the shipped default, the config each
variant's jobs run with, the errors a bad variant gives before any job runs, and `vote relabel` (the best
single judge's labels on as many training items, from the same sources)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from longrm.ablations import ablation_plan, bench_jobs, reused_bench_model, variant_config
from longrm.config import DEFAULT_CONFIG, load_config
from longrm.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def default():
    return load_config(DEFAULT_CONFIG)


def plan_of(cfg) -> dict:
    return {v.name: v for v in ablation_plan(cfg)}


def test_the_default_ships_the_issue_variants(default):
    plan = plan_of(default)
    overrides = {n: v.get("train", {}) for n, v in default["ablations"]["variants"].items()}
    assert plan["sft-only"].stages == ("sft",) and plan["logo-from-base"].stages == ("logo",)
    assert overrides["sft-dpo"]["logo"]["loss"] == "dpo"
    assert {overrides["logo-m1"]["logo"]["num_negatives"], default["train"]["logo"]["num_negatives"]} == {1, 3}
    assert {overrides["logo-lambda0"]["logo"]["sft_weight"], default["train"]["logo"]["sft_weight"]} == {0.0, 0.1}
    assert plan["labels-best-judge"].labels == "best_judge"
    assert default["ablations"]["compare_with"] == "sft-logo"


def test_a_run_equal_to_the_main_run_is_its_model_not_a_job(default):
    plan = plan_of(default)
    assert plan["sft-logo"].trained == () and plan["sft-logo"].model == "results/models/logo"
    assert plan["sft-only"].trained == () and plan["sft-only"].model == "results/models/sft"
    for name in ("sft-dpo", "logo-m1", "logo-lambda0"):  # Stage I is the main run's; Stage II their own
        (logo,) = plan[name].trained
        assert (logo.stage, logo.init, logo.out) == (
            "logo",
            "results/models/sft",
            f"results/ablations/models/{name}/logo",
        )
        assert logo.data == "results/splits/pref.jsonl"
    (logo,) = plan["logo-from-base"].trained  # no Stage I: from the judge base (the short judge)
    assert logo.init == "results/models/base"
    sft, logo = plan["labels-best-judge"].trained
    assert sft.data == "results/ablations/labels/best_judge/splits/sft.jsonl" and sft.init == "results/models/base"
    assert logo.init == sft.out and logo.data.endswith("best_judge/splits/pref.jsonl")


def test_the_main_models_are_judged_once(default):
    plan = plan_of(default)
    assert {reused_bench_model(default, plan["sft-logo"], s) for s in default["ablations"]["sets"]} == {
        "logo-pointwise"
    }
    assert reused_bench_model(default, plan["sft-only"], "heldout") == "sft-pointwise"
    jobs = bench_jobs(default)
    trained = [n for n, v in plan.items() if v.trained]
    assert sorted(jobs) == sorted((s, n) for s in default["ablations"]["sets"] for n in trained)


def test_a_main_model_judged_another_way_gets_its_own_bench_job(tmp_path, default):
    cfg = write(tmp_path, lambda c: c["ablations"]["judge"].update(format="pairwise"))
    plan = plan_of(cfg)
    assert reused_bench_model(cfg, plan["sft-logo"], "heldout") is None
    assert ("heldout", "sft-logo") in bench_jobs(cfg)


def test_variant_config_overrides_only_what_it_names(default):
    cfg = variant_config(default, "logo-m1")
    assert cfg["train"]["logo"] == {**default["train"]["logo"], "num_negatives": 1}
    assert cfg["train"]["sft"] == default["train"]["sft"] and cfg["train"]["common"] == default["train"]["common"]
    assert default["train"]["logo"]["num_negatives"] == 3  # the loaded config is left alone
    with pytest.raises(ConfigError, match="no ablation variant 'nope'"):
        variant_config(default, "nope")


def test_overrides_get_no_defaults(tmp_path):
    """A variant's `train` holds only the keys it gives: the schema's defaults would silently override the
    main run's settings."""
    cfg = write(tmp_path, lambda c: None)
    assert cfg["ablations"]["variants"]["logo-m1"]["train"] == {"logo": {"num_negatives": 1}}
    assert cfg["ablations"]["variants"]["logo-m1"]["stages"] == ["sft", "logo"]  # a variant's own defaults


# ---------------------------------------------------------------- errors before any job


def write(tmp_path, edit) -> dict:
    cfg = yaml.safe_load(DEFAULT_CONFIG.read_text())
    edit(cfg)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    loaded = load_config(path)
    ablation_plan(loaded)
    return loaded


def variant(name):
    return lambda edit: lambda c: edit(c["ablations"]["variants"][name])


BAD = {
    "unknown key": (
        variant("logo-m1")(lambda v: v["train"]["logo"].update(negatives=2)),
        r"key 'ablations\.variants\.logo-m1\.train\.logo'.*'negatives' was unexpected",
    ),
    "schema-rejected value": (
        variant("logo-m1")(lambda v: v["train"]["logo"].update(num_negatives=0)),
        r"key 'ablations\.variants\.logo-m1\.train\.logo\.num_negatives': 0 is less than the minimum of 1",
    ),
    "unknown loss": (
        variant("sft-dpo")(lambda v: v["train"]["logo"].update(loss="ipo")),
        r"key 'ablations\.variants\.sft-dpo\.train\.logo\.loss': 'ipo' is not one of",
    ),
    "unknown stage": (
        variant("sft-only")(lambda v: v.update(stages=["sft", "disrm"])),
        r"key 'ablations\.variants\.sft-only\.stages\.1'",
    ),
    "stages out of order": (
        variant("sft-only")(lambda v: v.update(stages=["logo", "sft"])),
        r"key 'ablations\.variants\.sft-only\.stages'.*out of order",
    ),
    "override of a stage not trained": (
        variant("logo-from-base")(lambda v: v.update(train={"sft": {"lr": 0.1}})),
        r"key 'ablations\.variants\.logo-from-base\.train\.sft': overrides a stage this variant does not train",
    ),
    "a bench model's name": (
        lambda c: c["ablations"]["variants"].update({"logo-pointwise": {}}),
        r"key 'ablations\.variants\.logo-pointwise': 'logo-pointwise' is already a bench model",
    ),
    "unknown set": (
        lambda c: c["ablations"].update(sets=["heldout", "nope"]),
        r"key 'ablations\.sets\.1': 'nope' is not a bench set",
    ),
    "unknown comparison": (
        lambda c: c["ablations"].update(compare_with="main"),
        r"key 'ablations\.compare_with': 'main' is not a variant",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_variant_is_refused_naming_the_file_and_the_key(tmp_path, case):
    edit, message = BAD[case]
    with pytest.raises(ConfigError, match=message) as err:
        write(tmp_path, edit)
    assert str(err.value).startswith(f"{tmp_path / 'variant.yaml'}: ")


def duplicated_variant_text() -> str:
    text = DEFAULT_CONFIG.read_text()
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("logo-m1:"))
    return text.replace(line, line + "\n" + line.replace("num_negatives: 1", "num_negatives: 2"), 1)


def test_two_variants_of_one_name_are_an_error(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(duplicated_variant_text())
    with pytest.raises(
        ConfigError, match=r"dup\.yaml: key 'ablations\.variants\.logo-m1' given twice \(lines \d+ and \d+\)"
    ):
        load_config(path)


# ---------------------------------------------------------------- vote relabel


def vote_record(k: int, judge_label, vote_kept: bool) -> dict:
    gold = [0, 1]
    return {
        "id": f"LongQA-{k:04d}-0",
        "source_id": f"LongQA-{k:04d}",
        "gold": gold,
        "kept": vote_kept,
        "majority": gold if vote_kept else None,
        "judges": {"best": {"label": judge_label, "consistent": judge_label is not None}, "other": {"label": None}},
        "rationales": {},
        "rationale_judge": None,
        "orders": [[0, 1], [1, 0]],
        "margin": 0.5,
    }


def votes_file(tmp_path, votes) -> Path:
    path = tmp_path / "votes.jsonl"
    path.write_text("".join(json.dumps(v) + "\n" for v in votes))
    return path


AUDIT = {"fair": {"same_items": {"best_judge": "best"}}}


def test_relabel_keeps_as_many_training_items_with_the_judges_labels(tmp_path, default):
    from longrm.seeding import assign_sources
    from longrm.vote.relabel import relabel

    votes = [vote_record(k, [[0, 1], [1, 0], None][k % 3], k % 2 == 0) for k in range(60)]
    records, report = relabel(default, str(votes_file(tmp_path, votes)), AUDIT, "audit.json")
    held = assign_sources([v["source_id"] for v in votes], default["vote"]["splits"]["bench_share"], default["seed"])
    train = [v for v in votes if v["source_id"] not in held]
    by_id = {r["id"]: r for r in records}
    kept = [by_id[v["id"]] for v in train if by_id[v["id"]]["kept"]]
    assert len(kept) == sum(v["kept"] for v in train) == report["vote_kept"] == report["kept"]
    assert all(r["majority"] == r["judges"]["best"]["label"] and r["agreeing"] == ["best"] for r in kept)
    assert all(by_id[v["id"]] == v for v in votes if v["source_id"] in held)  # the benchmark's votes as they were
    wrong = sum(r["majority"] != r["gold"] for r in kept)
    assert report["label_accuracy_judge"] == pytest.approx(1 - wrong / len(kept))
    assert report["label_accuracy_vote"] == 1.0


def test_relabel_takes_every_labelled_item_when_the_judge_labels_fewer(tmp_path, default):
    from longrm.vote.relabel import relabel

    votes = [vote_record(k, [0, 1] if k % 10 == 0 else None, True) for k in range(60)]
    records, report = relabel(default, str(votes_file(tmp_path, votes)), AUDIT, "audit.json")
    assert report["kept"] == report["judge_labelled"] < report["vote_kept"]


def test_relabel_chooses_the_same_items_whatever_the_file_order(tmp_path, default):
    from longrm.vote.relabel import relabel

    votes = [vote_record(k, [0, 1] if k % 4 else [1, 0], k % 3 == 0) for k in range(80)]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, _ = relabel(default, str(votes_file(tmp_path / "a", votes)), AUDIT, "audit.json")
    second, _ = relabel(default, str(votes_file(tmp_path / "b", votes[::-1])), AUDIT, "audit.json")
    assert sorted(r["id"] for r in first if r["kept"]) == sorted(r["id"] for r in second if r["kept"])


def test_relabel_needs_the_audits_best_judge(tmp_path, default):
    from longrm.errors import InputError
    from longrm.vote.relabel import relabel

    path = str(votes_file(tmp_path, [vote_record(0, [0, 1], True)]))
    with pytest.raises(InputError, match="best_judge"):
        relabel(default, path, {"fair": {}}, "audit.json")
    with pytest.raises(InputError, match="without judge 'nobody'"):
        relabel(default, path, {"fair": {"same_items": {"best_judge": "nobody"}}}, "audit.json")
