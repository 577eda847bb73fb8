"""The base's own reading as a judge: a response's score is its mean token log-probability under a causal LM,
given the task prompt (long context + question) and a newline.

A base that binds a value to its entity ("The tag of heapq is" -> stream) gives the response that states the
context's value a higher likelihood than one stating another entity's value or a value the context never
states; the study's responses are tell-free (a wrong response is the right one's template with another
value), so only the value tokens separate them. No training: it measures what the base reads, beside the
judges trained from it. The context is cut in the middle to fit `max_model_len` with the longest response.
A response's score does not depend on the presentation order: each item is scored once (one forward of its
prompt, whose keys/values every response reuses).
"""

from __future__ import annotations

import time
from pathlib import Path

from longrm.data.records import BenchItem
from longrm.judges.prompts import PromptParts
from longrm.judges.scored_lm import ScoringLMJudge
from longrm.judges.truncation import encode, fit_prompt


def likelihood_parts(task_prompt: str) -> PromptParts:
    return PromptParts(prefix="", context=task_prompt, suffix="\n")


def mean_logprob(model, prompt_ids: list[int], responses: list[list[int]]) -> list[float]:
    """Mean log p(response token | prompt, earlier response tokens) of each response."""
    import torch

    from longrm.modeling import cache_from_kv, cache_kwarg, cache_of, kv_of

    with torch.inference_mode():
        out = model(input_ids=torch.tensor([prompt_ids]), use_cache=True, logits_to_keep=1)
        first = out.logits[0, -1:].float()  # (1, V): predicts each response's first token
        kv = kv_of(cache_of(out))
        scores = []
        for ids in responses:
            cached = {cache_kwarg(model): cache_from_kv(kv, model.config, length=len(prompt_ids))}
            rest = model(input_ids=torch.tensor([ids]), use_cache=True, **cached).logits[0, :-1].float()  # (R-1, V)
            logp = torch.log_softmax(torch.cat([first, rest]), dim=-1)  # (R, V)
            scores.append(float(logp[torch.arange(len(ids)), torch.tensor(ids)].mean()))
    return scores


class LikelihoodJudge(ScoringLMJudge):
    def __init__(self, path: str | Path, name: str = "likelihood", **kwargs):
        super().__init__(path, name, **kwargs)

    def _score(self, item: BenchItem) -> dict:
        responses = [encode(self.tokenizer, r) or [self.tokenizer.eos_token_id] for r in item.responses]
        budget = self.max_model_len - max(len(r) for r in responses)
        fitted = fit_prompt(self.tokenizer, likelihood_parts(item.task_prompt), max(budget, 1))
        start = time.perf_counter()
        scores = mean_logprob(self.model, fitted.input_ids, responses)
        return {
            "scores": scores,
            "truncated": fitted.truncated,
            "prompt_tokens": len(fitted.input_ids),
            "latency_s": time.perf_counter() - start,
        }
