# Benchmarks the paper evaluates that the DAG does not build: Long-RewardBench as released
# (bench.released_path: a folder of per-task JSONL files) and a short-context set in the RewardBench format
# (bench.short_path), each normalised into one bench file under R/external/ that a `bench.sets` entry names
# (`{name: released, file: external/long-rewardbench.jsonl}`). A rule exists only when its path is set.

RELEASED = config["bench"].get("released_path")
REWARDBENCH = config["bench"].get("short_path")

if RELEASED:

    rule import_released:
        input:
            tracked(RELEASED),
        output:
            res("external", "long-rewardbench.jsonl"),
        params:
            cfg=config_read_by("data import-released"),
            src=RELEASED,
        log:
            log_of("import_released"),
        benchmark:
            bench_of("import_released")
        threads: 1
        resources:
            mem_mb=8000,
            runtime=30,
        conda:
            "../../envs/cpu.yaml"
        shell:
            "longrm data import-released --config {CONFIG_FILE:q} --src {params.src:q} --out {output:q} 2> {log:q}"


if REWARDBENCH:

    rule import_rewardbench:
        input:
            tracked(REWARDBENCH),
        output:
            res("external", "rewardbench.jsonl"),
        params:
            cfg=config_read_by("data import-rewardbench"),
            src=REWARDBENCH,
        log:
            log_of("import_rewardbench"),
        benchmark:
            bench_of("import_rewardbench")
        threads: 1
        resources:
            mem_mb=4000,
            runtime=30,
        conda:
            "../../envs/cpu.yaml"
        shell:
            "longrm data import-rewardbench --config {CONFIG_FILE:q} --src {params.src:q} --out {output:q} 2> {log:q}"
