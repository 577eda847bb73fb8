"""The LongRM study as one DAG: inputs -> synth -> vote (+ splits) -> train -> bench -> report.

    snakemake --cores all                                   # embedded default, CPU, minutes
    snakemake --cores all ablations                         # the training ablations (make ablations)
    snakemake --cores all --profile workflow/profiles/slurm --configfile config/paper.yaml

Every rule calls one `longrm` command with the one config file (validated at load, see
workflow/rules/common.smk); its `params:` hold the config sections that command reads, so changing one
parameter reruns only what is downstream of it.
"""


configfile: "config/default.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/inputs.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/short.smk"
include: "workflow/rules/vote.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/external.smk"
include: "workflow/rules/controls.smk"
include: "workflow/rules/bench.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/ablations.smk"


# Light jobs run where Snakemake runs, not as cluster jobs.
localrules:
    all,
    report_benchmarks,
    report_tables,
    report_figures,
    report_md,
    report_times,
    bench_control,
    response_pairs,


rule all:
    default_target: True
    input:
        res("REPORT.md"),
        res("logs", "times"),
