"""The Tune trainables and MLflow reporters: everything in ``trainables.adapters`` imports Ray
or MLflow; everything else in ``trainables/`` runs without Ray or MLflow."""
