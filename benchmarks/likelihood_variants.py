"""The base's reading as a judge, five ways (issue 24): which score of a response under the base separates the
chosen from the rejected one, with its own context and under the swap control?

For each PairWise item of the given benchmark files, each response's token log-probabilities are taken twice:
given the item's task prompt (context + question, as `kind: likelihood` does) and given its question part
alone (data.context.split_prompt). Scores: `mean` (the study's likelihood judge), `sum`, `pmi` (sum of
log p(r | context, question) - log p(r | question)), `pmi_mean` (per token), `pmi_max` (the most
context-supported token). Pairwise accuracy (ties 0.5) by length bucket, task and difficulty.

    python benchmarks/likelihood_variants.py models/base results/splits/bench.jsonl results/controls/swap.jsonl

Results of the run on the shipped stage-I base (2026-12-07): benchmarks/likelihood_variants.md.
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from longrm.data.context import split_prompt  # noqa: E402
from longrm.data.records import BenchItem  # noqa: E402
from longrm.judges.likelihood import likelihood_parts  # noqa: E402
from longrm.judges.truncation import encode, fit_prompt  # noqa: E402
from longrm.modeling import load_causal_lm, load_tokenizer  # noqa: E402

SCORES = ("mean", "sum", "pmi", "pmi_mean", "pmi_max")


def token_logprobs(model, tok, prompt: str, responses: list[list[int]]) -> list[torch.Tensor]:
    fitted = fit_prompt(tok, likelihood_parts(prompt), 4096 - max(len(r) for r in responses))
    out = []
    with torch.inference_mode():
        for ids in responses:
            x = torch.tensor([fitted.input_ids + ids])
            logp = torch.log_softmax(model(input_ids=x).logits[0, -len(ids) - 1 : -1].float(), -1)  # (R, V)
            out.append(logp[torch.arange(len(ids)), torch.tensor(ids)])
    return out


def scores_of(full: list[torch.Tensor], question: list[torch.Tensor]) -> dict[str, list[float]]:
    return {
        "mean": [float(x.mean()) for x in full],
        "sum": [float(x.sum()) for x in full],
        "pmi": [float(a.sum() - b.sum()) for a, b in zip(full, question)],
        "pmi_mean": [float((a - b).mean()) for a, b in zip(full, question)],
        "pmi_max": [float((a - b).max()) for a, b in zip(full, question)],
    }


def main(path: str, files: list[str]) -> None:
    torch.set_num_threads(2)
    tok, model = load_tokenizer(path), load_causal_lm(path).eval()
    for f in files:
        acc = collections.defaultdict(list)
        for line in open(f, encoding="utf-8"):
            it = BenchItem.from_dict(json.loads(line))
            if it.tasktype != "PairWise":
                continue
            resp = [encode(tok, r) for r in it.responses]
            full = token_logprobs(model, tok, it.task_prompt, resp)
            question = token_logprobs(model, tok, split_prompt(it).tail, resp)
            for name, (c, r) in scores_of(full, question).items():
                hit = 1.0 if c > r else 0.5 if c == r else 0.0
                for key in ("all", it.length_bucket, it.task, it.extra.get("difficulty", "")):
                    acc[(name, key)].append(hit)
        print("==", f)
        keys = sorted({k for _, k in acc})
        for name in SCORES:
            cells = (f"{k}:{sum(acc[(name, k)]) / len(acc[(name, k)]):.3f}({len(acc[(name, k)])})" for k in keys)
            print(name.ljust(9), " ".join(cells))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
