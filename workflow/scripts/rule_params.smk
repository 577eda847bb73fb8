# The study's Snakefile plus one line of output: each rule's config sections (its `params.cfg` keys) and
# its directory() outputs (patterns), written as JSON to $LONGRM_RULE_PARAMS. Used by make_dvc_yaml.py;
# runs nothing by itself.
import json
import os
from types import SimpleNamespace

include: "../../Snakefile"


def _sections(rule):
    """The rule's config sections; a rule whose sections depend on its wildcards (train_ablation's variant)
    gives them with placeholders ("ablations.variants.{variant}"), which make_dvc_yaml.py fills per job."""
    cfg = rule.params.cfg
    if callable(cfg):
        cfg = cfg(SimpleNamespace(**{w: "{" + w + "}" for w in rule.wildcard_names}))
    return sorted(json.loads(cfg))


with open(os.environ["LONGRM_RULE_PARAMS"], "w", encoding="utf-8") as _f:
    json.dump({"sections": {r.name: _sections(r) for r in workflow.rules if "cfg" in r.params.keys()},
               "directories": {r.name: sorted(str(o) for o in r.output if o.is_directory) for r in workflow.rules}},
              _f, sort_keys=True)
