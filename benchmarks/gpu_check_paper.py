"""The paper path's checks on GPUs (benchmarks/gpu_check.sh runs them after the step check). Each writes
its section of one JSON file as soon as it ends; a check that cannot run here says why ("not measured").

  sp    DeepSpeed Ulysses SP=2 against SP=1: the loss and gradient norm of one LOGO step at ~8k tokens
        with flash_attention_2 (bf16, ZeRO-2), on a Qwen3-shaped model with random weights. Two ranks,
        one GPU each (NCCL refuses two ranks on one GPU): not measured with fewer than 2 GPUs.
  yarn  vLLM on a Qwen3-shaped checkpoint (models/Qwen3-8B's config when it is here, else a tiny one with
        its 40,960 positions): the engine's max_model_len is 131,072 and its RoPE is YaRN x4, both for the
        base checkpoint given the paper entry's rope_scaling and for a checkpoint that carries the scaling
        in its config.json (as training saves it: applied once). One engine per process.
  glm   the GLM tokenizer of the paper's vote judge (trust_remote_code) loads under transformers 5 and
        renders its chat template; not measured when the checkpoint is not on this machine.

    python benchmarks/gpu_check_paper.py --out results/benchmarks/gpu_check_paper.json [--checks sp yarn glm]
    python benchmarks/gpu_check_paper.py --tiny ...    # sp on 2 CPU ranks (gloo, sdpa): the same code path
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

YARN = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}
SP_ARCH = dict(hidden_size=1024, intermediate_size=2048, num_hidden_layers=4, num_attention_heads=16)
SP_ARCH.update(num_key_value_heads=8, head_dim=64, vocab_size=32000, rope_theta=1_000_000.0)
TINY_SP_ARCH = dict(SP_ARCH, hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2)
TINY_SP_ARCH.update(head_dim=16, vocab_size=512, num_hidden_layers=2)
SP_TOKENS, TINY_SP_TOKENS = 8192, 256
TEXTS = ["The blue door code is 4812. Question: what is the code? Answer: 4812."] * 50


def update(out: Path, key: str, value) -> None:
    """Write one check's section into the JSON file (the others kept)."""
    data = json.loads(out.read_text()) if out.exists() else {}
    data[key] = value
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")


# ---------------------------------------------------------------- sp: Ulysses SP=2 vs SP=1
def sp_rank(sp: int, tiny: bool, out: Path) -> None:
    """One rank of the SP=`sp` run: one LOGO step, its loss and global gradient norm (rank 0 writes)."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from longrm.train import parallel, steps
    from longrm.train.data import Example
    from longrm.train.forward import autocast, body_of
    from longrm.train.gpu import EngineBackward, deepspeed_engine

    ranks = parallel.ranks_from_env()
    device = parallel.place_on_device(ranks)
    parallel.init_distributed(device)
    attn = "flash_attention_2" if device.type == "cuda" else "sdpa"
    arch, tokens = (TINY_SP_ARCH, TINY_SP_TOKENS) if tiny else (SP_ARCH, SP_TOKENS)
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(Qwen3Config(**arch, max_position_embeddings=tokens + 64, attn_implementation=attn))
    model = model.to(device=device, dtype=torch.bfloat16)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    mpu = parallel.register_ulysses(model, attn, sp) if sp > 1 else None
    ds = {"bf16": {"enabled": True}, "zero_optimization": {"stage": 2}, "zero_allow_untested_optimizer": True}
    engine = deepspeed_engine(model, torch.optim.SGD(model.parameters(), lr=0.0), ds, clip=1e9, mpu=mpu)
    body = body_of(model)
    backward = EngineBackward(engine, loss_scale=1.0 / sp)
    parts = steps.Parts(
        body=parallel.UlyssesBody(body, mpu) if mpu is not None else body,
        head=model.get_output_embeddings(),
        amp=lambda: autocast(device.type, True),
        device=device,
        backward=backward,
        grad_cache=True,
        share_prompt=False,
    )
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, arch["vocab_size"], (tokens,), generator=g).tolist()
    answer = tokens // 16
    ex = Example("sp", ids[: tokens - 2 * answer], [ids[-2 * answer : -answer], ids[-answer:]])
    with backward.step(steps.backward_calls("logo", [ex], parts)):
        metrics = steps.logo_step(parts, [ex], 2.5, 0.5, "mean_reward", 0.1, "logo")
    engine.step()
    norm = float(engine.get_global_grad_norm())
    if ranks.main:
        out.write_text(json.dumps({"sp": sp, "loss": metrics["loss"], "grad_norm": norm, "tokens": metrics["tokens"]}))
    parallel.barrier()


def run_ranks(world: int, argv: list[str], timeout: float) -> list[int]:
    """`python THIS argv` as ranks 0..world-1 (RANK, LOCAL_RANK, WORLD_SIZE, ... as DeepSpeed's launcher sets)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for rank in range(world):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world))
        env.update(LOCAL_WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        procs.append(subprocess.Popen([sys.executable, __file__, *argv], env=env, cwd=REPO))
    codes = []
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            codes.append(p.wait(timeout=max(1.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            p.kill()
            codes.append(p.wait())
    return codes


def gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except ImportError:
        return 0


def check_sp(out: Path, tiny: bool) -> dict:
    if not tiny and gpus() < 2:
        return {"status": "not measured", "why": f"SP=2 needs 2 GPUs (one rank each); {gpus()} here"}
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for sp in (1, 2):
            res = Path(tmp) / f"sp{sp}.json"
            extra = ["--tiny"] if tiny else []
            codes = run_ranks(sp, ["sp-rank", "--sp", str(sp), "--out", str(res), *extra], timeout=100)
            if codes != [0] * sp:
                return {"status": "failed", "why": f"SP={sp} ranks exited {codes}", **runs}
            runs[f"sp{sp}"] = json.loads(res.read_text())
    one, two = runs["sp1"], runs["sp2"]
    loss_rel = abs(two["loss"] - one["loss"]) / max(abs(one["loss"]), 1e-12)
    norm_rel = abs(two["grad_norm"] - one["grad_norm"]) / max(abs(one["grad_norm"]), 1e-12)
    ok = loss_rel < 1e-2 and norm_rel < 2e-2 and two["tokens"] == one["tokens"]  # bf16 tolerances
    return {"status": "ok" if ok else "differs", "loss_rel_diff": loss_rel, "grad_norm_rel_diff": norm_rel, **runs}


# ---------------------------------------------------------------- yarn: vLLM's context and RoPE for Qwen3
def qwen3_checkpoint(out: Path) -> Path:
    """Qwen3-8B's own config (random weights, 2 layers) when models/Qwen3-8B is here, else a small Qwen3
    shape with its 40,960 positions; a tokenizer either way."""
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    real = REPO / "models" / "Qwen3-8B"
    if (real / "config.json").is_file():
        conf = Qwen3Config.from_pretrained(str(real))
        conf.num_hidden_layers = 2
        tok = AutoTokenizer.from_pretrained(str(real))
    else:
        from longrm.inputs.tiny import train_tokenizer

        tok = train_tokenizer(TEXTS, vocab_size=512)
        conf = Qwen3Config(
            vocab_size=len(tok), hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4
        )
        conf.update({"num_key_value_heads": 2, "head_dim": 64, "max_position_embeddings": 40960})
        conf.update({"rope_theta": 1_000_000.0, "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id})
    torch.manual_seed(0)
    Qwen3ForCausalLM(conf).to(torch.bfloat16).save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))
    return out


def trained_copy(base: Path, out: Path) -> Path:
    """The checkpoint as training saves it with train.<stage>.rope_scaling: the scaling in config.json."""
    import shutil

    from longrm.judges.model_args import model_overrides, stored_config

    shutil.copytree(base, out)
    conf = stored_config(base)
    conf.update(model_overrides({"name": "trained", "rope_scaling": YARN}, conf))
    (out / "config.json").write_text(json.dumps(conf, indent=2))
    return out


def yarn_one(path: Path, out: Path) -> None:
    """One vLLM engine (its own process) with the paper's Qwen3 entry: what the engine derived."""
    import vllm

    from longrm.config import load_config
    from longrm.judges.factory import bench_params
    from longrm.judges.model_args import vllm_engine_args

    cfg = load_config(REPO / "config" / "paper.yaml")
    spec = {"name": "qwen3", "kind": "generative", "path": str(path), "rope_scaling": YARN}
    params = {**bench_params(cfg), "tensor_parallel_size": 1, "gpu_memory_utilization": 0.5}
    args = vllm_engine_args(path, spec, cfg, params)
    llm = vllm.LLM(**args, enforce_eager=True)
    model_config = getattr(llm.llm_engine, "model_config", None) or llm.llm_engine.vllm_config.model_config
    hf = model_config.hf_config
    rope = dict(getattr(hf, "rope_parameters", None) or getattr(hf, "rope_scaling", None) or {})
    text = llm.generate(["The blue door code is"], vllm.SamplingParams(max_tokens=4, temperature=0.0))[0]
    row = {"max_model_len": model_config.max_model_len, "rope": rope, "hf_overrides": args.get("hf_overrides")}
    row["generated_tokens"] = len(text.outputs[0].token_ids)
    out.write_text(json.dumps(row, default=str))


def check_yarn(out: Path) -> dict:
    try:
        import vllm  # noqa: F401
    except ImportError as exc:
        return {"status": "not measured", "why": f"vllm does not import here: {exc}"}
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = qwen3_checkpoint(Path(tmp) / "base")
        trained = trained_copy(base, Path(tmp) / "trained")
        for name, path in (("base_with_entry_scaling", base), ("trained_config_carries_it", trained)):
            res, log = Path(tmp) / f"{name}.json", Path(tmp) / f"{name}.log"
            with log.open("w") as f:
                cmd = [sys.executable, __file__, "yarn-one", "--path", str(path), "--out", str(res)]
                code = subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT, timeout=110).returncode
            text = log.read_text(errors="replace")
            row = json.loads(res.read_text()) if code == 0 else {"error": text[-3000:]}
            row["log_mentions_yarn"] = bool(re.search(r"yarn", text, re.I))
            row["log_max_len_131072"] = bool(re.search(r"max_(?:seq|model)_len=131072", text))
            rows[name] = row
    ok = all(
        r.get("max_model_len") == 131072
        and r.get("rope", {}).get("rope_type") == "yarn"
        and r["rope"].get("factor") == 4.0
        for r in rows.values()
    )
    return {"status": "ok" if ok else "differs", **rows}


# ---------------------------------------------------------------- glm: the vote judge's tokenizer
def check_glm(path: Path, trust: bool) -> dict:
    if not (path / "tokenizer_config.json").is_file():
        return {"status": "not measured", "why": f"no GLM checkpoint at {path}"}
    import transformers

    from longrm.judges.truncation import chat_wrappers
    from longrm.modeling import load_tokenizer

    try:
        tok = load_tokenizer(path, trust_remote_code=trust)
        ids = tok("The blue door code is 4812.", add_special_tokens=False)["input_ids"]
        before, after = chat_wrappers(tok)
    except Exception as exc:  # the point: does it load at all under transformers 5
        return {"status": "failed", "transformers": transformers.__version__, "error": f"{type(exc).__name__}: {exc}"}
    return {
        "status": "ok",
        "transformers": transformers.__version__,
        "class": type(tok).__name__,
        "tokens": len(ids),
        "chat_before": before,
        "chat_after": after,
    }


def glm_judge() -> tuple[Path, bool]:
    """The paper config's GLM vote judge: its checkpoint and its trust_remote_code (the entry's, else the
    config's: the one named checkpoint allowed to run its own modelling code)."""
    from longrm.config import load_config
    from longrm.judges.model_args import trust_remote_code

    cfg = load_config(REPO / "config" / "paper.yaml")
    spec = next(j for j in cfg["vote"]["judges"] if j["name"].startswith("glm"))
    return REPO / spec["model"], trust_remote_code(spec, cfg)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", nargs="?", default="all", choices=["all", "sp-rank", "yarn-one"])
    ap.add_argument("--out", type=Path, default=REPO / "results" / "benchmarks" / "gpu_check_paper.json")
    ap.add_argument("--checks", nargs="+", default=["yarn", "glm", "sp"], choices=["sp", "yarn", "glm"])
    ap.add_argument("--tiny", action="store_true", help="sp: a tiny shape on 2 CPU ranks (gloo, sdpa)")
    ap.add_argument("--sp", type=int, default=1)
    ap.add_argument("--path", type=Path)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.command == "sp-rank":
        sp_rank(args.sp, args.tiny, args.out)
        return 0
    if args.command == "yarn-one":
        yarn_one(args.path, args.out)
        return 0
    checks = {"sp": lambda: check_sp(args.out, args.tiny), "yarn": lambda: check_yarn(args.out)}
    checks["glm"] = lambda: check_glm(*glm_judge())
    failed = False
    for name in args.checks:
        start = time.perf_counter()
        try:
            result = checks[name]()
        except Exception as exc:  # keep the other checks; say what failed
            result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        result["seconds"] = round(time.perf_counter() - start, 1)
        update(args.out, name, result)
        print(f"gpu_check_paper {name}: {result['status']}", file=sys.stderr)
        failed |= result["status"] not in ("ok", "not measured")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
