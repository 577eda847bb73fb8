"""`longrm train sft|logo|disrm --config C --data FILE --init CKPT --out DIR [--checkpoints DIR]
[--resume | --auto-resume]`. Under DeepSpeed's launcher every rank runs this same command; rank 0 alone
writes the outputs and their provenance."""

from __future__ import annotations

from longrm.commands import reads

ABLATION_STAGES = ("sft", "logo")  # the stages a training ablation varies (longrm.ablations)
HELP = {
    "short": "the base judge: Stage I's SFT loss on SHORT judging data (`inputs short-split`), "
    "settings from train.short, before any long-context stage",
    "sft": "Stage I: token-mean cross-entropy on the judgment (prompt masked), from the base model",
    "logo": "Stage II: LOGO (multi-negative SimPO + SFT term) or DPO, from the SFT model",
    "disrm": "discriminative RM: last-token scalar head, Bradley-Terry vs the mean of the negatives",
}


def register(sub) -> None:
    p = sub.add_parser("train", help="train the generative (sft, logo) and discriminative (disrm) reward models")
    tsub = p.add_subparsers(dest="train_stage", metavar="STAGE")
    tsub.required = True
    for stage, text in HELP.items():
        s = tsub.add_parser(stage, help=text, description=text)
        s.add_argument("--config", required=True, help="the study config (YAML)")
        s.add_argument(
            "--data",
            required=True,
            help="SFTExample (sft) / PrefPair (logo, disrm) JSONL, or a released HF save_to_disk folder",
        )
        s.add_argument("--init", required=True, help="checkpoint folder to start from (safetensors)")
        s.add_argument(
            "--out",
            required=True,
            help="output folder (model, train_log.jsonl, train_summary.json), written atomically at the end",
        )
        s.add_argument("--checkpoints", help="resumable checkpoints (default: OUT.checkpoints beside OUT)")
        if stage in ABLATION_STAGES:
            s.add_argument(
                "--variant",
                help="an ablations.variants name: its train overrides over the main run's (longrm.ablations)",
            )
        how = s.add_mutually_exclusive_group()
        how.add_argument(
            "--resume",
            action="store_const",
            const="require",
            dest="resume",
            default="never",
            help="continue from the latest checkpoint; refuse one made with other data/init/settings",
        )
        how.add_argument(
            "--auto-resume",
            action="store_const",
            const="auto",
            dest="resume",
            help="continue from the latest matching checkpoint if there is one, else start over",
        )
        s.set_defaults(
            func=_run,
            stage=stage,
            prov_inputs=("data", "init"),
            prov_outputs=("out",),
            prov_params=reads("train", stage=stage),
        )


def ablation_config(cfg: dict, args) -> dict:
    """The variant's config (its overrides of train.*), checked to train this stage; its section joins the
    provenance."""
    from longrm.ablations import find_variant, variant_config
    from longrm.errors import ConfigError

    merged = variant_config(cfg, args.variant)  # refuses an unknown variant
    if args.stage not in find_variant(cfg, args.variant).stages:
        raise ConfigError(f"{cfg['_path']}: ablation variant {args.variant!r} does not train stage {args.stage!r}")
    args.prov_params = reads("train ablation", stage=args.stage, variant=args.variant)
    return merged


def _run(args) -> int:
    import sys

    from longrm.config import load_config
    from longrm.train.loop import train
    from longrm.train.parallel import ranks_from_env
    from longrm.train.timing import run_line

    cfg = load_config(args.config)
    if getattr(args, "variant", None):
        cfg = ablation_config(cfg, args)
    stage = args.stage
    if stage == "short":  # the SFT stage on other data, with its own settings (train.short)
        cfg = {**cfg, "train": {**cfg["train"], "sft": cfg["train"]["short"]}}
        stage = "sft"
    summary = train(stage, cfg, args.data, args.init, args.out, resume=args.resume, checkpoints=args.checkpoints)
    if not ranks_from_env().main:
        args.prov_outputs = ()  # provenance (and its hashing) on rank 0 only
        return 0
    print(
        f"train {args.stage}: {summary['steps']} steps, final loss {summary['final_loss']}, "
        f"accuracy {summary['final_accuracy']}, {summary['tokens_per_s']:.0f} tokens/s, "
        f"peak RSS {summary['peak_rss_mb']:.0f} MiB -> {args.out}",
        file=sys.stderr,
    )
    print(run_line(summary), file=sys.stderr)  # the run's timings: the job's log, not the model folder
    return 0
