"""Consistency majority voting over K judges, its audit, and the train/benchmark splits."""
