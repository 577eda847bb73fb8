# Embedded default only: the raw short preference data, the distractor pool, a tokenizer and a tiny
# base model, all built from the committed corpus snapshot. The paper config points at local paths instead.


rule inputs_raw:
    input:
        corpus=CORPUS,
        tokenizer=tracked(BASE_MODEL) if SHIPPED_BASE else [],
    output:
        res("inputs", "raw.jsonl"),
    params:
        cfg=config_read_by("inputs raw"),
    log:
        log_of("inputs_raw"),
    benchmark:
        bench_of("inputs_raw")
    threads: 1
    priority: TRAINING_FIRST
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/cpu.yaml"
    shell:
        RAW_SHELL


rule inputs_distractors:
    input:
        corpus=CORPUS,
    output:
        res("inputs", "distractors.jsonl"),
    params:
        cfg=config_read_by("inputs distractors"),
    log:
        log_of("inputs_distractors"),
    benchmark:
        bench_of("inputs_distractors")
    threads: 1
    priority: TRAINING_FIRST
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/cpu.yaml"
    shell:
        "longrm inputs distractors --config {CONFIG_FILE:q} --out {output:q} 2> {log:q}"


rule inputs_tokenizer:
    input:
        raw=RAW,
        distractors=DISTRACTORS,
    output:
        directory(res("inputs", "tokenizer")),
    params:
        cfg=config_read_by("inputs tokenizer"),
    log:
        log_of("inputs_tokenizer"),
    benchmark:
        bench_of("inputs_tokenizer")
    threads: 1
    priority: TRAINING_FIRST
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/cpu.yaml"
    shell:
        "longrm inputs tokenizer --config {CONFIG_FILE:q} --raw {input.raw:q}"
        " --distractors {input.distractors:q} --out {output:q} 2> {log:q}"


rule inputs_pretrain:
    input:
        tokenizer=res("inputs", "tokenizer"),
        raw=RAW,
        distractors=DISTRACTORS,
    output:
        directory(res("inputs", "base_model")),
    params:
        cfg=config_read_by("inputs pretrain"),
    log:
        log_of("inputs_pretrain"),
    benchmark:
        bench_of("inputs_pretrain")
    threads: 2
    priority: TRAINING_FIRST
    resources:
        mem_mb=6000,
        runtime=30,
    conda:
        "../../envs/cpu.yaml"
    shell:
        "longrm inputs pretrain --config {CONFIG_FILE:q} --tokenizer {input.tokenizer:q} --raw {input.raw:q}"
        " --distractors {input.distractors:q} --out {output:q} 2> {log:q}"
