"""Multimodal benchmark: providers, tasks, metrics, runner, cache, cost ledger and reports."""
