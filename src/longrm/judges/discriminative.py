"""Discriminative (scalar) reward model: one score per response, ranked by score.

What is loaded (docs/formats/bench.md, "Discriminative RM checkpoint"), from a local folder:
  (a) a sequence-classification checkpoint (`architectures: [*ForSequenceClassification]`, num_labels 1),
      whose `score` linear layer is the head; or
  (b) a causal-LM checkpoint plus `score_head.safetensors` holding `weight` (1, hidden) and optionally
      `bias` (1,).
The score is the head applied, in fp32, to the final hidden state of the LAST token of the prompt ids
(the task prompt: long context + question, in the chat template if the tokenizer has one) followed by
the response ids, with nothing in between and no EOS: the trainer's layout (docs/formats/train.md;
disrm.jsonl's PrefPair.prompt is the item's task prompt).
The context is cut in the middle to `max_model_len` tokens; the response is never cut unless it alone
overflows. Weights stay in the dtype they were stored in (fp32 or bf16); fp16 only when asked for.
A response's score does not depend on the presentation order, so each item is scored once and its
Judgment for every order reuses the scores (ties rank the earlier-shown response first).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Sequence
from pathlib import Path

from longrm.data.records import BenchItem, Judgment
from longrm.errors import InputError
from longrm.judges.base import Judge, scored_judgment
from longrm.judges.prompts import PromptParts
from longrm.judges.transformers_backend import pick_device, plan_batches, resolve_dtype
from longrm.judges.truncation import chat_wrappers, fit_prompt
from longrm.modeling import forward_sharing_prefix

SCORE_HEAD_FILE = "score_head.safetensors"


def disrm_parts(prompt: str, response: str) -> tuple[PromptParts, str]:
    """(prompt parts, response) of a scalar-RM input; train disrm builds the same text from a PrefPair."""
    return PromptParts(prefix="", context=prompt, suffix=""), response


def _is_seq_cls(path: Path) -> bool:
    try:
        archs = json.loads((path / "config.json").read_text()).get("architectures") or []
    except (OSError, json.JSONDecodeError):
        return False
    return any(a.endswith("ForSequenceClassification") for a in archs)


def load_scalar_rm(path: str | Path, dtype=None, trust_remote_code: bool = False):
    """(backbone, head weight (1, H) fp32, head bias (1,) fp32 or None) from a local folder."""
    from safetensors.torch import load_file

    from longrm.modeling import check_checkpoint, load_causal_lm

    path = check_checkpoint(path)
    if _is_seq_cls(path):
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(
            str(path), dtype=dtype, trust_remote_code=trust_remote_code, local_files_only=True, use_safetensors=True
        )
        if model.config.num_labels != 1:
            raise InputError(
                path, f"a scalar RM needs num_labels 1, found {model.config.num_labels}", field="num_labels"
            )
        head = model.score
        weight = head.weight.detach().float()
        bias = head.bias.detach().float() if getattr(head, "bias", None) is not None else None
        return model.base_model, weight, bias
    head_file = path / SCORE_HEAD_FILE
    if not head_file.exists():
        raise InputError(
            path,
            f"neither a *ForSequenceClassification checkpoint nor a causal LM with "
            f"{SCORE_HEAD_FILE}: not a discriminative RM",
        )
    tensors = load_file(str(head_file))
    if "weight" not in tensors:
        raise InputError(head_file, "no 'weight' tensor", field="weight")
    model = load_causal_lm(path, dtype=dtype, trust_remote_code=trust_remote_code)
    weight = tensors["weight"].float().reshape(1, -1)
    if weight.shape[1] != model.config.hidden_size:
        raise InputError(
            head_file,
            f"weight has {weight.shape[1]} columns, the model's hidden size is {model.config.hidden_size}",
            field="weight",
        )
    bias = tensors["bias"].float().reshape(1) if "bias" in tensors else None
    return model.base_model, weight, bias


def apply_head(h, weight, bias):
    """h (B, H) -> fp32 @ weight.T (H, 1) (+ bias) -> (B,) scores."""
    s = h.float() @ weight.to(h.device).T  # (B, 1)
    if bias is not None:
        s = s + bias.to(h.device)
    return s[:, 0]


def last_token_scores(backbone, weight, bias, sequences: Sequence[Sequence[int]], pad_id: int) -> list[float]:
    """Scores of right-padded sequences at their last real token (hidden (B, L, H) -> h_last (B, H))."""
    import torch

    device = next(backbone.parameters()).device
    B, L = len(sequences), max(len(s) for s in sequences)
    ids = torch.full((B, L), pad_id, dtype=torch.long)
    mask = torch.zeros((B, L), dtype=torch.long)
    for b, s in enumerate(sequences):
        ids[b, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[b, : len(s)] = 1
    with torch.inference_mode():
        # a lone sequence runs without a mask: the causal fast path of the attention kernel
        hidden = backbone(
            input_ids=ids.to(device), attention_mask=None if B == 1 else mask.to(device)
        ).last_hidden_state
        last = mask.sum(-1).to(device) - 1  # (B,)
        return apply_head(hidden[torch.arange(B, device=device), last], weight, bias).tolist()


def prefix_sharing_scores(backbone, weight, bias, sequences: Sequence[Sequence[int]]) -> list[float]:
    """Scores of sequences run one at a time, unpadded, each reusing the keys/values of the prefix it
    shares with the previous one (an item's responses share the context): the CPU path."""
    import torch

    with torch.inference_mode():
        outs = forward_sharing_prefix(backbone, sequences)
        return [float(apply_head(o.last_hidden_state[:, -1], weight, bias)[0]) for o in outs]


class DiscriminativeJudge(Judge):
    def __init__(
        self,
        path: str | Path,
        name: str = "disrm",
        max_model_len: int = 4096,
        batch_size: int = 8,
        max_batch_tokens: int = 8192,
        dtype: str = "auto",
        device: str = "auto",
        trust_remote_code: bool = False,
        use_chat_template: bool = True,
        threads: int | None = None,
    ):
        from longrm.modeling import load_tokenizer, set_threads

        set_threads(threads)
        self.name = name
        self.device = pick_device(device)
        self.dtype = resolve_dtype(path, dtype, self.device)
        self.tokenizer = load_tokenizer(path, trust_remote_code=trust_remote_code)
        backbone, self.weight, self.bias = load_scalar_rm(path, self.dtype, trust_remote_code)
        self.backbone = backbone.to(self.device).eval()
        limit = getattr(self.backbone.config, "max_position_embeddings", None) or max_model_len
        self.max_model_len = min(max_model_len, limit)
        # On a CPU every input runs alone: a padding mask forces the slow attention path there (slower
        # than unpadded single sequences); an item's responses then share the context's
        # keys/values (prefix_sharing_scores). On a GPU, batches hold at most `batch_size` inputs
        # and `max_batch_tokens` padded tokens, so a long input still runs alone.
        self.batch_size = 1 if self.device == "cpu" else batch_size
        self.max_batch_tokens = max_batch_tokens
        self.wrappers = chat_wrappers(self.tokenizer, use_chat_template)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self._cache: dict[str, dict] = {}

    def _score_items(self, items: Sequence[BenchItem]) -> None:
        todo = [it for it in {it.id: it for it in items}.values() if it.id not in self._cache]
        if not todo:
            return
        inputs, owners = [], []
        for it in todo:
            for idx, resp in enumerate(it.responses):
                parts, resp = disrm_parts(it.task_prompt, resp)
                inputs.append(fit_prompt(self.tokenizer, parts, self.max_model_len, self.wrappers, response=resp))
                owners.append((it.id, idx))
        scores, seconds = self._score_inputs([f.input_ids for f in inputs], owners)
        for it in todo:
            idxs = [k for k, (owner, _) in enumerate(owners) if owner == it.id]
            self._cache[it.id] = {
                "scores": [scores[k] for k in idxs],
                "truncated": any(inputs[k].truncated for k in idxs),
                "prompt_tokens": sum(len(inputs[k].input_ids) for k in idxs),
                "latency_s": sum(seconds[k] for k in idxs),
            }

    def _score_inputs(self, inputs: list[list[int]], owners: list[tuple]) -> tuple[list[float], list[float]]:
        """(score, seconds) per input. One at a time on a CPU, an item's inputs in a row so they share
        the context's keys/values; on a GPU in padded batches of similar length."""
        scores, seconds = [0.0] * len(inputs), [0.0] * len(inputs)
        one_by_one = self.batch_size == 1
        if one_by_one:  # inputs were built item by item: each item's inputs are consecutive
            groups = [list(g) for _, g in itertools.groupby(range(len(inputs)), key=lambda k: owners[k][0])]
        else:
            groups = plan_batches([len(x) for x in inputs], self.batch_size, self.max_batch_tokens)
        for batch in groups:
            seqs = [inputs[i] for i in batch]
            start = time.perf_counter()
            if one_by_one:
                got = prefix_sharing_scores(self.backbone, self.weight, self.bias, seqs)
            else:
                got = last_token_scores(self.backbone, self.weight, self.bias, seqs, self.pad_id)
            dt = (time.perf_counter() - start) / len(batch)
            for i, score in zip(batch, got):
                scores[i], seconds[i] = score, dt
        return scores, seconds

    def judge(self, items: Sequence[BenchItem], orders: Sequence[list[int]]) -> list[Judgment]:
        self._score_items(items)
        extra = {"dtype": str(self.dtype)}
        return [scored_judgment(self.name, it, order, self._cache[it.id], extra) for it, order in zip(items, orders)]

    def close(self) -> None:
        self.backbone = None
        self._cache.clear()
