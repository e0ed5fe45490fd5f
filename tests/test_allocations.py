"""Allocations on numbers: how many weights each layer keeps under ``global``, ``uniform``,
``erk`` and ``matched``, which ones, and the one-shot method that chooses among them."""

from __future__ import annotations

import torch

from pruning.allocation import ALLOCATIONS, global_masks, layer_counts, layer_masks
from pruning.measure import prunable_weights
from pruning.methods import make_method
from pruning.methods.base import MethodContext
from pruning.scores import score
from trainables.models import build_model


def _scores() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    # A small layer with large values and a big one with small values: global pruning
    # empties the big one first, per-layer rules do not.
    return {"a.weight": torch.rand(4, 8, generator=g) + 1.0,
            "b.weight": torch.rand(16, 32, generator=g) * 0.1}


def _kept(masks: dict[str, torch.Tensor]) -> dict[str, int]:
    return {n: int(m.sum()) for n, m in masks.items()}


def test_global_prunes_the_lowest_scores_of_all_layers_together() -> None:
    masks = ALLOCATIONS.get("global")(_scores(), 0.5)
    total = 4 * 8 + 16 * 32
    assert sum(_kept(masks).values()) == total - round(0.5 * total)
    assert _kept(masks)["a.weight"] == 32  # every large weight survives


def test_uniform_and_erk_keep_their_rule_counts_and_the_best_of_each_layer() -> None:
    scores = _scores()
    shapes = {n: tuple(s.shape) for n, s in scores.items()}
    for rule in ("uniform", "erk"):
        masks = ALLOCATIONS.get(rule)(scores, 0.75)
        assert _kept(masks) == layer_counts(shapes, 0.75, rule), rule
        for name, keep in masks.items():
            # Every kept score is at least every dropped score of the same layer.
            assert scores[name][keep].min() >= scores[name][~keep].max(), (rule, name)
    assert _kept(ALLOCATIONS.get("uniform")(scores, 0.75)) == {"a.weight": 8, "b.weight": 128}


def test_matched_copies_the_reference_counts_and_chooses_by_its_own_scores() -> None:
    reference = _scores()
    g = torch.Generator().manual_seed(5)
    own = {n: torch.rand(s.shape, generator=g) for n, s in reference.items()}
    masks = ALLOCATIONS.get("matched")(own, 0.6, None, reference)
    assert _kept(masks) == _kept(global_masks(reference, 0.6))
    expected = layer_masks(own, _kept(global_masks(reference, 0.6)))
    assert all(torch.equal(masks[n], expected[n]) for n in masks)


def test_dead_weights_stay_dead_under_per_layer_rules() -> None:
    scores = _scores()
    alive = {n: torch.ones_like(s, dtype=torch.bool) for n, s in scores.items()}
    alive["a.weight"][0] = False
    masks = ALLOCATIONS.get("uniform")(scores, 0.5, alive)
    assert not masks["a.weight"][0].any()


def test_random_with_matched_allocation_has_magnitudes_layer_sparsities() -> None:
    torch.manual_seed(0)
    model = build_model("resnet18", width=0.0625)
    ctx = MethodContext(0.7, torch.zeros(1, 3, 32, 32), [model.fc], lambda w: {},
                        torch.Generator().manual_seed(0), 1, 1)
    magnitude_masks = global_masks(score("magnitude")(model, None), 0.7)
    result = make_method("random", {"allocation": "matched"}, 0.7).begin_round(0, model, None, ctx)
    assert _kept(result.masks) == _kept(magnitude_masks)
    # The same layer-wise counts, other weights: the criterion is what changed.
    assert all(not torch.equal(result.masks[n], magnitude_masks[n])
               for n, _ in prunable_weights(model) if _kept(magnitude_masks)[n] > 10)
