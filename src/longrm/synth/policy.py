"""Optional policy model that writes the perturbed responses instead of the rules (config
`synth.policy_model`: a local checkpoint folder). CPU path: transformers, greedy decoding.

The vLLM path for the GPU profile is future work: the instruction prompts below are the same, only the
generation call would change. When the model returns an empty text, the rule-based perturbation is kept,
and the report counts it.
"""

from __future__ import annotations

INSTRUCTIONS = {
    "contradict": "Answer the question, but state a fact that contradicts the context.",
    "ignore": "Answer the question in general terms, without using the context.",
    "invent": "Answer the question and add a confident fact that is not in the context.",
}


def policy_prompt(kind: str, question: str, evidence: list[str]) -> str:
    ctx = "\n".join(evidence)
    return f"{INSTRUCTIONS[kind]}\n\nContext:\n{ctx}\n\nQuestion: {question}\nAnswer:"


class PolicyGenerator:
    """Greedy generation with a local causal LM (safetensors only, never fetched)."""

    def __init__(self, path: str, trust_remote_code: bool = False, max_new_tokens: int = 48, seed: int = 0):
        import torch

        from longrm.modeling import load_causal_lm, load_tokenizer

        torch.manual_seed(seed)
        self.tokenizer = load_tokenizer(path, trust_remote_code)
        self.model = load_causal_lm(path, trust_remote_code=trust_remote_code).eval()
        self.max_new_tokens = max_new_tokens
        self.name = f"policy:{path.rstrip('/').split('/')[-1]}"

    def generate(self, kind: str, question: str, evidence: list[str]) -> str:
        import torch

        prompt = policy_prompt(kind, question, evidence)
        enc = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            out = self.model.generate(
                **enc,
                do_sample=False,
                max_new_tokens=self.max_new_tokens,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=self.tokenizer.eos_token_id,
            )
        text = self.tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        return " ".join(text.split())
