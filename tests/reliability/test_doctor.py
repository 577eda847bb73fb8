import subprocess
import sys

import yaml

from longrm.config import DEFAULT_CONFIG
from longrm.doctor import FAIL, check_disk, run


def test_doctor_passes_on_default_config():
    checks = run(str(DEFAULT_CONFIG))
    assert not [c for c in checks if c.status == FAIL], checks


def test_doctor_names_bad_config_key_and_exits_1(tmp_path):
    cfg = yaml.safe_load(DEFAULT_CONFIG.read_text())
    cfg["bench"]["max_new_tokens"] = -3
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(
        [sys.executable, "-m", "longrm.cli", "doctor", "--config", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert "bench.max_new_tokens" in proc.stdout and "[FAIL] config" in proc.stdout


def test_doctor_flags_low_disk(tmp_path):
    assert check_disk(tmp_path, need_gb=1e9).status == FAIL
    assert check_disk(tmp_path / "not" / "yet", need_gb=0.001).status == "ok"


def test_doctor_flags_vllm_backend_without_gpu(tmp_path):
    import torch

    cfg = yaml.safe_load(DEFAULT_CONFIG.read_text())
    cfg["bench"]["backend"] = "vllm"
    path = tmp_path / "gpu.yaml"
    path.write_text(yaml.safe_dump(cfg))
    gpu = [c for c in run(str(path)) if c.name == "GPU"][0]
    assert gpu.status == ("ok" if torch.cuda.is_available() else FAIL)
