"""Configs: canonical form, pinned hash, round trips, dotted overrides."""

from __future__ import annotations

import pytest

from trainables.config import (
    DenseConfig,
    Recipe,
    TrialConfig,
    canonical,
    config_hash,
    flatten,
    from_dict,
    replace_dotted,
    to_dict,
)


def test_pinned_hash_of_default_trial_config() -> None:
    # Changing a default or the field order renames every dense cache: make that deliberate.
    assert config_hash(TrialConfig()) == "b3b764ee930e"
    assert canonical(DenseConfig()).startswith('{"data":{"name":"cifar10","train_size":null')


def test_hash_changes_with_any_field() -> None:
    base = TrialConfig()
    assert config_hash(replace_dotted(base, {"finetune.lr": 0.02})) != config_hash(base)
    assert config_hash(replace_dotted(base, {"dense.seed": 1})) != config_hash(base)


def test_round_trip_and_flatten() -> None:
    cfg = replace_dotted(TrialConfig(), {"method": "lottery", "dense.recipe.epochs": 3})
    assert from_dict(TrialConfig, to_dict(cfg)) == cfg
    flat = flatten(cfg)
    assert flat["method"] == "lottery"
    assert flat["dense.recipe.epochs"] == 3
    assert flat["finetune.lr"] == 0.01


def test_unknown_keys_fail() -> None:
    with pytest.raises(ValueError, match="unknown field"):
        from_dict(Recipe, {"epochs": 1, "bogus": 2})
    with pytest.raises(ValueError, match="unknown config key"):
        replace_dotted(TrialConfig(), {"nope.lr": 1})
