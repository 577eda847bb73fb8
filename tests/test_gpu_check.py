"""benchmarks/gpu_check.sh is ready for a GPU: the shell script parses, and its Python part runs the same
code path (DeepSpeed ZeRO-2, bf16, gradient checkpointing, the lean LOGO step on a Qwen3 shape) on the CPU
with a tiny shape, writing the JSON the GPU run writes."""

import json
import subprocess
import sys

import pytest

from tests.distributed.ranks import REPO, rank_env


def test_gpu_check_script_parses():
    subprocess.run(["bash", "-n", str(REPO / "benchmarks" / "gpu_check.sh")], check=True)


@pytest.mark.slow
def test_gpu_check_runs_its_step_on_the_cpu_with_a_tiny_shape(tmp_path):
    pytest.importorskip("deepspeed")
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
    assert result["gradient_checkpointing"] and result["bf16"] and result["zero_stage"] == 2
    assert [c["length"] for c in result["cells"]] == [128, 256]
    for cell in result["cells"]:
        assert "error" not in cell, cell
        assert cell["tokens"] == 2 * cell["length"] and cell["tokens_per_s"] > 0 and cell["loss"] > 0
