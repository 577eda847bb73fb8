# Tables, figures and REPORT.md, from result files only (no model code). Every file they read is an
# input: the metrics, the vote audit, the training logs and the memory/throughput records
# (results/benchmarks: made empty by report_benchmarks, filled by `make benchmarks`). Each job's Snakemake
# `benchmark:` record (job_records below; tests/test_workflow.py::test_every_job_record_is_declared_by_the_report
# checks it names every job) goes to report_times, beside the logs: timings differ run to run, results do not.

# Training folders whose logs the report plots: the three trained models, and the base model when the
# DAG pre-trains it or it is the shipped one (models/base: its curves); an external 8B checkpoint has no log of ours.
TRAIN_RUNS = ([BASE_MODEL] if BASE_MODEL == res("inputs", "base_model") or SHIPPED_BASE else []) + [res("models", s) for s in TRAINED]
# the response-only baseline's training run, when a bench model judges with it
TRAIN_RUNS += [p for p in {m["path"] for m in BENCH_MODELS.values()} if p == res("models", "disrm_response")]
TRAIN_RUNS += [JUDGE_BASE] if SHORT_JUDGE else []   # the short judge (train.short)



def job_records():
    """JOB=TSV: the `benchmark:` record of every job before the report (a rule that adds jobs adds them
    here). The DAG builds the inputs only when the config does not point at local paths."""
    jobs = {}
    for rule, built in (("inputs_raw", RAW == res("inputs", "raw.jsonl")),
                        ("inputs_distractors", DISTRACTORS == res("inputs", "distractors.jsonl")),
                        ("inputs_tokenizer", TOKENIZER == res("inputs", "tokenizer")),
                        ("inputs_pretrain", BASE_MODEL == res("inputs", "base_model"))):
        if built:
            jobs[rule] = bench_of(rule)
    for rule in ("synth", "vote_run", "vote_audit", "vote_split", *(f"train_{s}" for s in TRAINED)):
        jobs[rule] = bench_of(rule)
    used = {s.file for s in SETS.values()}
    if SHORT_JUDGE or res("short", "bench.jsonl") in used:
        jobs["short_split"] = bench_of("short_split")
    if SHORT_JUDGE:
        jobs["train_short"] = bench_of("train_short")
    for rule, name in (("import_released", "long-rewardbench.jsonl"), ("import_rewardbench", "rewardbench.jsonl")):
        if res("external", name) in used:
            jobs[rule] = bench_of(rule)
    jobs.update({f"vote_judge:{j}": res("logs", "benchmark", "vote_judge", f"{j}.tsv") for j in LM_JUDGES})
    jobs.update({f"bench_control:{s}": res("logs", "benchmark", "bench_control", f"{s}.tsv") for s in CONTROL_SETS})
    if res("models", "disrm_response") in TRAIN_RUNS:
        jobs.update({r: bench_of(r) for r in ("response_pairs", "train_disrm_response")})
    for rule in ("bench_run", "bench_score"):
        jobs.update({f"{rule}:{s}/{n}": res("logs", "benchmark", rule, s, f"{n}.tsv") for s, n in BENCH_JOBS})
    return jobs


def job_record_args():
    return [f"{job}={tsv}" for job, tsv in job_records().items()]


rule report_benchmarks:
    output:
        directory(res("benchmarks")),
    params:
        cfg=config_read_by("report benchmarks"),
    log:
        log_of("report_benchmarks"),
    benchmark:
        bench_of("report_benchmarks")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/cpu.yaml"
    shell:
        "longrm report benchmarks --config {CONFIG_FILE:q} --out-dir {output:q} 2> {log:q}"


rule report_tables:
    input:
        metrics=bench_outputs("metrics.json"),
        scores=bench_outputs("item_scores.jsonl"),
        audit=res("vote", "audit.json"),
        runs=TRAIN_RUNS,
        benchmarks=res("benchmarks"),
        ablations=ablations_in_report(),  # claim (f), once `make ablations` built it
    output:
        directory(res("tables")),
    params:
        cfg=config_read_by("report tables"),
        metrics=metrics_args(),
        scores=metrics_args("item_scores.jsonl"),
        ablations=ABLATION_REPORT,  # read when it is there
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
        " --audit {input.audit:q} --train-runs {input.runs:q} --benchmarks-dir {input.benchmarks:q}"
        " --ablations {params.ablations:q} --out-dir {output:q} 2> {log:q}"


rule report_figures:
    input:
        metrics=bench_outputs("metrics.json"),
        scores=bench_outputs("item_scores.jsonl"),
        audit=res("vote", "audit.json"),
        runs=TRAIN_RUNS,
        benchmarks=res("benchmarks"),
    output:
        directory(res("figures")),
    params:
        cfg=config_read_by("report figures"),
        metrics=metrics_args(),
        scores=metrics_args("item_scores.jsonl"),
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
        " --audit {input.audit:q} --train-runs {input.runs:q} --benchmarks-dir {input.benchmarks:q}"
        " --out-dir {output:q} 2> {log:q}"


rule report_times:
    input:
        list(job_records().values()),
    output:
        directory(res("logs", "times")),
    params:
        cfg=config_read_by("report times"),
        jobs=job_record_args(),
    log:
        log_of("report_times"),
    benchmark:
        bench_of("report_times")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/cpu.yaml"
    shell:
        "longrm report times --config {CONFIG_FILE:q} --stage-benchmarks {params.jobs:q} --out-dir {output:q} 2> {log:q}"


rule report_md:
    input:
        tables=res("tables"),
        figures=res("figures"),
        ablations=ablations_in_report(),  # their tables and figure, once `make ablations` built them
    output:
        res("REPORT.md"),
    params:
        cfg=config_read_by("report md"),
        times=res("logs", "times"),  # linked from the report, not read
        ablations=ABLATION_REPORT,  # read when it is there
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
        " --times {params.times:q} --ablations {params.ablations:q} --out {output:q} 2> {log:q}"
