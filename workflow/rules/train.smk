# Stage I SFT, Stage II LOGO (generative RM, from the SFT model) and a discriminative RM: one rule
# each (train_sft, train_logo, train_disrm), so a profile can size them apart. On the cluster the
# same command runs on every GPU of the job through DeepSpeed (ZeRO, Ulysses sequence parallelism).
# Resumable checkpoints live in results/checkpoints/STAGE/, outside the rule's output (which Snakemake
# deletes when a job fails): a job that times out and is retried continues from its latest checkpoint
# (--auto-resume; one made with other data, init or settings is discarded), losing at most
# train.common.checkpoint_every steps.

TRAIN_DATA = {"sft": "sft.jsonl", "logo": "pref.jsonl", "disrm": "disrm.jsonl"}


def train_launcher(wildcards, resources):
    """`longrm`, or with several GPUs in the job and a DeepSpeed config, the same CLI started on every GPU
    by DeepSpeed's launcher (fixed tokens only, nothing from data)."""
    gpus = int(getattr(resources, "gpu", 0) or 0)
    if gpus > 1 and config["train"]["common"]["deepspeed"]:
        return f"deepspeed --no_local_rank --num_gpus {gpus} --module longrm.cli"
    return "longrm"

for _stage in TRAINED:

    rule:
        name:
            f"train_{_stage}"
        input:
            data=res("splits", TRAIN_DATA[_stage]),
            init=tracked(train_init(_stage)),
        output:
            directory(res("models", _stage)),
        params:
            cfg=sections("seed", "train.common", f"train.{_stage}"),
            stage=_stage,
            init=train_init(_stage),
            launcher=train_launcher,
            checkpoints=res("checkpoints", _stage),
        log:
            log_of(f"train_{_stage}"),
        benchmark:
            bench_of(f"train_{_stage}")
        threads: 2
        resources:
            mem_mb=8000,
            runtime=60,
        conda:
            "../../envs/gpu.yaml"
        shell:
            "{params.launcher} train {params.stage} --config {CONFIG_FILE:q} --data {input.data:q}"
            " --init {params.init:q} --out {output:q} --checkpoints {params.checkpoints:q} --auto-resume"
            " 2> {log:q}"
