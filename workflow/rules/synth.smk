# Short-to-Long synthesis: place each short item's evidence among distractors at the configured
# lengths and positions.


rule synth:
    input:
        raw=tracked(RAW),
        distractors=tracked(DISTRACTORS),
        tokenizer=tracked(TOKENIZER),
    output:
        synth_items=res("synth", "items.jsonl"),
        report=res("synth", "report.json"),
    params:
        cfg=config_read_by("synth"),
        raw=RAW,
        distractors=DISTRACTORS,
        tokenizer=TOKENIZER,
    log:
        log_of("synth"),
    benchmark:
        bench_of("synth")
    threads: 1
    priority: TRAINING_FIRST
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/cpu.yaml"
    shell:
        "longrm synth --config {CONFIG_FILE:q} --raw {params.raw:q} --distractors {params.distractors:q}"
        " --tokenizer {params.tokenizer:q} --out {output.synth_items:q} --report {output.report:q} 2> {log:q}"
