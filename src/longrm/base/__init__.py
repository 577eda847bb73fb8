"""The embedded study's base model, a product of its own (`make base`, config/base.yaml): a tokenizer and a
small decoder pre-trained on the pinned corpus snapshot until it binds a value to its entity, shipped under
models/base with its learning curves, provenance and a manifest of hashes that the study checks."""
