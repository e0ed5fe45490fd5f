"""Configs: canonical form, pinned hash, round trips, dotted overrides."""

from __future__ import annotations

import dataclasses
import json

import pytest

import search_spaces
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


def test_pinned_hashes_cover_only_non_default_fields() -> None:
    # Changing a default renames caches: make that deliberate (pins), never accidental.
    assert canonical(TrialConfig()) == "TrialConfig:{}"
    assert config_hash(TrialConfig()) == "19f95e5798a4"
    smoke_dense = replace_dotted(DenseConfig(), {
        "data.name": "synthetic", "data.train_size": 2000, "data.val_size": 500,
        "data.test_size": 1000, "model.width": 0.125, "recipe.epochs": 2,
        "recipe.batch_size": 128})
    assert canonical(smoke_dense) == (
        'DenseConfig:{"data":{"name":"synthetic","test_size":1000,"train_size":2000,'
        '"val_size":500},"model":{"width":0.125},"recipe":{"epochs":2}}')
    assert config_hash(smoke_dense) == "80b49623a82e"
    assert config_hash(search_spaces.load("smoke").dense_config(0)) == "80b49623a82e"
    # A field set to its default value does not count: spelling a default out is no change.
    assert config_hash(replace_dotted(TrialConfig(), {"finetune.lr": 0.01})) == config_hash(
        TrialConfig())


def test_a_new_field_with_a_default_renames_nothing() -> None:
    @dataclasses.dataclass(frozen=True)
    class Grown(DenseConfig):
        extra: int = 7

    assert canonical(Grown(seed=3)).split(":", 1)[1] == canonical(DenseConfig(seed=3)).split(
        ":", 1)[1]


def test_hash_changes_with_any_field() -> None:
    base = TrialConfig()
    assert config_hash(replace_dotted(base, {"finetune.lr": 0.02})) != config_hash(base)
    assert config_hash(replace_dotted(base, {"dense.seed": 1})) != config_hash(base)


def test_round_trip_and_flatten() -> None:
    cfg = replace_dotted(TrialConfig(), {"method": "lottery", "dense.recipe.epochs": 3,
                                         "method_params": (("rate", 0.3),)})
    assert from_dict(TrialConfig, to_dict(cfg)) == cfg
    # JSON (sweep records, checkpoints) turns tuples into lists; they come back as tuples.
    assert from_dict(TrialConfig, json.loads(json.dumps(to_dict(cfg)))) == cfg
    flat = flatten(cfg)
    assert flat["method"] == "lottery"
    assert flat["dense.recipe.epochs"] == 3
    assert flat["finetune.lr"] == 0.01


def test_unknown_keys_fail() -> None:
    with pytest.raises(ValueError, match="unknown field"):
        from_dict(Recipe, {"epochs": 1, "bogus": 2})
    with pytest.raises(ValueError, match="unknown config key"):
        replace_dotted(TrialConfig(), {"nope.lr": 1})
