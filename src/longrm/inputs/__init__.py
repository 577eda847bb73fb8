"""The embedded default's inputs: raw short preference data, distractor pool, tokenizer, base model."""
