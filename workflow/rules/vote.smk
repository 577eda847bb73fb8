# Consistency majority voting over several judges and orders, its audit, and the train/bench splits.
# Each LM judge of vote.judges (an entry with a `model`) is its own job (`vote_judge`, one engine per
# process, its GPUs = its tensor_parallel_size, on one node: longrm.cluster); `vote_run` tallies their files
# with the cheap scorers.

LM_JUDGES = {j["name"]: j for j in config["vote"]["judges"] if j.get("model")}


def judge_file(name):
    return res("vote", "judges", f"{name}.jsonl")


def judgments_then(*args):
    """`--judgments NAME=PATH ...` for the LM judges (nothing when the vote has none), then `args`: one list,
    so the shell command has no empty slot when there is no LM judge."""
    judgments = ["--judgments", *(f"{n}={judge_file(n)}" for n in LM_JUDGES)] if LM_JUDGES else []
    return [*judgments, *args]


rule vote_judge:
    input:
        synth_items=res("synth", "items.jsonl"),
        model=lambda w: tracked(LM_JUDGES[w.judge]["model"]),
    output:
        res("vote", "judges", "{judge}.jsonl"),
    params:
        cfg=config_read_by("vote judge"),
    log:
        res("logs", "vote_judge", "{judge}.log"),
    benchmark:
        res("logs", "benchmark", "vote_judge", "{judge}.tsv")
    wildcard_constraints:
        judge="|".join(LM_JUDGES) or "^$",
    threads: 2
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=lambda w: model_gpus(config, LM_JUDGES[w.judge]),  # its tensor_parallel_size on vLLM, else 1
        nodes=1,
    conda:
        "../../envs/gpu.yaml"
    shell:
        "longrm vote judge --config {CONFIG_FILE:q} --items {input.synth_items:q} --judge {wildcards.judge:q}"
        " --out {output:q} 2> {log:q}"


rule vote_run:
    input:
        synth_items=res("synth", "items.jsonl"),
        judgments=[judge_file(n) for n in LM_JUDGES],
    output:
        res("vote", "votes.jsonl"),
    params:
        cfg=config_read_by("vote tally"),
        judgments_out=judgments_then("--out", res("vote", "votes.jsonl")),
    log:
        log_of("vote_run"),
    benchmark:
        bench_of("vote_run")
    threads: 2
    priority: TRAINING_FIRST
    resources:
        mem_mb=6000,
        runtime=120,
    conda:
        "../../envs/cpu.yaml"
    shell:
        "longrm vote tally --config {CONFIG_FILE:q} --items {input.synth_items:q} {params.judgments_out:q}"
        " 2> {log:q}"


rule vote_audit:
    input:
        synth_items=res("synth", "items.jsonl"),
        votes=res("vote", "votes.jsonl"),
    output:
        res("vote", "audit.json"),
    params:
        cfg=config_read_by("vote audit"),
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
        judgments=[judge_file(n) for n in LM_JUDGES],
    output:
        sft=res("splits", "sft.jsonl"),
        pref=res("splits", "pref.jsonl"),
        disrm=res("splits", "disrm.jsonl"),
        bench=res("splits", "bench.jsonl"),
        report=res("splits", "report.json"),
    params:
        cfg=config_read_by("vote split"),
        judgments_out=judgments_then("--out-dir", res("splits")),
    log:
        log_of("vote_split"),
    benchmark:
        bench_of("vote_split")
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
