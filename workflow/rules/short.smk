# The base judge (issue 11): short judging data from the raw items, held out by source exactly as
# `vote split` holds out the long items, and the base model taught to judge SHORT items before any
# long-context stage. Runs when the config has a `train.short` section (the embedded default); the
# paper config's base is a real checkpoint and has none. results/short/bench.jsonl is the held-out
# short benchmark (BenchItem JSONL).


rule short_split:
    input:
        raw=tracked(RAW),
        long_items=res("synth", "items.jsonl"),
    output:
        train=res("short", "train.jsonl"),
        bench=res("short", "bench.jsonl"),
        report=res("short", "report.json"),
    params:
        cfg=config_read_by("inputs short-split"),
        raw=RAW,
    log:
        log_of("short_split"),
    benchmark:
        bench_of("short_split")
    threads: 1
    priority: TRAINING_FIRST
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/cpu.yaml"
    shell:
        "longrm inputs short-split --config {CONFIG_FILE:q} --raw {params.raw:q} --items {input.long_items:q}"
        " --out-train {output.train:q} --out-bench {output.bench:q} --report {output.report:q} 2> {log:q}"


if SHORT_JUDGE:

    rule train_short:
        input:
            data=res("short", "train.jsonl"),
            init=tracked(BASE_MODEL),
        output:
            directory(JUDGE_BASE),
        params:
            cfg=config_read_by("train", stage="short"),
            stage="short",
            init=BASE_MODEL,
            checkpoints=res("checkpoints", "short"),
            launcher=train_launcher,
        log:
            log_of("train_short"),
        benchmark:
            bench_of("train_short")
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
