"""benchmarks/gpu_check.sh is ready for a GPU: the shell script parses, and its Python part runs the same
code path (DeepSpeed ZeRO-2, bf16, gradient checkpointing, the lean LOGO step on a Qwen3 shape) on the CPU
with a tiny shape, writing the JSON the GPU run writes; the settings in that JSON are what the engine
reports."""

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from tests.distributed.ranks import REPO, rank_env
from tests.helpers import load_script


def test_settings_are_read_from_the_engine_and_its_model():
    """A ZeRO-3 fp32 engine without checkpointing is recorded as such (no setting is typed in)."""
    gpu_check = load_script(REPO / "benchmarks" / "gpu_check.py")
    module = torch.nn.Linear(2, 2)
    module.is_gradient_checkpointing = False
    engine = SimpleNamespace(module=module, zero_optimization_stage=lambda: 3, bfloat16_enabled=lambda: False)
    assert gpu_check.engine_settings(engine) == {
        "zero_stage": 3,
        "bf16": False,
        "param_dtype": "float32",
        "gradient_checkpointing": False,
    }


def test_gpu_check_script_parses():
    subprocess.run(["bash", "-n", str(REPO / "benchmarks" / "gpu_check.sh")], check=True)


@pytest.mark.slow
def test_gpu_check_runs_its_step_on_the_cpu_with_a_tiny_shape(tmp_path):
    import deepspeed  # noqa: F401  (pinned in the dev extra: a broken install fails here)

    out = tmp_path / "gpu_check.json"
    proc = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--tiny", "--out", str(out)],
        cwd=REPO,
        env=rank_env(0, 1, 0),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    # what the engine built by engine_for and the model built by build report (read back, not asked for)
    assert result["zero_stage"] == 2 and result["bf16"] is True and result["param_dtype"] == "bfloat16"
    assert result["gradient_checkpointing"] is True
    assert [c["length"] for c in result["cells"]] == [128, 256]
    for cell in result["cells"]:
        assert "error" not in cell, cell
        assert cell["tokens"] == 2 * cell["length"] and cell["tokens_per_s"] > 0 and cell["loss"] > 0
