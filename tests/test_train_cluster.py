"""The cluster path's guards, in one process: bad requests fail before any model loads and lose nothing;
a killed save never becomes `latest`; a corrupt checkpoint is named; auto-resume; ranks, threads; the
hash cache. (Two real ranks: tests/test_distributed.py.)"""

import json
import os

import pytest

from longrm.data.io import sha256_file, write_jsonl
from longrm.errors import ConfigError, InputError
from tests.test_train import ckpt, pref_records, small_cfg  # noqa: F401  (ckpt is a fixture)


def _untouched(tmp_path):
    """An earlier run's checkpoints, which a refused run must keep."""
    root = tmp_path / "out.checkpoints" / "step-9"
    root.mkdir(parents=True)
    (root / "trainer_state.json").write_text('{"step": 9}')
    return root


@pytest.mark.parametrize(
    "common, match",
    [
        (
            {"sequence_parallel": 2, "deepspeed": "workflow/deepspeed/zero2.json"},
            "does not divide the model's 1 KV heads",
        ),
        ({"sequence_parallel": 2}, "set train.common.deepspeed"),
        ({"deepspeed": "no/such/zero9.json"}, "no/such/zero9.json not found"),
    ],
)
def test_bad_cluster_settings_fail_before_any_work_and_keep_old_checkpoints(ckpt, tmp_path, common, match):  # noqa: F811
    from longrm.train.loop import train

    kept = _untouched(tmp_path)
    # data that does not exist: the config error must come first (before reading data or loading a model)
    with pytest.raises(ConfigError, match=match):
        train("logo", small_cfg(**common), tmp_path / "missing.jsonl", ckpt, tmp_path / "out", resume="auto")
    assert (kept / "trainer_state.json").is_file() and not (tmp_path / "out").exists()


def test_sequence_parallel_degree_must_divide_heads_and_ranks(ckpt, tmp_path):  # noqa: F811
    from longrm.train.parallel import check_sequence_parallel, model_heads

    assert model_heads(ckpt) == (2, 1)
    check_sequence_parallel(1, ckpt, 1, None, "sdpa")
    with pytest.raises(ConfigError, match="does not divide the model's 1 KV heads"):
        check_sequence_parallel(2, ckpt, 2, {"zero_optimization": {"stage": 2}}, "sdpa")
    cfg = json.loads((ckpt / "config.json").read_text())
    gqa = tmp_path / "gqa"
    gqa.mkdir()
    (gqa / "config.json").write_text(json.dumps({**cfg, "num_attention_heads": 32, "num_key_value_heads": 8}))
    zero3 = {"zero_optimization": {"stage": 3}}
    check_sequence_parallel(8, gqa, 16, zero3, "flash_attention_2")
    with pytest.raises(ConfigError, match="sequence_parallel=16 does not divide the model's 8 KV heads"):
        check_sequence_parallel(16, gqa, 16, zero3, "flash_attention_2")
    with pytest.raises(ConfigError, match="does not divide the number of ranks"):
        check_sequence_parallel(4, gqa, 6, zero3, "sdpa")
    with pytest.raises(ConfigError, match="eager"):
        check_sequence_parallel(2, gqa, 2, zero3, "eager")


def test_ranks_threads_and_device_from_the_launcher_environment(monkeypatch):
    import torch

    from longrm.train.parallel import Ranks, place_on_device, ranks_from_env, threads_per_rank

    ranks = ranks_from_env({"RANK": "5", "LOCAL_RANK": "1", "WORLD_SIZE": "8", "LOCAL_SIZE": "4"})
    assert ranks == Ranks(rank=5, local_rank=1, world=8, local_world=4) and not ranks.main
    assert ranks_from_env({}) == Ranks() and Ranks().main
    assert ranks_from_env({"WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2"}).local_world == 2
    monkeypatch.delenv("LONGRM_THREADS", raising=False)
    assert threads_per_rank(ranks, cores=32) == 8
    assert threads_per_rank(Ranks(world=8, local_world=8), cores=4) == 1
    # a Snakemake job's OMP_NUM_THREADS (the rule's threads) bounds the cores, not the whole machine
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    machine = threads_per_rank(Ranks())
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads_per_rank(Ranks()) == 1 and threads_per_rank(Ranks(), cores=32) == 32
    monkeypatch.setenv("OMP_NUM_THREADS", "")
    assert threads_per_rank(Ranks()) == machine
    monkeypatch.setenv("LONGRM_THREADS", "3")
    assert threads_per_rank(ranks, cores=32) == 3
    if not torch.cuda.is_available():
        assert place_on_device(ranks).type == "cpu"


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def test_a_killed_save_never_becomes_latest_and_auto_resume_continues(ckpt, tmp_path, monkeypatch):  # noqa: F811
    import torch

    from longrm.train import checkpoint as ck
    from longrm.train.loop import train

    data = tmp_path / "pref.jsonl"
    write_jsonl(data, pref_records(10))
    cfg = small_cfg()
    train("logo", cfg, data, ckpt, tmp_path / "full")
    real = ck.write_json

    def dies_at_step_4(path, obj):
        if obj.get("step") == 4:
            raise KeyboardInterrupt("killed while saving step 4")
        return real(path, obj)

    monkeypatch.setattr(ck, "write_json", dies_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        train("logo", cfg, data, ckpt, tmp_path / "cut")
    monkeypatch.setattr(ck, "write_json", real)
    root = tmp_path / "cut.checkpoints"
    assert (root / ".staging-step-4").is_dir()  # the partial save is left where nothing reads it
    assert (root / "latest").read_text().strip() == "step-2" and ck.latest(root) == root / "step-2"
    assert not (tmp_path / "cut").exists()
    resumed = train("logo", cfg, data, ckpt, tmp_path / "cut", resume="auto")
    assert resumed["resumed_from"] == 2 and resumed["steps"] == 5
    assert not (root / ".staging-step-4").exists()
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6, rtol=0), k


def test_latest_pointing_at_a_missing_folder_falls_back_to_the_newest_complete(tmp_path):
    from longrm.train.checkpoint import latest

    for n in (2, 4):
        (tmp_path / f"step-{n}").mkdir()
        (tmp_path / f"step-{n}" / "trainer_state.json").write_text(json.dumps({"step": n}))
    (tmp_path / "step-6").mkdir()  # no trainer_state: incomplete
    (tmp_path / "latest").write_text("step-6\n")
    assert latest(tmp_path) == tmp_path / "step-4"
    (tmp_path / "latest").write_text("step-2\n")
    assert latest(tmp_path) == tmp_path / "step-2"
    assert latest(tmp_path / "nothing") is None


def test_a_corrupt_checkpoint_is_named_before_the_model_loads(ckpt, tmp_path):  # noqa: F811
    from longrm.train.loop import Interrupted, train

    data = tmp_path / "pref.jsonl"
    write_jsonl(data, pref_records(10))
    with pytest.raises(Interrupted):
        train("logo", small_cfg(), data, ckpt, tmp_path / "o", interrupt_after=3)
    weights = tmp_path / "o.checkpoints" / "step-2" / "model.safetensors"
    size = weights.stat().st_size
    with open(weights, "r+b") as f:
        f.truncate(size // 2)
    for mode in ("require", "auto"):
        with pytest.raises(InputError, match="model.safetensors"):
            train("logo", small_cfg(), data, ckpt, tmp_path / "o", resume=mode)
    assert weights.stat().st_size == size // 2  # nothing deleted: the user decides
    (tmp_path / "o.checkpoints" / "step-2" / "trainer_state.json").write_text("{not json")
    with pytest.raises(InputError, match="trainer_state.json.*older checkpoint"):
        train("logo", small_cfg(), data, ckpt, tmp_path / "o", resume="auto")


def test_auto_resume_starts_over_on_other_data_where_resume_refuses(ckpt, tmp_path):  # noqa: F811
    from longrm.train.loop import Interrupted, train

    data = tmp_path / "pref.jsonl"
    write_jsonl(data, pref_records(6))
    with pytest.raises(Interrupted):
        train("logo", small_cfg(), data, ckpt, tmp_path / "o", interrupt_after=2)
    write_jsonl(data, pref_records(7))
    with pytest.raises(ConfigError, match="different data"):
        train("logo", small_cfg(), data, ckpt, tmp_path / "o", resume="require")
    fresh = train("logo", small_cfg(), data, ckpt, tmp_path / "o", resume="auto")
    assert fresh["resumed_from"] is None and fresh["steps"] == 4


def test_large_files_are_hashed_once_until_they_change(tmp_path, monkeypatch):
    from longrm import provenance

    monkeypatch.setenv("LONGRM_HASH_CACHE", str(tmp_path / "cache.json"))
    monkeypatch.setattr(provenance, "_hash_cache", None)
    calls = []
    monkeypatch.setattr(provenance, "sha256_file", lambda p: calls.append(p) or sha256_file(p))
    big = tmp_path / "model.safetensors"
    big.write_bytes(b"x" * 4096)
    first = provenance.file_sha256(big, min_bytes=1024)
    assert first == sha256_file(big) and len(calls) == 1
    monkeypatch.setattr(provenance, "_hash_cache", None)  # a new process reads the cache file
    assert provenance.file_sha256(big, min_bytes=1024) == first and len(calls) == 1
    big.write_bytes(b"y" * 4096)
    os.utime(big, ns=(1, 1))
    assert provenance.file_sha256(big, min_bytes=1024) == sha256_file(big) != first and len(calls) == 2
    small = tmp_path / "config.json"
    small.write_text("{}")
    provenance.file_sha256(small, min_bytes=1024)
    provenance.file_sha256(small, min_bytes=1024)
    assert len(calls) == 4  # small files are simply hashed


def test_cli_auto_resume_and_checkpoints_flags(ckpt, tmp_path, capsys):  # noqa: F811
    import yaml

    from longrm.cli import main
    from longrm.train.timing import read_run_facts
    from tests.helpers import config_in

    write_jsonl(tmp_path / "pref.jsonl", pref_records(4, m=2))
    cfg_path = config_in(tmp_path)
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["train"]["common"].update(max_length=256, bf16=False, checkpoint_every=1)
    cfg["train"]["logo"].update(batch_size=2)
    cfg_path.write_text(yaml.safe_dump(cfg))
    argv = [
        "train",
        "logo",
        "--config",
        str(cfg_path),
        "--data",
        str(tmp_path / "pref.jsonl"),
        "--init",
        str(ckpt),
        "--out",
        str(tmp_path / "models" / "logo"),
        "--checkpoints",
        str(tmp_path / "checkpoints" / "logo"),
        "--auto-resume",
    ]
    assert main(argv) == 0
    assert (tmp_path / "checkpoints" / "logo" / "latest").read_text().strip() == "step-2"
    prov = json.loads((tmp_path / "models" / "logo" / "provenance.json").read_text())
    assert {i["arg"] for i in prov["inputs"]} == {"data", "init"}
    # a rerun of a finished stage (the rule reran: something changed) trains again, not "resumes" at the end
    capsys.readouterr()
    assert main(argv) == 0
    summary = json.loads((tmp_path / "models" / "logo" / "train_summary.json").read_text())
    facts = read_run_facts(capsys.readouterr().err)  # the run's facts: its log (stderr), not the model folder
    assert facts["resumed_from"] is None and summary["steps"] == 2 and facts["wall_s"] > 0
