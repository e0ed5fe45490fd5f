"""Named spaces and YAML space files: resolution, inheritance, overrides, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

import search_spaces
from search_spaces.loader import SpaceError, validate

METHODS = ["lottery", "magnitude", "structured"]
DATASETS = ["cifar10", "fashion_mnist", "synthetic"]


def test_named_spaces_match_design() -> None:
    paper = search_spaces.load("paper")
    assert paper.methods == ("magnitude", "structured", "lottery")
    assert paper.sparsities == (0.3, 0.5, 0.7, 0.9, 0.95)
    assert paper.seeds == (42, 123, 456)
    assert (paper.dense.epochs, paper.finetune.epochs) == (200, 100)
    assert len(paper.cells()) == 45
    smoke = search_spaces.load("smoke")
    assert smoke.model.width == 0.125
    assert (smoke.data.train_size, smoke.data.val_size, smoke.data.test_size) == (2000, 500, 1000)
    assert (smoke.dense.epochs, smoke.finetune.epochs) == (2, 2)
    quick = search_spaces.load("quick")
    assert (quick.dense.epochs, quick.finetune.epochs) == (30, 15)
    for name in search_spaces.space_names():
        validate(search_spaces.load(name), METHODS, DATASETS)


def test_trial_config_uses_method_recipe() -> None:
    smoke = search_spaces.load("smoke")
    cells = {c.method: c for c in smoke.cells()}
    assert smoke.trial_config(cells["lottery"]).finetune.lr == 0.1
    assert smoke.trial_config(cells["magnitude"]).finetune.lr == smoke.finetune.lr
    assert smoke.trial_config(cells["magnitude"]).dense == smoke.dense_config(0)


def test_yaml_inherits_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: my-space\nextends: smoke\nmethods: [magnitude]\nsparsities: [0.9]\nseeds: [3]\n"
        "dense: {epochs: 1}\nfinetune: {lr: 0.05}\nmethod_recipes: {magnitude: {epochs: 4}}\n"
    )
    spec = search_spaces.load(str(path))
    assert spec.name == "my-space"
    assert spec.methods == ("magnitude",) and spec.sparsities == (0.9,) and spec.seeds == (3,)
    assert spec.dense.epochs == 1 and spec.dense.lr == 0.1  # inherited lr
    assert spec.model.width == 0.125  # inherited from smoke
    assert spec.finetune_for("magnitude").epochs == 4
    assert spec.finetune_for("magnitude").lr == 0.05
    child = tmp_path / "child.yaml"
    child.write_text("extends: mine.yaml\nseeds: [1, 2]\n")
    assert search_spaces.load(str(child)).methods == ("magnitude",)
    assert search_spaces.load(str(child)).seeds == (1, 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus: 1\n", "unknown key 'bogus'"),
        ("sparsities: 0.5\n", "sparsities: expected a list"),
        ("sparsities: [high]\n", "sparsities[0]: expected a number"),
        ("seeds: [1.5]\n", "seeds[0]: expected an integer"),
        ("dense: {epochs: two}\n", "dense.epochs: expected an integer"),
        ("dense: {nope: 1}\n", "unknown key 'dense.nope'"),
        ("extends: nowhere\n", "extends: unknown space 'nowhere'"),
        ("methods: [magnitude\n", "not valid YAML"),
        ("- a\n- b\n", "expected a mapping"),
    ],
)
def test_invalid_files_fail_with_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpaceError, match=message.replace("[", r"\[").replace("]", r"\]")):
        search_spaces.load(str(path))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"sparsities": (0.0,)}, "outside"),
        ({"sparsities": (1.2,)}, "outside"),
        ({"sparsities": (0.5, 0.5)}, "duplicate"),
        ({"methods": ("magnitude", "nope")}, "unknown method 'nope'"),
        ({"seeds": (-1,)}, "seeds"),
        ({"data.name": "imagenet"}, "unknown dataset"),
        ({"dense.epochs": 0}, "dense.epochs"),
        ({"rewind_epoch": 9}, "rewind_epoch"),
    ],
)
def test_validation(override: dict, message: str) -> None:
    spec = search_spaces.load("smoke").with_overrides(override)
    with pytest.raises(SpaceError, match=message):
        validate(spec, METHODS, DATASETS)


def test_unknown_named_space_lists_known() -> None:
    with pytest.raises(SpaceError, match="known: paper, quick, smoke"):
        search_spaces.load("nope")
