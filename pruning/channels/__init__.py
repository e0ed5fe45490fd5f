"""Structured pruning: channel groups (torch-pruning's dependency graph), channel criteria
(``scores``), how many channels each layer keeps (``allocation``), and surgery that removes
them (``surgery``). This module only names the channel allocations, so that parameter checks
need no torch."""

CHANNEL_ALLOCATIONS = ("uniform", "global")
