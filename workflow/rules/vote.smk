# Consistency majority voting over several judges and orders, its audit, and the train/bench splits.


rule vote_run:
    input:
        synth_items=res("synth", "items.jsonl"),
        judges=[p for m in judge_models() for p in tracked(m)],
    output:
        res("vote", "votes.jsonl"),
    params:
        cfg=sections("seed", "vote"),
    log:
        log_of("vote_run"),
    benchmark:
        bench_of("vote_run")
    threads: 2
    resources:
        mem_mb=6000,
        runtime=120,
    conda:
        "../../envs/gpu.yaml"
    shell:
        "longrm vote run --config {CONFIG_FILE:q} --items {input.synth_items:q} --out {output:q} 2> {log:q}"


rule vote_audit:
    input:
        synth_items=res("synth", "items.jsonl"),
        votes=res("vote", "votes.jsonl"),
    output:
        res("vote", "audit.json"),
    params:
        cfg=sections("seed", "vote"),
    log:
        log_of("vote_audit"),
    benchmark:
        bench_of("vote_audit")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/cpu.yaml"
    shell:
        "longrm vote audit --config {CONFIG_FILE:q} --items {input.synth_items:q} --votes {input.votes:q}"
        " --out {output:q} 2> {log:q}"


rule vote_split:
    input:
        synth_items=res("synth", "items.jsonl"),
        votes=res("vote", "votes.jsonl"),
    output:
        sft=res("splits", "sft.jsonl"),
        pref=res("splits", "pref.jsonl"),
        disrm=res("splits", "disrm.jsonl"),
        bench=res("splits", "bench.jsonl"),
        report=res("splits", "report.json"),
    params:
        cfg=sections("seed", "vote"),
        out_dir=res("splits"),
    log:
        log_of("vote_split"),
    benchmark:
        bench_of("vote_split")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/cpu.yaml"
    shell:
        "longrm vote split --config {CONFIG_FILE:q} --items {input.synth_items:q} --votes {input.votes:q}"
        " --out-dir {params.out_dir:q} 2> {log:q}"
