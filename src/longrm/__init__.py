"""LongRM study: long-context reward models, from short preference data to Long-RewardBench tables."""

__version__ = "0.1.0"
