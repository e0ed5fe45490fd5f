"""Named sweeps and their loader. Light: no torch, Ray or MLflow imports."""

from search_spaces.loader import load, space_names
from search_spaces.spec import Cell, SweepSpec

__all__ = ["Cell", "SweepSpec", "load", "space_names"]
