"""The LongRM study as one DAG: inputs -> synth -> vote (+ splits) -> train -> bench -> report.

    snakemake --cores all                                   # embedded default, CPU, minutes
    snakemake --cores all --profile workflow/profiles/slurm --configfile config/paper.yaml

Every rule calls one `longrm` command with the one config file; its `params:` hold the config sections
that command reads, so changing one parameter reruns only what is downstream of it.
"""

import os
import sys
from pathlib import Path

from longrm.config import load_config

configfile: "config/default.yaml"

# `longrm` is installed next to the Python that runs Snakemake: find it there too when that environment
# is not activated (e.g. `.venv/bin/snakemake`). Appended, so a `longrm` already on PATH (or a conda env's,
# with --sdm conda) comes first.
os.environ["PATH"] = os.pathsep.join([os.environ.get("PATH", ""), str(Path(sys.executable).parent)])


def _config_file_used():
    """The single config file every `longrm` command gets: the --configfile given, else the default."""
    given = [str(p) for p in (workflow.overwrite_configfiles or [])]
    if len(given) > 1:
        raise WorkflowError("pass one --configfile: `longrm` commands read a single config file")
    if workflow.config_settings.overwrite_config and not given:
        raise WorkflowError("--config KEY=VALUE is not forwarded to `longrm`: edit a config file and pass it with --configfile")
    if not given:
        return "config/default.yaml"
    path = Path(given[0]).resolve()
    return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)


CONFIG_FILE = _config_file_used()
# Snakemake merged the given file over the default; reload it alone (validated against
# workflow/schemas/config.schema.yaml) so the DAG sees exactly what every `longrm` command sees.
config.clear()
config.update(load_config(CONFIG_FILE))


include: "workflow/rules/common.smk"
include: "workflow/rules/inputs.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/vote.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/bench.smk"
include: "workflow/rules/report.smk"


def _banner():
    synth, vote = config["synth"], config["vote"]
    lengths = ", ".join(f"{n // 1024}k" if n >= 1024 else str(n) for n in synth["lengths"])
    lm_judges = [j["model"] for j in vote["judges"] if j.get("model")]
    models = ", ".join(f"{m['name']}={m['path']}" for m in config["bench"]["models"])
    return (f"LongRM study '{config['name']}' ({CONFIG_FILE}): context lengths {lengths}; base model {BASE_MODEL}; "
            f"{len(vote['judges'])} vote judges ({len(lm_judges)} LMs: {', '.join(lm_judges) or '-'}); "
            f"bench models {models}; results in {R}/")


print(_banner(), file=sys.stderr)


rule all:
    default_target: True
    input:
        res("REPORT.md"),
