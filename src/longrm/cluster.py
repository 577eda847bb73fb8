"""GPU jobs on a cluster: how many GPUs each job of the DAG needs, all on one node (config `cluster`).

A GPU job never spans nodes: DeepSpeed's launcher and vLLM's tensor parallelism start every rank on the
node they run on. So every GPU rule asks for one node and its GPU count comes from here:
  train_* (sft, logo, disrm, short, disrm_response,     cluster.train_gpus (DeepSpeed ranks)
           ablation)
  vote_judge (an LM judge of the vote)                   its tensor_parallel_size on vLLM, else 1
  bench_run (a bench model), bench_ablation              the same: vLLM's tensor_parallel_size, else 1
With `cluster.gpus_per_node: 0` (the CPU study, the default) no job asks for a GPU. A job asking for more
GPUs than a node has is a ConfigError when the DAG is planned (`check_gpu_plan`), not a job that waits
forever in the queue or starts ranks for GPUs its node does not have.
"""

from __future__ import annotations

from longrm.errors import ConfigError

TRAIN_RULES = ("train_short", "train_sft", "train_logo", "train_disrm", "train_disrm_response", "train_ablation")


def gpus_per_node(cfg: dict) -> int:
    return int((cfg.get("cluster") or {}).get("gpus_per_node", 0))


def train_gpus(cfg: dict) -> int:
    """GPUs (DeepSpeed ranks) of a training job; 0 for the CPU study."""
    return int(cfg["cluster"]["train_gpus"]) if gpus_per_node(cfg) else 0


def model_gpus(cfg: dict, spec: dict, backend: str | None = None) -> int:
    """GPUs of the job judging with a model entry (a vote judge or a bench model): the tensor-parallel
    size of a vLLM engine (the entry's, else bench.tensor_parallel_size), one for a transformers judge or
    a discriminative RM; 0 for the CPU study or a judge without a model (scorer, baseline)."""
    if not gpus_per_node(cfg) or not (spec.get("model") or spec.get("path")):
        return 0
    kind = spec.get("kind")
    if kind == "generative":
        kind = backend or cfg["bench"]["backend"]
    if kind == "vllm":
        return int(spec.get("tensor_parallel_size", cfg["bench"]["tensor_parallel_size"]))
    return 1


def gpu_needs(cfg: dict) -> dict[str, int]:
    """'rule' or 'rule/entry' -> GPUs, for every GPU job kind of the config."""
    needs = {rule: train_gpus(cfg) for rule in TRAIN_RULES}
    for judge in cfg["vote"]["judges"]:
        needs[f"vote_judge/{judge['name']}"] = model_gpus(cfg, judge)
    for model in cfg["bench"]["models"]:
        needs[f"bench_run/{model['name']}"] = model_gpus(cfg, model)
    return needs


def check_gpu_plan(cfg: dict) -> None:
    """Refuse, at plan time, a job that cannot run on one node, and a training job whose ranks do not
    make whole sequence-parallel groups."""
    per_node = gpus_per_node(cfg)
    if not per_node:
        return
    for job, gpus in gpu_needs(cfg).items():
        if gpus > per_node:
            raise ConfigError(
                f"{job} needs {gpus} GPUs, but cluster.gpus_per_node is {per_node}: a GPU job runs on one node "
                "(lower its tensor_parallel_size or cluster.train_gpus, or raise cluster.gpus_per_node)"
            )
    common, ranks = cfg["train"]["common"], train_gpus(cfg)
    if ranks > 1 and not common["deepspeed"]:
        raise ConfigError(f"cluster.train_gpus is {ranks}: training on several GPUs needs train.common.deepspeed")
    if ranks % common["sequence_parallel"]:
        raise ConfigError(
            f"train.common.sequence_parallel={common['sequence_parallel']} does not divide "
            f"cluster.train_gpus={ranks} (the ranks of a training job)"
        )
