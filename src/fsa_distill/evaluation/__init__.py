"""Evaluation: generation, scoring on the benchmark views, zero-shot, LLM evaluation, reports."""
