"""GPU jobs of the paper DAG as Slurm gets them (stub sbatch records each submission): every GPU rule asks
for one node (--nodes=1) and the GPUs its job needs (training: cluster.train_gpus; vote and bench jobs:
their model's tensor_parallel_size on vLLM, a discriminative RM one); the training launcher starts ranks on
the GPUs Slurm gave the job; a config asking for more GPUs than a node has fails when the DAG is planned."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.test_workflow import REPO, SNAKEMAKE, STUBS, run_until_submitted, snakemake

pytestmark = pytest.mark.slow


def paper_in(tmp_path: Path) -> tuple[Path, Path, dict]:
    """config/paper.yaml with its results under tmp_path/results; (config file, results, config)."""
    results = tmp_path / "results"
    cfg = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    cfg["results_dir"] = str(results)
    for m in cfg["bench"]["models"]:
        m["path"] = m["path"].replace("results/paper", str(results))
    path = tmp_path / "paper.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path, results, cfg


def touch(results: Path, *names: str) -> None:
    for name in names:
        p = results / name
        if name.endswith("/"):
            p.mkdir(parents=True, exist_ok=True)
            (p / "config.json").write_text("{}")
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("{}\n")


def submit(tmp_path: Path, config: Path, targets: list[str], want: int) -> dict[str, str]:
    """Run the Slurm profile on `targets` until `want` jobs were submitted; job name -> its sbatch line."""
    log = tmp_path / f"sbatch-{want}.log"
    env = {
        **os.environ,
        "PATH": f"{STUBS}:{Path(sys.executable).parent}:{os.environ['PATH']}",
        "SLURM_STUB_LOG": str(log),
        "SLURM_STUB_ACCOUNTS": "your_account",
    }
    rules = ["train_sft", "train_logo", "train_disrm", "vote_judge", "bench_run"]
    cmd = [SNAKEMAKE, "--nolock", "--profile", "workflow/profiles/slurm", "--workflow-profile"]
    cmd += ["workflow/profiles/default", "--configfile", str(config), "--latency-wait", "1"]
    cmd += ["--allowed-rules", *rules, "--jobs", "50", "--", *targets]
    text = run_until_submitted(cmd, REPO, env, log, want=want, timeout=90)
    lines = [x for x in text.splitlines() if x.startswith("sbatch ")]
    assert len(lines) == want, text
    return {re.search(r"--comment (\S+)", x).group(1): x for x in lines}


def gpus_and_nodes(line: str) -> tuple[int, int]:
    return int(re.search(r"--gpus=(\d+)", line).group(1)), int(re.search(r"--nodes=(\d+)", line).group(1))


def test_every_gpu_job_of_the_paper_dag_asks_one_node_and_its_gpus(tmp_path):
    config, results, cfg = paper_in(tmp_path)
    train, tp = cfg["cluster"]["train_gpus"], cfg["bench"]["tensor_parallel_size"]
    judges_tp = {j["name"]: j["tensor_parallel_size"] for j in cfg["vote"]["judges"] if j.get("model")}
    assert train == 8 and tp == 4 and set(judges_tp.values()) == {4}
    # 1. the first training jobs
    touch(results, "splits/sft.jsonl", "splits/disrm.jsonl")
    first = submit(tmp_path, config, [str(results / "models" / s) for s in ("sft", "disrm")], want=2)
    # 2. what runs once they are done (in a results folder of its own: Snakemake marks the outputs of the
    # jobs left pending above incomplete): LOGO, the vote's LM judges, the bench's models of each kind
    (tmp_path / "b").mkdir()
    config, results, _ = paper_in(tmp_path / "b")
    touch(results, "splits/sft.jsonl", "splits/disrm.jsonl", "splits/pref.jsonl", "splits/bench.jsonl")
    touch(results, "synth/items.jsonl", "models/sft/", "models/disrm/")
    bench = ["base", "sft", "disrm"]  # vLLM with bench.tensor_parallel_size (base, sft), a DisRM
    targets = [str(results / "models" / "logo")]
    targets += [str(results / "vote" / "judges" / f"{j}.jsonl") for j in judges_tp]
    targets += [str(results / "bench" / "heldout" / m / "records.jsonl") for m in bench]
    jobs = {**first, **submit(tmp_path / "b", config, targets, want=7)}
    want = {"rule_train_sft": train, "rule_train_disrm": train, "rule_train_logo": train}
    want |= {f"rule_vote_judge_wildcards_{j}": n for j, n in judges_tp.items()}
    want |= {"rule_bench_run_wildcards_heldout_base": tp, "rule_bench_run_wildcards_heldout_sft": tp}
    want |= {"rule_bench_run_wildcards_heldout_disrm": 1}
    assert sorted(jobs) == sorted(want)
    for name, line in jobs.items():
        assert gpus_and_nodes(line) == (want[name], 1), (name, line)
        assert "-p gpu" in line and "--cpus-per-gpu=8" in line, (name, line)


def test_the_training_launcher_takes_the_gpus_slurm_gave(tmp_path):
    """The paper's training command, run with a stand-in `deepspeed`: --include names exactly the job's
    GPUs (CUDA_VISIBLE_DEVICES), never --num_gpus; a job given no GPUs stops with a message."""
    out = snakemake("-n", "-p", "--configfile", "config/paper.yaml", "--profile", "workflow/profiles/slurm")
    assert out.returncode == 0, out.stderr[-2000:]
    shell = re.search(
        r"^Shell command: (bash workflow/scripts/deepspeed_launch\.sh train sft .*?) 2> ", out.stdout + out.stderr, re.M
    ).group(1)
    assert "--num_gpus" not in shell
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "deepspeed").write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    (stub / "deepspeed").chmod(0o755)
    env = {**os.environ, "PATH": f"{stub}:{os.environ['PATH']}", "CUDA_VISIBLE_DEVICES": "2,5", "SLURM_JOB_ID": "7"}
    args = subprocess.run(
        ["bash", "-c", shell], env=env, cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert args[:4] == ["--include", "localhost:2,5", "--master_port", "29507"]
    assert args[4:9] == ["--no_local_rank", "--module", "longrm.cli", "train", "sft"]
    env.pop("CUDA_VISIBLE_DEVICES")
    none = subprocess.run(["bash", "-c", shell], env=env, cwd=REPO, capture_output=True, text=True)
    assert none.returncode != 0 and "this job was given no GPUs" in none.stderr


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda c: c["vote"]["judges"][0].update(tensor_parallel_size=16), "vote_judge/qwen3-8b needs 16 GPUs, but"),
        (lambda c: c["bench"].update(tensor_parallel_size=12), "bench_run/base needs 12 GPUs, but"),
        (lambda c: c["cluster"].update(train_gpus=16), "needs 16 GPUs, but cluster.gpus_per_node is 8"),
        (lambda c: c["cluster"].update(train_gpus=4), "sequence_parallel=8 does not divide cluster.train_gpus=4"),
    ],
    ids=["judge", "bench", "train", "sp"],
)
def test_more_gpus_than_a_node_has_fails_at_plan_time(tmp_path, edit, match):
    config, _, cfg = paper_in(tmp_path)
    edit(cfg)
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    out = snakemake("-n", "--configfile", str(config), "--profile", "workflow/profiles/slurm", timeout=120)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "ConfigError" in text and match in text, text[-2000:]
