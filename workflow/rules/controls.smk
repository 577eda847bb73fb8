# Controls are data, not code paths: each control set (bench.sets entries with `control`) is a benchmark
# file derived from another set, its contexts swapped within task and length bucket or removed, and
# judged by the same bench rules. The response-only baseline is the discriminative RM trained, with the
# same settings (train.disrm), on the same pairs with their contexts removed; a bench.models entry with
# path R/models/disrm_response judges with it.


rule bench_control:
    input:
        lambda w: SETS[SETS[w.set].of].file,
    output:
        control=res("controls", "{set}.jsonl"),
        report=res("controls", "{set}.report.json"),
    params:
        cfg=config_read_by("bench control"),
        kind=lambda w: SETS[w.set].control,
        share=lambda w: SETS[w.set].share,
    log:
        res("logs", "bench_control", "{set}.log"),
    benchmark:
        res("logs", "benchmark", "bench_control", "{set}.tsv")
    wildcard_constraints:
        set="|".join(CONTROL_SETS) or "^$",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/cpu.yaml"
    shell:
        "longrm bench control --config {CONFIG_FILE:q} --kind {params.kind:q} --share {params.share:q} --bench {input:q}"
        " --out {output.control:q} --report {output.report:q} 2> {log:q}"


rule response_pairs:
    input:
        res("splits", "disrm.jsonl"),
    output:
        res("controls", "disrm_response_pairs.jsonl"),
    params:
        cfg=config_read_by("bench response-pairs"),
    log:
        log_of("response_pairs"),
    benchmark:
        bench_of("response_pairs")
    threads: 1
    priority: TRAINING_FIRST
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/cpu.yaml"
    shell:
        "longrm bench response-pairs --config {CONFIG_FILE:q} --pairs {input:q} --out {output:q} 2> {log:q}"


rule train_disrm_response:
    input:
        data=res("controls", "disrm_response_pairs.jsonl"),
        init=tracked(train_init("disrm")),
    output:
        directory(res("models", "disrm_response")),
    params:
        cfg=config_read_by("train", stage="disrm"),
        stage="disrm",
        init=train_init("disrm"),
        checkpoints=res("checkpoints", "disrm_response"),
        launcher=train_launcher,
    log:
        log_of("train_disrm_response"),
    benchmark:
        bench_of("train_disrm_response")
    threads: 1  # a response-only model on short inputs (~20 CPU-seconds here): with 2 it waited for both
                # cores to be free at once, behind the one-core bench jobs, and ran last
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
