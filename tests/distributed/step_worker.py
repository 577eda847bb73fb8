"""One training step's loss and full gradients, as one rank of a job (tests/test_distributed.py).

    python tests/distributed/step_worker.py CKPT SFT_DATA PREF_DATA DS_CONFIG|none SP OUT_DIR

With DS_CONFIG: a DeepSpeed ZeRO engine (torch AdamW), Ulysses SP of degree SP; every rank runs an SFT
step, then (gradients cleared, no optimizer step) a LOGO step, and rank 0 writes OUT_DIR/STAGE.safetensors
(each parameter's full gradient, gathered by DeepSpeed) and OUT_DIR/STAGE.json (loss, tokens). With
`none`: the same steps in one plain torch process.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path


def main(ckpt: str, sft_data: str, pref_data: str, ds_path: str, sp: int, out_dir: str) -> None:
    import torch
    from safetensors.torch import save_file

    from longrm.modeling import load_causal_lm, load_tokenizer
    from longrm.train import parallel, steps
    from longrm.train.data import read_records, tokenize
    from longrm.train.forward import body_of
    from longrm.train.gpu import EngineBackward, deepspeed_engine, load_deepspeed_config

    ranks = parallel.ranks_from_env()
    torch.set_num_threads(1)
    device = parallel.place_on_device(ranks)
    tok = load_tokenizer(Path(ckpt))
    torch.manual_seed(0)
    model = load_causal_lm(Path(ckpt), attn_implementation="sdpa")
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-3)
    engine = mpu = None
    body = body_of(model)
    backward = lambda loss: loss.backward()
    if ds_path != "none":
        parallel.init_distributed(device)
        if sp > 1:
            mpu = parallel.register_ulysses(model, "sdpa", sp)
        engine = deepspeed_engine(model, optimizer, load_deepspeed_config(ds_path), clip=0.0, mpu=mpu)
        backward = EngineBackward(engine, loss_scale=1.0 / sp)
        if mpu is not None:
            body = parallel.UlyssesBody(body, mpu)
    parts = steps.Parts(
        body=body,
        head=model.get_output_embeddings(),
        amp=None,
        device=device,
        backward=backward,
        chunk=8,
        grad_cache=True,
        share_prompt=False,
    )
    for stage, data in (("sft", sft_data), ("logo", pref_data)):
        batch = tokenize(read_records(Path(data), stage), tok, stage, 512, 2)[0][:2]
        calls = steps.backward_calls(stage, batch, parts)
        with backward.step(calls) if engine is not None else contextlib.nullcontext():
            if stage == "sft":
                metrics = steps.sft_step(parts, batch)
            else:
                metrics = steps.logo_step(parts, batch, 2.5, 0.5, "mean_reward", 0.1, "logo")
        grads = {name: full_grad(p, engine) for name, p in model.named_parameters()}
        if ranks.main:
            out = Path(out_dir)
            out.mkdir(parents=True, exist_ok=True)
            save_file(grads, str(out / f"{stage}.safetensors"))
            (out / f"{stage}.json").write_text(json.dumps({"loss": metrics["loss"], "tokens": metrics["tokens"]}))
        if engine is not None:
            engine.optimizer.zero_grad()
        else:
            model.zero_grad(set_to_none=True)
    parallel.barrier()


def full_grad(p, engine):
    if engine is None:
        return p.grad.detach().float().clone().contiguous()
    from deepspeed.utils import safe_get_full_grad

    return safe_get_full_grad(p).detach().float().clone().contiguous()


if __name__ == "__main__":
    ckpt, sft_data, pref_data, ds_path, sp, out_dir = sys.argv[1:7]
    main(ckpt, sft_data, pref_data, ds_path, int(sp), out_dir)
