"""The kill harness (issue 21, `make test-kill`): on the tiny config, `make study` is started and one job of
a stage is SIGKILLed at a seeded random moment of its run; the README command is run again, and the next
stage's job is killed; after one kill in each stage (inputs, synth, vote, train, bench, report) a last
`make study` finishes. A killed job never leaves a file that a rerun takes as finished (Snakemake plans it
again each time), and every DVC output but the side files (logs, job records, provenance's `run`) ends
byte-identical to the session's uninterrupted study: the tables and the models, and everything else.

    LONGRM_KILL_SEED=7 make test-kill      # another seed: other jobs, other moments
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.tiny_study import (
    build_repo,
    code_version,
    differing,
    env,
    make,
    make_cmd,
    planned_jobs,
    result_bytes,
    stub_venv,
)

pytestmark = [pytest.mark.kill, pytest.mark.slow]

SEED = int(os.environ.get("LONGRM_KILL_SEED", "21"))
# stage -> (rule, the `longrm` words of its command, its job records under results/logs/benchmark)
STAGES = {
    "inputs": [
        ("inputs_raw", ("inputs", "raw"), "inputs_raw.tsv"),
        ("inputs_distractors", ("inputs", "distractors"), "inputs_distractors.tsv"),
    ],
    "synth": [("synth", ("synth",), "synth.tsv")],
    "vote": [
        ("vote_run", ("vote", "tally"), "vote_run.tsv"),
        ("vote_audit", ("vote", "audit"), "vote_audit.tsv"),
        ("vote_split", ("vote", "split"), "vote_split.tsv"),
    ],
    "train": [
        ("train_short", ("train", "short"), "train_short.tsv"),
        ("train_sft", ("train", "sft"), "train_sft.tsv"),
        ("train_logo", ("train", "logo"), "train_logo.tsv"),
        ("train_disrm", ("train", "disrm"), "train_disrm.tsv"),
    ],
    "bench": [
        ("bench_run", ("bench", "run"), "bench_run/**/*.tsv"),
        ("bench_score", ("bench", "score"), "bench_score/**/*.tsv"),
        ("bench_control", ("bench", "control"), "bench_control/*.tsv"),
    ],
    "report": [
        ("report_tables", ("report", "tables"), "report_tables.tsv"),
        ("report_figures", ("report", "figures"), "report_figures.tsv"),
        ("report_md", ("report", "md"), "report_md.tsv"),
    ],
}
RUN_TIMEOUT = 900


def reference_seconds(repo: Path, pattern: str) -> float:
    """The median wall time of the matching jobs in the uninterrupted study (Snakemake's records)."""
    times = []
    for tsv in (repo / "results" / "logs" / "benchmark").glob(pattern):
        header, row = tsv.read_text().splitlines()[:2]
        times.append(float(dict(zip(header.split("\t"), row.split("\t")))["s"]))
    assert times, f"no job record {pattern} in the uninterrupted study"
    return statistics.median(times)


def longrm_jobs(session: int, words: tuple[str, ...]) -> list[psutil.Process]:
    """The `longrm WORDS ...` processes of a process session (the jobs of one `make study`)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if os.getsid(proc.pid) != session:
                continue
        except OSError:
            continue
        cmd = proc.info["cmdline"] or []
        for i, word in enumerate(cmd):
            if (word == "longrm" or word.endswith("/longrm")) and tuple(cmd[i + 1 : i + 1 + len(words)]) == words:
                found.append(proc)
                break
    return found


def kill_a_job(make_proc: subprocess.Popen, choices: list, rng: random.Random, seconds: dict) -> tuple | None:
    """Wait for a job of one of `choices` to start, then SIGKILL it a seeded share of its usual run time
    later; a job that ends first is let go and the next one waited for. None: make ended without one."""
    while make_proc.poll() is None:
        for rule, words, _ in rng.sample(choices, len(choices)):
            jobs = longrm_jobs(make_proc.pid, words)
            if not jobs:
                continue
            job, delay = jobs[0], rng.uniform(0.1, 0.7) * seconds[rule]
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline and job.is_running() and job.status() != psutil.STATUS_ZOMBIE:
                time.sleep(0.02)
            if job.is_running() and job.status() != psutil.STATUS_ZOMBIE:
                job.send_signal(signal.SIGKILL)
                return rule, " ".join(words), round(delay, 2)
        time.sleep(0.05)
    return None


def start_study(repo: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        make_cmd("study", stub_venv(repo.parent)),
        cwd=repo,
        env=env(),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_one_job_of_each_stage_killed_then_the_readme_command_ends_on_the_same_bytes(tiny_study, tmp_path):
    repo = build_repo(tmp_path)
    rng = random.Random(SEED)
    seconds = {
        rule: reference_seconds(tiny_study["repo"], tsv) for choices in STAGES.values() for rule, _, tsv in choices
    }
    killed = []
    for stage, choices in STAGES.items():
        log = tmp_path / f"make-{stage}.log"
        proc = start_study(repo, log)
        try:
            hit = kill_a_job(proc, choices, rng, seconds)
            rc = proc.wait(timeout=RUN_TIMEOUT)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert hit is not None, f"make study ended before a {stage} job could be killed:\n{log.read_text()[-3000:]}"
        assert rc != 0, f"make study succeeded although {hit} was killed"
        rule = hit[0]
        n, plan = planned_jobs(repo)  # the killed job's outputs are never taken as finished
        assert n > 0 and f"rule {rule}:" in plan, f"after killing {hit}, Snakemake does not redo {rule}"
        killed.append((stage, *hit))
    done = make(repo, "study", timeout=RUN_TIMEOUT)
    print(f"\nkilled (stage, rule, command, seconds after its start), seed {SEED}: {killed}")
    print(f"last make study: {done.seconds:.1f} s")
    same_code = tiny_study["code"] is not None and code_version() == tiny_study["code"]
    if not same_code:  # the checkout got a commit (or a change) during the session: its provenance differs
        print("the longrm checkout changed during the session: provenance's `code` left out of the comparison")
    ours = result_bytes(repo, same_code)
    reference = tiny_study["bytes"] if same_code else result_bytes(tiny_study["repo"], False)
    assert set(ours) == set(reference)
    tables_and_models = [p for p in ours if p.startswith(("results/tables/", "results/models/"))]
    assert len(tables_and_models) > 20
    assert [p for p in tables_and_models if ours[p] != reference[p]] == [], differing(ours, reference)
    assert differing(ours, reference) == []  # every other output too
