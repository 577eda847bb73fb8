# Training ablations (config `ablations`; the plan: longrm.ablations): per variant, one training job per stage
# it changes (a stage run equal to the main run's is the main run's model) and one bench job per set it is
# judged on (unless a bench model already judges that model the same way there), the best single judge's
# labels for `labels: best_judge`, then their report (results/ablations/report) and job times. Target
# `ablations` (`make ablations`); not part of `all`: on 2 cores they would take `make study` past its budget.
# REPORT.md takes their tables and claim (f) once they are built (common.smk ablations_in_report).

LABELS_DIR = labels_dir(config)
RELABEL = any(v.labels == "best_judge" for v in ABLATIONS)
ABLATION_RUNS = {(r.variant, r.stage): r for v in ABLATIONS for r in v.trained}
VARIANTS = {v.name: v for v in ABLATIONS}
ABLATION_BENCH = bench_jobs(config) if ABLATIONS else []   # (set, variant) judged by a job of its own


def ablation_scores_args():
    """SET/VARIANT=PATH of every variant's item scores on every ablation set (its own, or the main run's)."""
    return [f"{s}/{v.name}={item_scores_path(config, v, s)}" for v in ABLATIONS for s in config["ablations"]["sets"]]


def ablation_job_records():
    """JOB=TSV: the `benchmark:` record of every ablation job (their times, per variant: report_ablation_times)."""
    jobs = {r: bench_of(r) for r in ("vote_relabel", "vote_split_relabeled") if RELABEL}
    jobs.update({f"train_ablation:{v}/{s}": res("logs", "benchmark", "train_ablation", v, f"{s}.tsv")
                 for v, s in ABLATION_RUNS})
    for rule in ("bench_ablation", "bench_score_ablation"):
        jobs.update({f"{rule}:{s}/{v}": res("logs", "benchmark", rule, s, f"{v}.tsv") for s, v in ABLATION_BENCH})
    return jobs


if ABLATIONS:

    localrules:
        ablations,
        report_ablations,
        report_ablation_times,

    if RELABEL:

        rule vote_relabel:
            input:
                votes=res("vote", "votes.jsonl"),
                audit=res("vote", "audit.json"),
            output:
                votes=f"{LABELS_DIR}/votes.jsonl",
                report=f"{LABELS_DIR}/report.json",
            params:
                cfg=config_read_by("vote relabel"),
            log:
                log_of("vote_relabel"),
            benchmark:
                bench_of("vote_relabel")
            threads: 1
            priority: TRAINING_FIRST
            resources:
                mem_mb=2000,
                runtime=10,
            conda:
                "../../envs/cpu.yaml"
            shell:
                "longrm vote relabel --config {CONFIG_FILE:q} --votes {input.votes:q} --audit {input.audit:q}"
                " --out {output.votes:q} --report {output.report:q} 2> {log:q}"

        rule vote_split_relabeled:
            input:
                synth_items=res("synth", "items.jsonl"),
                votes=f"{LABELS_DIR}/votes.jsonl",
                judgments=[judge_file(n) for n in LM_JUDGES],
            output:
                sft=f"{LABELS_DIR}/splits/sft.jsonl",
                pref=f"{LABELS_DIR}/splits/pref.jsonl",
                disrm=f"{LABELS_DIR}/splits/disrm.jsonl",
                bench=f"{LABELS_DIR}/splits/bench.jsonl",
                report=f"{LABELS_DIR}/splits/report.json",
            params:
                cfg=config_read_by("vote split"),
                judgments_out=judgments_then("--out-dir", f"{LABELS_DIR}/splits"),
            log:
                log_of("vote_split_relabeled"),
            benchmark:
                bench_of("vote_split_relabeled")
            threads: 1
            priority: TRAINING_FIRST
            resources:
                mem_mb=2000,
                runtime=10,
            conda:
                "../../envs/cpu.yaml"
            shell:
                "longrm vote split --config {CONFIG_FILE:q} --items {input.synth_items:q} --votes {input.votes:q}"
                " {params.judgments_out:q} 2> {log:q}"


    rule train_ablation:
        input:
            data=lambda w: ABLATION_RUNS[(w.variant, w.stage)].data,
            init=lambda w: tracked(ABLATION_RUNS[(w.variant, w.stage)].init),
        output:
            directory(res("ablations", "models", "{variant}", "{stage}")),
        params:
            cfg=lambda w: config_read_by("train ablation", stage=w.stage, variant=w.variant),
            stage=lambda w: w.stage,
            init=lambda w: ABLATION_RUNS[(w.variant, w.stage)].init,
            checkpoints=res("checkpoints", "ablations", "{variant}", "{stage}"),
            launcher=train_launcher,
        log:
            res("logs", "train_ablation", "{variant}", "{stage}.log"),
        benchmark:
            res("logs", "benchmark", "train_ablation", "{variant}", "{stage}.tsv")
        wildcard_constraints:
            variant=one_of(v for v, _ in ABLATION_RUNS),
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
            TRAIN_ABLATION_SHELL


    rule bench_ablation:
        input:
            bench=lambda w: SETS[w.set].file,
            model=lambda w: tracked(VARIANTS[w.variant].model),
        output:
            res("ablations", "bench", "{set}", "{variant}", "records.jsonl"),
        params:
            cfg=config_read_by("bench run ablation"),
        log:
            res("logs", "bench_ablation", "{set}", "{variant}.log"),
        benchmark:
            res("logs", "benchmark", "bench_ablation", "{set}", "{variant}.tsv")
        wildcard_constraints:
            variant=one_of(v for _, v in ABLATION_BENCH),
        threads: config["bench"]["threads"] or 2
        resources:
            mem_mb=8000,
            runtime=60,
            gpu=lambda w: model_gpus(config, variant_bench_spec(config, VARIANTS[w.variant])),
            nodes=1,
        conda:
            "../../envs/gpu.yaml"
        shell:
            "longrm bench run --config {CONFIG_FILE:q} --model {wildcards.variant:q} --bench {input.bench:q}"
            " --out {output:q} 2> {log:q}"


    rule bench_score_ablation:
        input:
            records=res("ablations", "bench", "{set}", "{variant}", "records.jsonl"),
            bench=lambda w: SETS[w.set].file,
        output:
            metrics=res("ablations", "bench", "{set}", "{variant}", "metrics.json"),
            scores=res("ablations", "bench", "{set}", "{variant}", "item_scores.jsonl"),
        params:
            cfg=config_read_by("bench score"),
        log:
            res("logs", "bench_score_ablation", "{set}", "{variant}.log"),
        benchmark:
            res("logs", "benchmark", "bench_score_ablation", "{set}", "{variant}.tsv")
        wildcard_constraints:
            variant=one_of(v for _, v in ABLATION_BENCH),
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        conda:
            "../../envs/cpu.yaml"
        shell:
            "longrm bench score --config {CONFIG_FILE:q} --records {input.records:q} --bench {input.bench:q}"
            " --out {output.metrics:q} --item-scores {output.scores:q} 2> {log:q}"


    rule report_ablations:
        input:
            scores=[a.split("=", 1)[1] for a in ablation_scores_args()],
            labels=[f"{LABELS_DIR}/report.json"] if RELABEL else [],
        output:
            directory(ABLATION_REPORT),
        params:
            cfg=config_read_by("report ablations"),
            scores=ablation_scores_args(),
            labels=["--labels", f"{LABELS_DIR}/report.json"] if RELABEL else [],
        log:
            log_of("report_ablations"),
        benchmark:
            bench_of("report_ablations")
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        conda:
            "../../envs/cpu.yaml"
        shell:
            "longrm report ablations --config {CONFIG_FILE:q} --item-scores {params.scores:q} {params.labels:q}"
            " --out-dir {output:q} 2> {log:q}"


    rule report_ablation_times:
        input:
            list(ablation_job_records().values()),
        output:
            directory(res("logs", "ablation_times")),
        params:
            cfg=config_read_by("report times"),
            jobs=[f"{job}={tsv}" for job, tsv in ablation_job_records().items()],
        log:
            log_of("report_ablation_times"),
        benchmark:
            bench_of("report_ablation_times")
        threads: 1
        resources:
            mem_mb=1000,
            runtime=5,
        conda:
            "../../envs/cpu.yaml"
        shell:
            "longrm report times --config {CONFIG_FILE:q} --stage-benchmarks {params.jobs:q} --by-variant"
            " --out-dir {output:q} 2> {log:q}"


    rule ablations:
        input:
            ABLATION_REPORT,
            res("logs", "ablation_times"),

else:

    localrules:
        ablations,

    # `snakemake ablations` with a config that declares none: say so (and fail) instead of "no rule".
    rule ablations:
        shell:
            "echo 'no ablations section in' {CONFIG_FILE:q} '(no training ablation to run; config/default.yaml"
            " declares them)' >&2; exit 1"
