# Tables, figures and REPORT.md, from result files only (no model code).

TRAIN_LOGS = [res("models", s) for s in TRAINED]


def metrics_args():
    return [f"{n}={res('bench', n, 'metrics.json')}" for n in EVALUATED]


rule report_tables:
    input:
        metrics=expand(res("bench", "{name}", "metrics.json"), name=EVALUATED),
        audit=res("vote", "audit.json"),
    output:
        directory(res("tables")),
    params:
        cfg=sections("bench.models", "bench.baselines"),
        metrics=metrics_args(),
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
        "longrm report tables --config {CONFIG_FILE:q} --metrics {params.metrics:q}"
        " --audit {input.audit:q} --out-dir {output:q} 2> {log:q}"


rule report_figures:
    input:
        metrics=expand(res("bench", "{name}", "metrics.json"), name=EVALUATED),
        audit=res("vote", "audit.json"),
        models=TRAIN_LOGS,
    output:
        directory(res("figures")),
    params:
        cfg=sections("bench.models", "bench.baselines"),
        metrics=metrics_args(),
        benchmarks=res("benchmarks"),
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
        "longrm report figures --config {CONFIG_FILE:q} --metrics {params.metrics:q}"
        " --audit {input.audit:q} --train-runs {input.models:q} --benchmarks-dir {params.benchmarks:q}"
        " --out-dir {output:q} 2> {log:q}"


rule report_md:
    input:
        tables=res("tables"),
        figures=res("figures"),
    output:
        res("REPORT.md"),
    params:
        cfg=sections("bench.models", "bench.baselines"),
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
