"""MLflow runs -> pandas -> statistics, plots, tables and a report (no Ray, no torch)."""

from analysis.load import load_runs
from analysis.stats import summarize

__all__ = ["load_runs", "summarize"]
