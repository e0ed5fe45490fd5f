"""Checks of method parameters that need the model itself, run before anything is recorded:
a structured target out of reach with the given exclusions, an exclusion naming no layer, a
dynamic sparse method on a model with no layer to sparsify."""

from __future__ import annotations

from search_spaces.spec import SweepSpec
from tune_app.errors import UserError


def check_methods_on_model(spec: SweepSpec, num_classes: int, in_channels: int) -> None:
    """Build the sweep's model once (on CPU, no training) and let every cell whose method
    checks models (``Method.check_model`` overridden: structured and dynamic methods) check
    it; the first that cannot raises a
    one-line ``UserError``."""
    from pruning.methods import Method, make_method

    cells = []
    for cell in spec.cells():
        cfg = spec.trial_config(cell)
        method = make_method(cfg.method, dict(cfg.method_params), cfg.sparsity)
        # Only methods that check models pay for torch and a model build.
        if type(method).check_model is not Method.check_model:
            cells.append((cell, method))
    if not cells:
        return
    import torch

    from trainables.models import build_model, classifier_head

    model = build_model(spec.model.name, num_classes=num_classes, width=spec.model.width,
                        in_channels=in_channels).eval()
    example = torch.zeros(1, in_channels, 32, 32)
    checked: set[tuple] = set()
    for cell, method in cells:
        key = (method.name, method.params, method.sparsity)
        if key in checked:
            continue
        checked.add(key)
        try:
            method.check_model(model, example, classifier_head(model))
        except ValueError as exc:
            raise UserError(f"{cell.method} at sparsity {cell.sparsity:g}: "
                            f"{str(exc).removeprefix(method.name + ': ')}") from None
