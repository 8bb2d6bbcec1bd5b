"""Eval harness: how well a model does with `run_code` against plain tool calling,
on the same tasks. Run it with `python -m evals run` (see evals/README.md)."""
