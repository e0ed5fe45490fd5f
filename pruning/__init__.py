"""Pruning methods and their measurements. Works without Ray or MLflow (usable from a notebook)."""
