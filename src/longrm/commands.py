"""The config sections each `longrm` command reads: the one declaration that both the command's provenance
(`prov_params`, longrm.provenance) and its Snakemake rule's `params` (workflow/rules/common.smk
`config_read_by`, hence DVC's params in dvc.yaml) derive from. A section is a dotted key of the config."""

from __future__ import annotations

# The `bench` keys a judge's engine reads (longrm.judges.factory.bench_params).
GENERATION_KEYS = (
    "backend",
    "batch_size",
    "device",
    "dtype",
    "gpu_memory_utilization",
    "max_batch_tokens",
    "max_model_len",
    "max_new_tokens",
    "tensor_parallel_size",
    "threads",
    "use_chat_template",
)
_GENERATION = tuple(f"bench.{k}" for k in GENERATION_KEYS)

READS: dict[str, tuple[str, ...]] = {
    "inputs raw": ("seed", "inputs"),
    "inputs distractors": ("seed", "inputs"),
    "inputs tokenizer": ("seed", "inputs.tokenizer"),
    "inputs pretrain": ("seed", "inputs.base_model", "inputs.pretrain"),
    "inputs short-split": ("seed", "vote.splits"),
    "synth": ("seed", "synth", "bench.max_model_len", "bench.max_new_tokens", "trust_remote_code"),
    "vote run": ("seed", "vote", "trust_remote_code", *_GENERATION),
    "vote judge": ("seed", "vote", "trust_remote_code", *_GENERATION),
    "vote tally": ("seed", "vote"),
    "vote audit": ("seed", "vote"),
    "vote split": ("seed", "vote"),
    "vote relabel": ("seed", "vote"),
    "train": ("seed", "trust_remote_code", "train.common", "train.{stage}", "bench.use_chat_template"),
    # a training ablation (longrm.ablations): the main run's sections and the variant's overrides
    "train ablation": (
        "seed",
        "trust_remote_code",
        "train.common",
        "train.{stage}",
        "bench.use_chat_template",
        "ablations.variants.{variant}",
    ),
    "bench run": ("seed", "bench", "trust_remote_code", "vote.splits.analysis"),
    "bench run ablation": ("seed", "bench", "trust_remote_code", "vote.splits.analysis", "ablations.judge"),
    "bench score": ("seed", "bench"),
    "bench control": ("seed",),
    "bench response-pairs": (),
    "data import-released": ("bench.released_path",),
    "data import-rewardbench": ("bench.short_path",),
    "report tables": ("seed", "bench", "report"),
    "report figures": ("seed", "bench", "report"),
    "report benchmarks": (),
    "report times": (),
    "report md": ("name",),
    "report ablations": ("seed", "bench.bootstrap", "report", "ablations"),
}


def reads(command: str, **fields: str) -> tuple[str, ...]:
    """The sections `command` reads; `fields` fill placeholders (`train.{stage}`)."""
    return tuple(s.format(**fields) for s in READS[command])
