"""Named spaces and YAML space files: resolution, inheritance, overrides, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

import search_spaces
from search_spaces.loader import SpaceError
from search_spaces.validation import validate

METHODS = ["dsr", "fpgm", "gmp", "group_l1", "group_norm", "imp", "lamp", "lottery", "lr_rewind",
           "magnitude", "nm", "random", "rigl", "set", "sfp", "snip", "static", "structured",
           "taylor", "unpruned"]
DATASETS = ["cifar10", "fashion_mnist", "synthetic"]


def test_named_spaces_match_design() -> None:
    paper = search_spaces.load("paper")
    # The starting comparison's grid plus the controls: random at every sparsity, unpruned once.
    assert paper.methods == ("magnitude", "structured", "lottery", "random", "unpruned")
    assert paper.sparsities == (0.3, 0.5, 0.7, 0.9, 0.95)
    assert paper.seeds == (42, 123, 456)
    assert (paper.dense.epochs, paper.finetune.epochs) == (200, 100)
    assert len(paper.cells()) == 4 * 5 * 3 + 3
    assert {c.sparsity for c in paper.cells() if c.method == "unpruned"} == {0.0}
    # Lottery retrains the rest of the dense schedule from the rewind epoch (T - k).
    assert paper.finetune_for("lottery").epochs == 200 - paper.rewind_epoch
    smoke = search_spaces.load("smoke")
    assert smoke.model.width == 0.125
    assert (smoke.data.train_size, smoke.data.val_size, smoke.data.test_size) == (2000, 500, 1000)
    assert (smoke.dense.epochs, smoke.finetune.epochs) == (2, 2)
    # The unpruned control, as in `paper`: 3 methods x 2 sparsities + 1 control cell per seed.
    assert smoke.methods == ("magnitude", "structured", "lottery", "unpruned")
    assert len(smoke.cells()) == 3 * 2 + 1
    assert [c.sparsity for c in smoke.cells() if c.method == "unpruned"] == [0.0]
    quick = search_spaces.load("quick")
    assert (quick.dense.epochs, quick.finetune.epochs) == (30, 15)
    # Dynamic sparse training trains from theta_0 with the dense recipe, all of its epochs.
    dynamic = search_spaces.load("dynamic")
    assert {"snip", "static", "lamp"} <= set(dynamic.methods)
    for method in ("dsr", "set", "rigl", "snip", "static"):
        assert dynamic.finetune_for(method).epochs == dynamic.dense.epochs == 160
        assert dynamic.finetune_for(method).lr == dynamic.dense.lr
    assert search_spaces.load("dynamic-smoke").finetune_for("rigl").epochs == 3
    for name in search_spaces.space_names():
        validate(search_spaces.load(name), METHODS, DATASETS)


def test_trial_config_uses_method_recipe() -> None:
    smoke = search_spaces.load("smoke")
    cells = {c.method: c for c in smoke.cells()}
    # Weight rewinding retrains with the dense recipe's learning rate.
    assert smoke.trial_config(cells["lottery"]).finetune.lr == smoke.dense.lr
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
        ({"sparsities": (0.0, 0.5)}, "only the unpruned control runs at sparsity 0"),
        ({"methods": ("imp",), "method_params": (("imp", (("rate", 1.5),)),)},
         r"method_params.imp.rate: must be in \(0, 1\), got 1.5"),
        ({"methods": ("imp",), "method_params": (("imp", (("rat", 0.2),)),)},
         r"method_params.imp: unknown parameter 'rat' \(known: rate\)"),
        ({"methods": ("gmp",), "method_params": (("gmp", (("start", 0.6),)),)},
         r"method_params.gmp.end: must come after start \(0.6\)"),
        ({"methods": ("gmp",), "method_params": (("gmp", (("end", 1.5),)),)},
         r"method_params.gmp.end: must be within \[0, 1\]"),
        ({"methods": ("lottery",), "rewind_epoch": 2}, "no retraining epochs left"),
        ({"methods": ("lr_rewind",), "finetune.epochs": 5}, "dense schedule has only 2"),
        ({"method_params": (("obd", (("x", 1),)),)}, "method_params: unknown method 'obd'"),
    ],
)
def test_validation(override: dict, message: str) -> None:
    spec = search_spaces.load("smoke").with_overrides(override)
    with pytest.raises(SpaceError, match=message):
        validate(spec, METHODS, DATASETS)


def test_unknown_named_space_lists_known() -> None:
    known = ("known: dynamic, dynamic-smoke, filters, filters-smoke, paper, quick, rewinding, "
             "rewinding-smoke, smoke")
    with pytest.raises(SpaceError, match=known):
        search_spaces.load("nope")


def test_unpruned_adds_one_cell_per_seed_whatever_the_sparsities() -> None:
    spec = search_spaces.load("smoke").with_overrides(
        {"methods": ("magnitude", "unpruned"), "sparsities": (0.5, 0.9), "seeds": (0, 1)})
    assert [(c.method, c.sparsity) for c in spec.cells() if c.seed == 0] == [
        ("magnitude", 0.5), ("magnitude", 0.9), ("unpruned", 0.0)]
    assert len(spec.cells()) == 6


def test_rewinding_space_gives_every_method_the_same_retraining_budget() -> None:
    spec = search_spaces.load("rewinding")
    assert spec.equal_budget and spec.rewind_epoch == spec.dense.epochs - spec.finetune.epochs
    epochs = {m: spec.finetune_for(m).epochs for m in spec.methods}
    assert set(epochs.values()) == {spec.finetune.epochs}, epochs
    assert spec.finetune_for("lr_rewind").lr == spec.dense.lr
    smoke = search_spaces.load("rewinding-smoke")
    assert smoke.methods == spec.methods and smoke.model.width == 0.125


def test_method_params_in_space_files_merge_over_the_parent(tmp_path: Path) -> None:
    parent = tmp_path / "parent.yaml"
    parent.write_text("extends: smoke\nmethods: [imp, gmp]\n"
                      "method_params: {imp: {rate: 0.3}, gmp: {end: 0.4}}\n")
    child = tmp_path / "child.yaml"
    child.write_text("extends: parent.yaml\nmethod_params: {gmp: {start: 0.1}}\n")
    spec = search_spaces.load(str(child))
    assert dict(spec.method_params) == {"imp": (("rate", 0.3),),
                                        "gmp": (("end", 0.4), ("start", 0.1))}
    validate(spec, METHODS, DATASETS)
    cfg = spec.trial_config(spec.cells()[0])
    assert cfg.method == "imp" and cfg.method_params == (("rate", 0.3),)
