"""Two CPU ranks (gloo, DeepSpeed's CPU accelerator), as `make test-distributed` runs them:
(i) ZeRO-2 + Ulysses SP=2: SFT and LOGO loss and gradients equal to one plain process;
(ii) ZeRO-2 data parallel on 2 ranks: the weights of one process with the same global batch;
(iii) a 2-rank run SIGKILLed after step k and rerun with --auto-resume: the uninterrupted run's weights;
(iv) its checkpoint folder holds every rank's ZeRO partition and RNG state.
Each rank is a real process started like DeepSpeed's launcher does (RANK, LOCAL_RANK, WORLD_SIZE, ...).
"""

import json
import subprocess
import sys

import deepspeed  # noqa: F401  (pinned in the dev extra: a broken install fails here, never skips)
import pytest
import torch
import yaml

from longrm.config import with_defaults
from longrm.data.io import read_json, read_jsonl, write_jsonl
from longrm.train.timing import read_run_facts
from tests.distributed.ranks import REPO, rank_env, run_ranks, tail
from tests.helpers import TEXTS, config_in
from tests.test_train import pref_records, sft_records

pytestmark = [pytest.mark.distributed, pytest.mark.slow]


@pytest.fixture(scope="module")
def shm_op():
    """DeepSpeed's CPU comm op, JIT-built once (minutes the first time on a machine, cached after) in one
    process before two ranks would wait on its build lock."""
    env = rank_env(0, 1, 0)
    code = "from deepspeed.comm.torch import build_shm_op; build_shm_op()"
    subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, check=True, capture_output=True, timeout=900)


@pytest.fixture(scope="module")
def gqa_ckpt(tmp_path_factory):
    """4 attention heads, 2 KV heads: SP=2 divides both."""
    from longrm.inputs.tiny import build_tiny_checkpoint

    return build_tiny_checkpoint(
        tmp_path_factory.mktemp("gqa"),
        TEXTS,
        vocab_size=400,
        seed=0,
        hidden_size=32,
        num_layers=2,
        num_heads=4,
        num_kv_heads=2,
        intermediate_size=64,
        max_position_embeddings=4096,
    )


def _zero2(tmp_path):
    path = tmp_path / "zero2.json"
    path.write_text(json.dumps({"zero_optimization": {"stage": 2}, "bf16": {"enabled": False}}))
    return path


def _load(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def test_ulysses_sp2_zero2_gives_one_process_loss_and_gradients(shm_op, gqa_ckpt, tmp_path):
    write_jsonl(tmp_path / "sft.jsonl", sft_records(2))
    write_jsonl(tmp_path / "pref.jsonl", pref_records(2, m=2))
    args = [str(gqa_ckpt), str(tmp_path / "sft.jsonl"), str(tmp_path / "pref.jsonl")]
    worker = "tests/distributed/step_worker.py"
    one = subprocess.run(
        [sys.executable, worker, *args, "none", "1", str(tmp_path / "one")],
        env=rank_env(0, 1, 0),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    codes = run_ranks([worker, *args, str(_zero2(tmp_path)), "2", str(tmp_path / "sp2")], 2, tmp_path / "logs")
    assert codes == [0, 0], tail(tmp_path / "logs")
    for stage in ("sft", "logo"):
        a, b = read_json(tmp_path / "one" / f"{stage}.json"), read_json(tmp_path / "sp2" / f"{stage}.json")
        assert b["tokens"] == a["tokens"] > 0
        assert b["loss"] == pytest.approx(a["loss"], abs=1e-6, rel=1e-6)
        ga, gb = _load(tmp_path / "one" / f"{stage}.safetensors"), _load(tmp_path / "sp2" / f"{stage}.safetensors")
        assert ga.keys() == gb.keys()
        for k in ga:
            assert ga[k].abs().max() > 0 or k.endswith("bias"), (stage, k)
            assert torch.allclose(ga[k], gb[k], atol=1e-7, rtol=1e-5), (stage, k, (ga[k] - gb[k]).abs().max())


def _train_cfg(tmp_path, ds_path):
    cfg_path = config_in(tmp_path)
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["train"]["common"].update(checkpoint_every=1, log_every=1, max_length=256, bf16=False, deepspeed=str(ds_path))
    cfg["train"]["logo"].update(batch_size=2, epochs=1)
    cfg_path.write_text(yaml.safe_dump(cfg))
    return cfg_path, cfg


def _cli(cfg_path, data, init, out, ckpts):
    return [
        "-m",
        "longrm.cli",
        "train",
        "logo",
        "--config",
        str(cfg_path),
        "--data",
        str(data),
        "--init",
        str(init),
        "--out",
        str(out),
        "--checkpoints",
        str(ckpts),
        "--auto-resume",
    ]


def test_two_rank_data_parallel_and_kill_resume(shm_op, gqa_ckpt, tmp_path):
    from longrm.train.loop import train

    data = tmp_path / "pref.jsonl"
    write_jsonl(data, pref_records(8, m=2))  # 4 steps of 2 examples: one per rank
    cfg_path, cfg = _train_cfg(tmp_path, _zero2(tmp_path))
    # (ii) one plain torch process, the same global batch of 2
    one_cfg = with_defaults(json.loads(json.dumps(cfg)))  # filled as load_config fills it
    one_cfg["train"]["common"]["deepspeed"] = None
    train("logo", one_cfg, data, gqa_ckpt, tmp_path / "one")
    full = tmp_path / "full"
    codes = run_ranks(_cli(cfg_path, data, gqa_ckpt, full, tmp_path / "ck-full"), 2, tmp_path / "log-full")
    assert codes == [0, 0], tail(tmp_path / "log-full")
    a, b = _load(tmp_path / "one" / "model.safetensors"), _load(full / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5, rtol=0), k
    assert read_json(full / "train_summary.json")["ranks"] == 2
    assert (full / "provenance.json").is_file()  # rank 0 recorded it; the model folder holds no checkpoints
    assert not (full / "checkpoints").exists()

    # (iii) SIGKILL both ranks right after step 2, rerun the same command
    cut, ckpts = tmp_path / "cut", tmp_path / "ck-cut"
    codes = run_ranks(
        _cli(cfg_path, data, gqa_ckpt, cut, ckpts), 2, tmp_path / "log-cut", extra_env={"LONGRM_TRAIN_KILL_AFTER": "2"}
    )
    assert codes == [-9, -9], tail(tmp_path / "log-cut")
    assert not cut.exists()  # no partial model folder
    assert (ckpts / "latest").read_text().strip() == "step-2"
    # (iv) every rank's partition and RNG state in the one checkpoint folder
    engine_files = sorted(p.name for p in (ckpts / "step-2" / "engine" / "state").iterdir())
    assert [f for f in engine_files if f.startswith("zero_pp_rank_")] == [
        "zero_pp_rank_0_mp_rank_00_optim_states.pt",
        "zero_pp_rank_1_mp_rank_00_optim_states.pt",
    ]
    assert sorted(p.name for p in (ckpts / "step-2" / "rng").iterdir()) == ["rank-0.safetensors", "rank-1.safetensors"]
    codes = run_ranks(_cli(cfg_path, data, gqa_ckpt, cut, ckpts), 2, tmp_path / "log-resume")
    assert codes == [0, 0], tail(tmp_path / "log-resume")
    summary = read_json(cut / "train_summary.json")
    facts = read_run_facts((tmp_path / "log-resume" / "rank-0.log").read_text())  # the run's facts: rank 0's log
    assert facts["resumed_from"] == 2 and summary["steps"] == 4
    c, d = _load(full / "model.safetensors"), _load(cut / "model.safetensors")
    for k in c:
        assert torch.equal(c[k], d[k]), k
    assert [r["step"] for r in read_jsonl(cut / "train_log.jsonl")] == [1, 2, 3, 4]


SHM_WORKER = """
import json, sys
import torch, deepspeed.comm as dscomm
from longrm.train import parallel
parallel.init_distributed(torch.device("cpu"))
x = torch.ones(4) * (dscomm.get_rank() + 1)
dscomm.inference_all_reduce(x)  # DeepSpeed's shm all-reduce, through the buffers whose names are gone
print(json.dumps({"named": parallel.shm_buffer_path().exists(), "sum": x.tolist()}))
"""


def test_ranks_leave_no_shared_memory_behind(shm_op, tmp_path):
    """DeepSpeed's CPU all-reduce maps one /dev/shm file a rank and never unlinks it; ours unlinks each
    once every rank holds its mapping, and the all-reduce still works through the mappings."""
    from pathlib import Path

    before = set(Path("/dev/shm").glob("deepspeed_allreduce_buffer_*"))
    codes = run_ranks(["-c", SHM_WORKER], 2, tmp_path / "logs")
    assert codes == [0, 0], tail(tmp_path / "logs")
    for rank in range(2):
        out = json.loads((tmp_path / "logs" / f"rank-{rank}.log").read_text().strip().splitlines()[-1])
        assert out == {"named": False, "sum": [3.0] * 4}
    assert set(Path("/dev/shm").glob("deepspeed_allreduce_buffer_*")) <= before
