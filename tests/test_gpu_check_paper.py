"""benchmarks/gpu_check_paper.py (run by gpu_check.sh on a GPU) is ready: the Ulysses SP=2 vs SP=1 check
runs its code path on 2 CPU ranks (gloo, sdpa, tiny shape) and agrees; the vLLM YaRN check runs its two
engines (each in its own process) against a stand-in vllm that derives what vLLM derives from the
arguments and config.json, and reads back the 131,072 context and YaRN x4 of both cases; the GLM check
says "not measured" without the checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.distributed.ranks import REPO, rank_env
from tests.helpers import load_script

STAND_IN = """
import json, types
from pathlib import Path
from transformers import AutoConfig

class SamplingParams:
    def __init__(self, **kw):
        self.kw = kw

class LLM:
    def __init__(self, model, max_model_len, hf_overrides=None, **kw):
        hf = AutoConfig.from_pretrained(model)
        for key, value in (hf_overrides or {}).items():
            setattr(hf, key, value)
        if max_model_len > hf.max_position_embeddings:  # as vLLM refuses a length past the derived maximum
            raise ValueError(f"max_model_len {max_model_len} > {hf.max_position_embeddings}")
        print(f"Initializing engine with config: max_seq_len={max_model_len}, rope={hf.rope_parameters}")
        config = types.SimpleNamespace(max_model_len=max_model_len, hf_config=hf)
        self.llm_engine = types.SimpleNamespace(model_config=config)

    def generate(self, prompts, sampling):
        out = types.SimpleNamespace(token_ids=[1, 2, 3, 4])
        return [types.SimpleNamespace(outputs=[out]) for _ in prompts]
"""


def run(args, env, timeout=300):
    cmd = [sys.executable, "benchmarks/gpu_check_paper.py", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def test_yarn_check_reads_back_both_cases_from_the_engines(tmp_path):
    (tmp_path / "vllm").mkdir()
    (tmp_path / "vllm" / "__init__.py").write_text(STAND_IN)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    out = tmp_path / "check.json"
    proc = run(["--checks", "yarn", "glm", "--out", str(out)], env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    yarn = result["yarn"]
    assert yarn["status"] == "ok", yarn
    base, trained = yarn["base_with_entry_scaling"], yarn["trained_config_carries_it"]
    assert base["hf_overrides"]["max_position_embeddings"] == 131072  # the entry's scaling, given to vLLM
    assert trained["hf_overrides"] is None  # already in config.json: not applied a second time
    for row in (base, trained):
        assert row["max_model_len"] == 131072 and row["rope"]["factor"] == 4.0 and row["log_max_len_131072"]
    assert result["glm"]["status"] == "not measured" and "no GLM checkpoint" in result["glm"]["why"]


def test_without_vllm_the_yarn_check_says_not_measured(tmp_path):
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm imports here (its own venv, make test-vllm)")
    gpu_check = load_script(REPO / "benchmarks" / "gpu_check_paper.py")
    assert gpu_check.check_yarn(tmp_path / "x.json")["status"] == "not measured"


@pytest.mark.slow
def test_sp_check_runs_on_two_cpu_ranks_and_agrees(tmp_path):
    import deepspeed  # noqa: F401  (pinned in the dev extra: a broken install fails here)

    out = tmp_path / "check.json"
    proc = run(["--tiny", "--checks", "sp", "--out", str(out)], rank_env(0, 1, 0), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sp = json.loads(out.read_text())["sp"]
    assert sp["status"] == "ok" and sp["sp1"]["tokens"] == sp["sp2"]["tokens"] > 0, sp
    assert sp["loss_rel_diff"] < 1e-2 and sp["grad_norm_rel_diff"] < 2e-2
