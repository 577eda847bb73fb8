# Long-RewardBench-style evaluation: one record per (item, order) for each model and baseline judged on
# each benchmark set (bench.sets: the held-out split, its controls, other files), then metrics and
# per-item scores. Models and baselines are separate rules of one shape (the same output, log and command;
# common.smk) so a profile gives GPUs to the models only.


rule bench_run:
    input:
        bench=lambda w: SETS[w.set].file,
        model=lambda w: tracked(BENCH_MODELS[w.name]["path"]),
    output:
        res("bench", "{set}", "{name}", "records.jsonl"),
    params:
        cfg=config_read_by("bench run"),
    log:
        BENCH_RUN_LOG,
    benchmark:
        BENCH_RUN_RECORD
    wildcard_constraints:
        name="|".join(BENCH_MODELS) or "^$",
    threads: config["bench"]["threads"] or 2  # torch threads of a CPU run: 1 lets two run side by side
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=lambda w: model_gpus(config, BENCH_MODELS[w.name]),  # vLLM: its tensor_parallel_size; else 1
        nodes=1,
    conda:
        "../../envs/gpu.yaml"
    shell:
        BENCH_RUN_SHELL


rule bench_baseline:
    input:
        bench=lambda w: SETS[w.set].file,
    output:
        res("bench", "{set}", "{name}", "records.jsonl"),
    params:
        cfg=config_read_by("bench run"),
    log:
        BENCH_RUN_LOG,
    benchmark:
        BENCH_RUN_RECORD
    wildcard_constraints:
        name="|".join(BASELINES) or "^$",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/cpu.yaml"
    shell:
        BENCH_RUN_SHELL


rule bench_score:
    input:
        records=res("bench", "{set}", "{name}", "records.jsonl"),
        bench=lambda w: SETS[w.set].file,
    output:
        metrics=res("bench", "{set}", "{name}", "metrics.json"),
        scores=res("bench", "{set}", "{name}", "item_scores.jsonl"),
    params:
        cfg=config_read_by("bench score"),
    log:
        res("logs", "bench_score", "{set}", "{name}.log"),
    benchmark:
        res("logs", "benchmark", "bench_score", "{set}", "{name}.tsv")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/cpu.yaml"
    shell:
        "longrm bench score --config {CONFIG_FILE:q} --records {input.records:q} --bench {input.bench:q}"
        " --out {output.metrics:q} --item-scores {output.scores:q} 2> {log:q}"
