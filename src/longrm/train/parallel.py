"""Ranks, devices and sequence parallelism: DeepSpeed owns the ranks; this module only reads where this
process stands, places it on its own device, checks a sequence-parallel request before any heavy work,
and runs the transformer body under DeepSpeed's Ulysses SP (`deepspeed.runtime.sequence_parallel`).

Ulysses SP: each rank of an SP group embeds a contiguous 1/sp of the tokens; inside every attention layer
DeepSpeed's all-to-all trades the sequence split for a head split (each rank then attends over the whole
sequence with 1/sp of the heads, on the model's own kernel: sdpa on CPU, flash_attention_2 on GPU) and
back. The body's last hidden states are all-gathered, so the lean LM-head code (response positions only,
chunked, fp32) is the same as on one device.

Gradients: every rank of a group computes the same loss from the gathered hidden states, and the
gather's backward sums the group's gradients, so each rank back-propagates loss / sp (`loss_scale`):
the group's summed gradient is then exactly one sequence's gradient, and DeepSpeed (given the SP groups
as `mpu`) sums over all ranks and divides by the data-parallel size.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from longrm.errors import ConfigError


@dataclass(frozen=True)
class Ranks:
    """Where this process stands, from the launcher's environment (deepspeed, torchrun, srun)."""

    rank: int = 0
    local_rank: int = 0
    world: int = 1
    local_world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def ranks_from_env(env=None) -> Ranks:
    env = os.environ if env is None else env
    world = int(env.get("WORLD_SIZE", "1"))
    local_world = int(env.get("LOCAL_WORLD_SIZE") or env.get("LOCAL_SIZE") or world)
    return Ranks(
        rank=int(env.get("RANK", "0")),
        local_rank=int(env.get("LOCAL_RANK", "0")),
        world=world,
        local_world=max(1, local_world),
    )


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_rank(ranks: Ranks, cores: int | None = None) -> int:
    """The cores of this node shared among its ranks (LONGRM_THREADS overrides). The node's cores are the
    job's when OMP_NUM_THREADS says so (Snakemake sets it to the rule's threads), else every core."""
    forced = int(os.environ.get("LONGRM_THREADS", "0") or 0)
    if forced:
        return forced
    from longrm.modeling import job_threads

    return max(1, (cores or job_threads() or available_cores()) // ranks.local_world)


def place_on_device(ranks: Ranks):
    """This rank's device, made current before any tensor moves (else every rank lands on GPU 0)."""
    import torch

    if not torch.cuda.is_available():
        return torch.device("cpu")
    torch.cuda.set_device(ranks.local_rank)
    return torch.device("cuda", ranks.local_rank)


def init_distributed(device) -> None:
    """Start torch.distributed through DeepSpeed (nccl on GPU, gloo on CPU); a lone process becomes a
    world of one."""
    import torch.distributed as dist

    if dist.is_initialized():
        return
    for key, value in (
        ("RANK", "0"),
        ("LOCAL_RANK", "0"),
        ("WORLD_SIZE", "1"),
        ("MASTER_ADDR", "127.0.0.1"),
        ("MASTER_PORT", "29533"),
    ):
        os.environ.setdefault(key, value)
    import deepspeed

    deepspeed.init_distributed(dist_backend="nccl" if device.type == "cuda" else "gloo")
    if device.type == "cpu":
        release_shm_buffer()


def shm_buffer_path(env=os.environ) -> Path:
    """The shared-memory file DeepSpeed's CPU all-reduce creates for this rank (ops/csrc/cpu/comm/shm.cpp names
    it by user, master address, port and rank) and never unlinks: one leaked file (~67 MB) per rank and run."""
    return Path(
        "/dev/shm",
        f"deepspeed_allreduce_buffer_{os.getuid()}_{env.get('MASTER_ADDR', '')}_{env.get('MASTER_PORT', '')}_"
        f"{env.get('RANK', '0')}",
    )


def release_shm_buffer() -> None:
    """Unlink this rank's all-reduce buffer once every rank has mapped every rank's buffer (DeepSpeed opens them
    all while it initialises; a mapping outlives its name), so no run leaves it behind, even a killed one."""
    barrier()
    shm_buffer_path().unlink(missing_ok=True)


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def model_heads(init: Path) -> tuple[int, int]:
    """(attention heads, KV heads) from a checkpoint's config.json, read without loading the model."""
    path = Path(init) / "config.json"
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found (the --init checkpoint needs a config.json)") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    text = cfg.get("text_config") or cfg
    heads = text.get("num_attention_heads")
    if not isinstance(heads, int):
        raise ConfigError(f"{path}: field num_attention_heads missing or not an integer")
    return heads, int(text.get("num_key_value_heads") or heads)


def check_sequence_parallel(sp: int, init: Path, world: int, deepspeed_config, attn: str) -> None:
    """Refuse a sequence-parallel request that cannot run, before any model is loaded."""
    if sp == 1:
        return
    if not deepspeed_config:
        raise ConfigError(
            f"train.common.sequence_parallel={sp} runs on DeepSpeed's Ulysses SP: set "
            "train.common.deepspeed to a ZeRO config (e.g. workflow/deepspeed/zero2.json)"
        )
    if attn == "eager":
        raise ConfigError(
            "train.common.attn_implementation: eager cannot run under sequence parallelism "
            "(it needs a full attention mask); use sdpa or flash_attention_2"
        )
    heads, kv_heads = model_heads(init)
    for name, count in (("attention heads", heads), ("KV heads", kv_heads)):
        if count % sp:
            raise ConfigError(
                f"train.common.sequence_parallel={sp} does not divide the model's {count} {name} "
                f"({Path(init) / 'config.json'}): use a degree that divides {kv_heads}"
            )
    if world % sp:
        raise ConfigError(f"train.common.sequence_parallel={sp} does not divide the number of ranks ({world})")


def check_even_forwards(zero_stage: int, data_parallel: int, responses: list[int]) -> None:
    """ZeRO-3 gathers the parameters in every forward, a collective of all ranks: with data parallelism
    each rank of a step must run as many forwards as the others, which examples with different numbers
    of responses break (the gradient reduction alone is coalesced: gpu.EngineBackward). Refused before
    any model is loaded."""
    if zero_stage == 3 and data_parallel > 1 and len(set(responses)) > 1:
        raise ConfigError(
            f"ZeRO-3 with {data_parallel} data-parallel groups needs the same number of responses in every "
            f"example (here {min(responses)} to {max(responses)}): each forward gathers the parameters on "
            "every rank. Use ZeRO-2 (workflow/deepspeed/zero2.json), one data-parallel group, or data whose "
            "examples all have the same number of rejected responses (train.<stage>.num_negatives)"
        )


def register_ulysses(model, attn: str, sp: int):
    """Route the model's attention kernel through DeepSpeed's Ulysses all-to-all; return the mpu (the SP
    and SP x DP process groups) for deepspeed.initialize. Every model of this process (the DPO reference
    too) then runs its attention sequence-parallel."""
    from deepspeed.runtime.sequence_parallel.ulysses_sp import UlyssesSPAttentionHF

    return UlyssesSPAttentionHF.register_with_transformers(
        model_name_or_path=model,
        core_attn_implementation=attn,
        sequence_parallel_size=sp,
        micro_batch_size=1,
        seq_length_is_variable=True,
    )


class UlyssesBody:
    """A transformer body run with its sequence split over an SP group, returning the full hidden states.

    The sequence is padded at its end to a multiple of sp (causal attention: no real token sees the
    padding), each rank runs its contiguous shard with its global position ids, and the shards' last
    hidden states are all-gathered with autograd.
    """

    def __init__(self, body, mpu):
        self.body = body
        self.group = mpu.get_sequence_parallel_group()
        self.size = mpu.get_sequence_parallel_world_size()
        self.local = mpu.get_sequence_parallel_rank()
        self.config = getattr(body, "config", None)

    def __call__(self, input_ids, use_cache=False):
        import torch
        import torch.distributed.nn.functional as dist_fn
        from transformers.modeling_outputs import BaseModelOutput

        length = input_ids.shape[1]
        pad = (-length) % self.size
        if pad:
            input_ids = torch.cat([input_ids, input_ids.new_zeros((input_ids.shape[0], pad))], dim=1)
        shard = input_ids.shape[1] // self.size
        lo = self.local * shard
        positions = torch.arange(lo, lo + shard, device=input_ids.device).unsqueeze(0)
        out = self.body(input_ids=input_ids[:, lo : lo + shard], position_ids=positions, use_cache=False)
        parts = dist_fn.all_gather(out.last_hidden_state.contiguous(), group=self.group)
        return BaseModelOutput(last_hidden_state=torch.cat(parts, dim=1)[:, :length])
