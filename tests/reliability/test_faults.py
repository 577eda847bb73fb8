"""Faults injected on purpose: SIGKILL mid-training and mid-evaluation, an interrupted Snakemake job, and
damaged checkpoints. Every subprocess runs in its own process group, bounded in time, and is killed as a
group."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
import torch

from longrm.data.io import read_jsonl, write_jsonl
from longrm.errors import InputError
from longrm.train.timing import read_run_facts
from tests.helpers import tiny_checkpoint
from tests.reliability.conftest import cli_cmd, finish, kill_group, run_bounded, start, write_config
from tests.test_bench_score import official_line


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))


def wait_for(predicate, proc, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"process ended (rc {proc.returncode}) before {what}:\n{err[-2000:]}")
        if time.monotonic() > deadline:
            kill_group(proc)
            proc.communicate()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def sft_records(n):
    return [
        {
            "id": f"s{i}",
            "prompt": f"Context: the code of door {i} is {4800 + i}. " * 4 + "Question: the code?",
            "response": f"[Analysis] The code is {4800 + i}. [[A]]",
        }
        for i in range(n)
    ]


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def train_config(tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "c.yaml",
        tmp_path,
        **{
            "train.common.checkpoint_every": 4,
            "train.common.log_every": 1,
            "train.common.max_length": 256,
            "train.sft.batch_size": 1,
            "train.sft.epochs": 1,
            "train.sft.max_steps": 40,
        },
    )


def test_training_killed_mid_step_resumes_to_the_same_weights(ckpt, tmp_path, ledger):
    """SIGKILL after the first checkpoint exists; `--resume` ends on the uninterrupted run's weights.
    Seen failing on a broken copy: checkpoint.load skipping load_optimizer_tensors -> resumed weights
    differed from the uninterrupted run's."""
    cfg = train_config(tmp_path)
    data = tmp_path / "sft.jsonl"
    write_jsonl(data, sft_records(40))
    base = ["train", "sft", "--config", cfg, "--data", data, "--init", ckpt]

    proc = start(cli_cmd(*base, "--out", tmp_path / "cut"))
    ckpts = tmp_path / "cut.checkpoints"  # beside the output folder (docs/formats/train.md)
    wait_for(
        lambda: any((p / "trainer_state.json").exists() for p in ckpts.glob("step-*")),
        proc,
        120,
        "the first checkpoint",
    )
    kill_group(proc, signal.SIGKILL)
    rc, _, _ = finish(proc, 30)
    assert rc == -signal.SIGKILL
    assert not (tmp_path / "cut" / "train_summary.json").exists(), "the run finished before the kill"
    killed_at = max(int(p.name.split("-")[1]) for p in ckpts.glob("step-*"))

    rc, _, err = run_bounded(cli_cmd(*base, "--out", tmp_path / "cut", "--resume"), 180)
    assert rc == 0, err
    resumed = read_run_facts(err)  # the run's facts are in its log (stderr), not the model folder
    rc, _, err = run_bounded(cli_cmd(*base, "--out", tmp_path / "full"), 180)
    assert rc == 0, err
    steps = json.loads((tmp_path / "cut" / "train_summary.json").read_text())["steps"]
    assert resumed["resumed_from"] is not None and resumed["resumed_from"] >= killed_at and steps == 40
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6, rtol=0), k
    assert [r["step"] for r in read_jsonl(tmp_path / "cut" / "train_log.jsonl")] == list(range(1, 41))
    ledger(
        "fault",
        f"SIGKILL during `train sft` (after checkpoint step-{killed_at})",
        "train",
        f"--resume from step-{resumed['resumed_from']}; final weights equal the uninterrupted run (atol 1e-6)",
    )


def test_evaluation_killed_mid_way_resumes_without_rejudging(ckpt, tmp_path, ledger):
    """SIGKILL `bench run` after some records are flushed; the rerun judges only the rest.
    Seen failing on a broken copy: run_bench discarding the records read from the partial file -> every
    pair judged again ('0 resumed')."""
    res = tmp_path / "results"
    cfg = write_config(
        tmp_path / "c.yaml",
        res,
        **{
            "bench.models": [{"name": "base", "kind": "generative", "path": str(ckpt)}],
            "bench.max_model_len": 256,
            "bench.max_new_tokens": 8,
            "bench.batch_size": 1,
            "bench.threads": 1,
        },
    )
    bench = res / "bench.jsonl"
    write_jsonl(bench, [official_line(f"q{i:03d}", "LongQA", "same" if i % 2 else "diff", "4k") for i in range(60)])
    out = res / "bench" / "base" / "records.jsonl"
    part = out.with_name(out.name + ".partial")
    cmd = cli_cmd("bench", "run", "--config", cfg, "--model", "base", "--bench", bench, "--out", out)

    proc = start(cmd)
    wait_for(lambda: part.exists() and part.read_bytes().count(b"\n") >= 3, proc, 120, "3 flushed records")
    kill_group(proc, signal.SIGKILL)
    finish(proc, 30)
    assert not out.exists(), "the run finished before the kill"
    lines = part.read_bytes().split(b"\n")
    done = sum(1 for x in lines if x.strip().startswith(b"{") and x.strip().endswith(b"}"))
    total = 120  # 60 pairs x 2 orders

    rc, _, err = run_bounded(cmd, 300)
    assert rc == 0, err
    assert f"{total} records ({total - done} judged now, {done} resumed)" in err, err[-1500:]
    recs = read_jsonl(out)
    assert len(recs) == total and len({(r["id"], tuple(r["order"])) for r in recs}) == total
    assert not part.exists()
    ledger(
        "fault",
        f"SIGKILL during `bench run` ({done}/{total} records flushed)",
        "bench run",
        f"rerun judged only the {total - done} missing; each (item, order) once",
    )


SNAKEFILE = """
rule slow:
    output: "out.txt"
    shell: "python {SCRIPT:q} {output:q}"
"""

STEPPER = """
import sys, time
with open(sys.argv[1], "w") as f:
    for i in range(40):
        f.write(f"step {i}\\n"); f.flush(); time.sleep(0.1)
"""


def _snake_dir(tmp_path: Path) -> Path:
    d = tmp_path / "wf"
    d.mkdir()
    (d / "stepper.py").write_text(STEPPER)
    (d / "Snakefile").write_text(f"SCRIPT = {str(d / 'stepper.py')!r}\n" + SNAKEFILE)
    return d


def _snakemake(*extra):
    import shutil
    import sys

    exe = Path(sys.executable).with_name("snakemake")
    return [str(exe if exe.exists() else shutil.which("snakemake")), "-c1", "--nolock", *extra]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_snakemake_job_is_never_taken_as_complete(tmp_path, ledger, sig):
    """A job killed mid-rule leaves out.txt half-written; the next run must not accept it as done.
    Seen failing on a broken copy: the plain rerun given `--ignore-incomplete` (the incomplete marker
    ignored) -> rc 0 with the half-written out.txt kept as done."""
    d = _snake_dir(tmp_path)
    out = d / "out.txt"
    proc = start(_snakemake(), cwd=d)
    wait_for(lambda: out.exists() and out.read_text().count("\n") >= 3, proc, 60, "the rule to start writing")
    kill_group(proc, sig)
    finish(proc, 30)
    if sig == signal.SIGKILL:
        assert out.exists() and out.read_text().count("\n") < 40  # a half-written output is left behind
    rc, so, se = run_bounded(_snakemake(), 60, cwd=d)
    refused = rc != 0
    if refused:  # the half file is flagged incomplete, never accepted as done
        assert "incomplete" in (so + se).lower(), se[-1500:]
        assert out.read_text().count("\n") < 40
        rc, so, se = run_bounded(_snakemake("--rerun-incomplete"), 60, cwd=d)
    assert rc == 0, se[-1500:]
    assert out.read_text() == "".join(f"step {i}\n" for i in range(40))
    if sig == signal.SIGKILL:
        assert refused  # killed outright, snakemake cannot clean up: only its incomplete marker protects us
    name = "SIGKILL" if sig == signal.SIGKILL else "SIGINT"
    how = (
        "plain rerun refuses (IncompleteFilesException); --rerun-incomplete rebuilds"
        if refused
        else "plain rerun rebuilds the output"
    )
    ledger("fault", f"{name} to snakemake mid-rule (output half-written)", "workflow", how)


def test_truncated_or_corrupted_checkpoint_is_named(ckpt, tmp_path, ledger):
    """Seen failing on a broken copy: check_checkpoint without check_safetensors_file -> the error came
    from deep inside the loader, not an InputError naming the file."""
    import shutil

    from longrm.modeling import check_checkpoint, load_causal_lm

    cut = tmp_path / "cut"
    shutil.copytree(ckpt, cut)
    st = cut / "model.safetensors"
    st.write_bytes(st.read_bytes()[:-100])
    with pytest.raises(InputError, match="truncated") as err:
        load_causal_lm(cut)
    assert str(st) in str(err.value)
    bad = tmp_path / "bad"
    shutil.copytree(ckpt, bad)
    raw = bytearray((bad / "model.safetensors").read_bytes())
    raw[:8] = (10**12).to_bytes(8, "little")
    (bad / "model.safetensors").write_bytes(bytes(raw))
    with pytest.raises(InputError, match="corrupted safetensors"):
        check_checkpoint(bad)
    ledger(
        "fault", "truncated / corrupted model.safetensors", "modeling.check_checkpoint", "InputError naming the file"
    )


def test_truncated_resume_checkpoint_is_named(ckpt, tmp_path, ledger):
    """Seen failing before the fix (and on a broken copy without it): checkpoint.load went straight to
    safetensors -> no InputError naming the file."""
    from longrm.config import load_config
    from longrm.train.loop import Interrupted, train

    cfg = load_config(train_config(tmp_path))
    data = tmp_path / "sft.jsonl"
    write_jsonl(data, sft_records(8))
    with pytest.raises(Interrupted):
        train("sft", cfg, data, ckpt, tmp_path / "o", interrupt_after=5)
    opt = tmp_path / "o.checkpoints" / "step-4" / "optimizer.safetensors"
    opt.write_bytes(opt.read_bytes()[: opt.stat().st_size // 2])
    with pytest.raises(InputError) as err:
        train("sft", cfg, data, ckpt, tmp_path / "o", resume=True)
    assert str(opt) in str(err.value) and "truncated" in str(err.value)
    ledger(
        "fault",
        "truncated optimizer.safetensors in the resume checkpoint",
        "train --resume",
        "InputError naming the file; nothing overwritten",
    )
