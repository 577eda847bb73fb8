# Stage I SFT, Stage II LOGO (generative RM, from the SFT model) and a discriminative RM: one rule
# each (train_sft, train_logo, train_disrm), so a profile can size them apart. On the cluster the
# same command runs on every GPU of the job through DeepSpeed (ZeRO, Ulysses sequence parallelism):
# cluster.train_gpus GPUs, on one node (longrm.cluster; the launcher: common.smk train_launcher).
# Resumable checkpoints live in results/checkpoints/STAGE/, outside the rule's output (which Snakemake
# deletes when a job fails): a job that times out and is retried continues from its latest checkpoint
# (--auto-resume; one made with other data, init or settings is discarded), losing at most
# train.common.checkpoint_every steps.


rule train_sft:
    input:
        data=res("splits", "sft.jsonl"),
        init=tracked(train_init("sft")),
    output:
        directory(res("models", "sft")),
    params:
        cfg=config_read_by("train", stage="sft"),
        stage="sft",
        init=train_init("sft"),
        checkpoints=res("checkpoints", "sft"),
        launcher=train_launcher,
    log:
        log_of("train_sft"),
    benchmark:
        bench_of("train_sft")
    threads: 2
    priority: TRAINING_FIRST
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=TRAIN_GPUS,
        nodes=1,
    conda:
        "../../envs/gpu.yaml"
    shell:
        TRAIN_SHELL


rule train_logo:
    input:
        data=res("splits", "pref.jsonl"),
        init=tracked(train_init("logo")),
    output:
        directory(res("models", "logo")),
    params:
        cfg=config_read_by("train", stage="logo"),
        stage="logo",
        init=train_init("logo"),
        checkpoints=res("checkpoints", "logo"),
        launcher=train_launcher,
    log:
        log_of("train_logo"),
    benchmark:
        bench_of("train_logo")
    threads: 2
    priority: TRAINING_FIRST
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=TRAIN_GPUS,
        nodes=1,
    conda:
        "../../envs/gpu.yaml"
    shell:
        TRAIN_SHELL


rule train_disrm:
    input:
        data=res("splits", "disrm.jsonl"),
        init=tracked(train_init("disrm")),
    output:
        directory(res("models", "disrm")),
    params:
        cfg=config_read_by("train", stage="disrm"),
        stage="disrm",
        init=train_init("disrm"),
        checkpoints=res("checkpoints", "disrm"),
        launcher=train_launcher,
    log:
        log_of("train_disrm"),
    benchmark:
        bench_of("train_disrm")
    threads: 2
    priority: TRAINING_FIRST
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=TRAIN_GPUS,
        nodes=1,
    conda:
        "../../envs/gpu.yaml"
    shell:
        TRAIN_SHELL
