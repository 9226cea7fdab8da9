"""Benchmark scripts; each prints its figures (run them from the repository root)."""
