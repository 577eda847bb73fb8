"""Short-to-Long synthesis: short preference items -> long-context BenchItems at target lengths."""
