# Tables, figures and REPORT.md, from result files only (no model code). The memory/throughput
# benchmarks (results/benchmarks, from benchmarks/*.py) and Snakemake's per-job records
# (results/logs/benchmark) are read when present, not required: the report notes what it skipped.

# Training folders whose logs the report plots: the three trained models, and the base model when the
# DAG pre-trains it (an external 8B checkpoint has no log of ours).
TRAIN_RUNS = ([BASE_MODEL] if BASE_MODEL == res("inputs", "base_model") else []) + [res("models", s) for s in TRAINED]
# the response-only baseline's training run, when a bench model judges with it
TRAIN_RUNS += [p for p in {m["path"] for m in BENCH_MODELS.values()} if p == res("models", "disrm_response")]


rule report_tables:
    input:
        metrics=bench_outputs("metrics.json"),
        scores=bench_outputs("item_scores.jsonl"),
        audit=res("vote", "audit.json"),
        runs=TRAIN_RUNS,
    output:
        directory(res("tables")),
    params:
        cfg=sections("bench", "report"),
        metrics=metrics_args(),
        scores=metrics_args("item_scores.jsonl"),
        benchmarks=res("benchmarks"),
        jobs=res("logs", "benchmark"),
    log:
        log_of("report_tables"),
    benchmark:
        bench_of("report_tables")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/cpu.yaml"
    shell:
        "longrm report tables --config {CONFIG_FILE:q} --metrics {params.metrics:q} --item-scores {params.scores:q}"
        " --audit {input.audit:q} --train-runs {input.runs:q} --benchmarks-dir {params.benchmarks:q}"
        " --stage-benchmarks {params.jobs:q} --out-dir {output:q} 2> {log:q}"


rule report_figures:
    input:
        metrics=bench_outputs("metrics.json"),
        scores=bench_outputs("item_scores.jsonl"),
        audit=res("vote", "audit.json"),
        runs=TRAIN_RUNS,
    output:
        directory(res("figures")),
    params:
        cfg=sections("bench", "report"),
        metrics=metrics_args(),
        scores=metrics_args("item_scores.jsonl"),
        benchmarks=res("benchmarks"),
        jobs=res("logs", "benchmark"),
    log:
        log_of("report_figures"),
    benchmark:
        bench_of("report_figures")
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        "../../envs/cpu.yaml"
    shell:
        "longrm report figures --config {CONFIG_FILE:q} --metrics {params.metrics:q} --item-scores {params.scores:q}"
        " --audit {input.audit:q} --train-runs {input.runs:q} --benchmarks-dir {params.benchmarks:q}"
        " --stage-benchmarks {params.jobs:q} --out-dir {output:q} 2> {log:q}"


rule report_md:
    input:
        tables=res("tables"),
        figures=res("figures"),
    output:
        res("REPORT.md"),
    params:
        cfg=sections("name"),
    log:
        log_of("report_md"),
    benchmark:
        bench_of("report_md")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/cpu.yaml"
    shell:
        "longrm report md --config {CONFIG_FILE:q} --tables {input.tables:q} --figures {input.figures:q}"
        " --out {output:q} 2> {log:q}"
