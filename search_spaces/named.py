"""The built-in sweeps: smoke (CPU, minutes), quick (one GPU, hours), paper (the ResNet18 /
CIFAR-10 comparison of magnitude, structured and lottery-ticket pruning this project started
from, with controls), rewinding (Renda et al. 2020 at equal budgets), filters (the structured
family of the structured-pruning review this project builds on), dynamic (sparse training from
scratch: DSR, SET and RigL) and CPU-sized variants of the last three."""

from __future__ import annotations

import dataclasses

from pruning.registry import Registry
from search_spaces.spec import SweepSpec, method_recipes
from trainables.config import DataConfig, MeasureConfig, ModelConfig, Recipe

SPACES: Registry = Registry("search space")

_STARTING_COMPARISON_METHODS = ("magnitude", "structured", "lottery")
_SMOKE_DATA = DataConfig(name="synthetic", train_size=2000, val_size=500, test_size=1000)
_SMOKE_MODEL = ModelConfig(name="resnet18", width=0.125)
# One thread: a smoke sweep shares a laptop's cores with whatever else runs there, and OpenMP
# threads spinning against another process's make timings crawl (tens of times slower).
_SMOKE_MEASURE = MeasureConfig(warmup=2, repeats=5, throughput_batch=32, threads=1)


@SPACES.register("smoke")
def smoke() -> SweepSpec:
    """Width-1/8 ResNet18 on 2k/500/1k images, 2+2 epochs: a whole sweep in minutes on CPU.

    With the ``unpruned`` control (the dense model retrained as long, without pruning): after
    2 dense epochs, pruned models that retrain 2 more often beat the dense baseline, and the
    control shows how much of that is the extra training."""
    return SweepSpec(
        name="smoke",
        description="CPU smoke test: ResNet18 width 1/8, 2k train / 500 val / 1k test, 2+2 "
                    "epochs, with the unpruned control",
        methods=(*_STARTING_COMPARISON_METHODS, "unpruned"),
        sparsities=(0.5, 0.9),
        seeds=(0,),
        data=_SMOKE_DATA,
        model=_SMOKE_MODEL,
        dense=Recipe(epochs=2, lr=0.1, batch_size=128, patience=0),
        rewind_epoch=1,
        finetune=Recipe(epochs=2, lr=0.02, batch_size=128, patience=2),
        measure=_SMOKE_MEASURE,
    )


@SPACES.register("quick")
def quick() -> SweepSpec:
    """Full ResNet18 and data, 30 dense / 15 fine-tune epochs: one GPU, a few hours."""
    return SweepSpec(
        name="quick",
        description="One GPU: full ResNet18 on full CIFAR-10, 30 dense / 15 fine-tune epochs",
        methods=_STARTING_COMPARISON_METHODS,
        sparsities=(0.5, 0.9),
        seeds=(42,),
        data=DataConfig(name="cifar10"),
        model=ModelConfig(name="resnet18", width=1.0),
        dense=Recipe(epochs=30, lr=0.1, patience=0),
        rewind_epoch=1,
        finetune=Recipe(epochs=15, lr=0.01, patience=5),
        measure=MeasureConfig(warmup=5, repeats=30, throughput_batch=256),
    )


@SPACES.register("paper")
def paper() -> SweepSpec:
    """The grid of the ResNet18 / CIFAR-10 comparison of magnitude, structured and
    lottery-ticket pruning this project started from (3 methods x 5 sparsities x 3 seeds,
    200 / up to 100 epochs) plus the controls a reviewer asks for: ``random`` and
    ``unpruned``."""
    return SweepSpec(
        name="paper",
        description="Full ResNet18 on CIFAR-10: magnitude, structured, lottery + random and "
                    "unpruned controls, 5 sparsities x 3 seeds",
        methods=(*_STARTING_COMPARISON_METHODS, "random", "unpruned"),
        sparsities=(0.3, 0.5, 0.7, 0.9, 0.95),
        seeds=(42, 123, 456),
        data=DataConfig(name="cifar10"),
        model=ModelConfig(name="resnet18", width=1.0),
        dense=Recipe(epochs=200, lr=0.1, weight_decay=5e-4, patience=0),
        rewind_epoch=2,
        finetune=Recipe(epochs=100, lr=0.01, weight_decay=5e-4, patience=15),
        measure=MeasureConfig(warmup=10, repeats=50, throughput_batch=256),
    )


@SPACES.register("rewinding")
def rewinding() -> SweepSpec:
    """Renda et al. 2020 ("Comparing Rewinding and Fine-tuning in Neural Network Pruning") at
    equal retraining budgets: every method retrains E = 40 epochs of a T = 160 epoch dense
    run; fine-tuning (magnitude, cosine from 0.01), learning-rate rewinding (lr_rewind: the
    dense schedule's last 40 epochs), weight rewinding (lottery, one shot, and imp, iterative;
    rewound to epoch T - E = 120 as Renda et al. do), and the unpruned control."""
    return SweepSpec(
        name="rewinding",
        description="Renda et al. 2020: fine-tuning vs lr_rewind vs lottery vs imp (+ unpruned) "
                    "at equal retraining budgets (40 of 160 epochs)",
        methods=("magnitude", "lr_rewind", "lottery", "imp", "unpruned"),
        sparsities=(0.5, 0.8, 0.9, 0.95),
        seeds=(42, 123, 456),
        data=DataConfig(name="cifar10"),
        model=ModelConfig(name="resnet18", width=1.0),
        dense=Recipe(epochs=160, lr=0.1, weight_decay=5e-4, patience=0),
        rewind_epoch=120,
        finetune=Recipe(epochs=40, lr=0.01, weight_decay=5e-4, patience=0),
        equal_budget=True,
        method_params=method_recipes({"imp": {"rate": 0.2}}),
        measure=MeasureConfig(warmup=10, repeats=50, throughput_batch=256),
    )


@SPACES.register("rewinding-smoke")
def rewinding_smoke() -> SweepSpec:
    """``rewinding`` at smoke scale for CPUs: width-1/8 ResNet18 on the smoke data, T = 3
    dense epochs, E = 2 retraining epochs, rewind to epoch 1, one seed."""
    return _at_smoke_scale(
        rewinding(), "rewinding-smoke",
        "rewinding at CPU smoke scale: width 1/8, synthetic 2k images, 3 dense / 2 retraining "
        "epochs, one seed", dense_epochs=3, sparsities=(0.5, 0.8))


def _at_smoke_scale(spec: SweepSpec, name: str, description: str, dense_epochs: int,
                    sparsities: tuple[float, ...]) -> SweepSpec:
    """``spec`` on the smoke data and model, one seed, 2 retraining epochs, rewind epoch 1."""
    return dataclasses.replace(
        spec, name=name, description=description, sparsities=sparsities, seeds=(0,),
        data=_SMOKE_DATA, model=_SMOKE_MODEL,
        dense=Recipe(epochs=dense_epochs, lr=0.1, batch_size=128, patience=0), rewind_epoch=1,
        finetune=Recipe(epochs=2, lr=0.02, batch_size=128, patience=0), measure=_SMOKE_MEASURE,
    )


_FILTER_METHODS = ("structured", "group_l1", "fpgm", "taylor", "sfp", "group_norm", "magnitude",
                   "unpruned")


@SPACES.register("filters")
def filters() -> SweepSpec:
    """The structured family the structured-pruning review this project builds on compares:
    Li et al.'s L1 filters, group L1, FPGM, first-order Taylor importance (Molchanov et al.
    2019), soft filter pruning and group-norm regularization, at equal parameter sparsity and
    equal fine-tuning epochs, beside unstructured magnitude and the unpruned control."""
    return SweepSpec(
        name="filters",
        description="Structured family (structured, group_l1, fpgm, taylor, sfp, group_norm) "
                    "+ magnitude and unpruned, 4 sparsities x 3 seeds",
        methods=_FILTER_METHODS,
        sparsities=(0.3, 0.5, 0.7, 0.9),
        seeds=(42, 123, 456),
        data=DataConfig(name="cifar10"),
        model=ModelConfig(name="resnet18", width=1.0),
        dense=Recipe(epochs=160, lr=0.1, weight_decay=5e-4, patience=0),
        rewind_epoch=2,
        finetune=Recipe(epochs=40, lr=0.01, weight_decay=5e-4, patience=0),
        equal_budget=True,
        measure=MeasureConfig(warmup=10, repeats=50, throughput_batch=256),
    )


@SPACES.register("filters-smoke")
def filters_smoke() -> SweepSpec:
    """``filters`` at smoke scale for CPUs: width-1/8 ResNet18 on the smoke data, 2 dense and
    2 fine-tuning epochs, one seed."""
    return _at_smoke_scale(
        filters(), "filters-smoke",
        "filters at CPU smoke scale: width 1/8, synthetic 2k images, 2 dense / 2 fine-tuning "
        "epochs, one seed", dense_epochs=2, sparsities=(0.5, 0.9))


_DYNAMIC_METHODS = ("dsr", "set", "rigl", "snip", "static", "magnitude", "lamp", "gmp",
                    "random", "unpruned")


@SPACES.register("dynamic")
def dynamic() -> SweepSpec:
    """Dynamic sparse training (Mostafa & Wang 2019, Mocanu et al. 2018, Evci et al. 2020):
    DSR, SET and RigL train sparse from theta_0 for the dense run's epochs, beside the
    sparse trainers without mask updates (SNIP's mask at theta_0, Lee et al. 2019, and the
    fixed random ERK mask, ``static``), one-shot magnitude and LAMP (Lee et al. 2021), gradual
    magnitude, the random mask and the unpruned control, each on its own budget
    (``epochs_total`` in the report: the sparse trainers use T epochs, the others T plus
    their retraining)."""
    return SweepSpec(
        name="dynamic",
        description="Dynamic sparse training (dsr, set, rigl) beside snip, static, "
                    "magnitude, lamp, gmp, random and unpruned, 3 sparsities x 3 seeds",
        methods=_DYNAMIC_METHODS,
        sparsities=(0.8, 0.9, 0.95),
        seeds=(42, 123, 456),
        data=DataConfig(name="cifar10"),
        model=ModelConfig(name="resnet18", width=1.0),
        dense=Recipe(epochs=160, lr=0.1, weight_decay=5e-4, patience=0),
        rewind_epoch=2,
        finetune=Recipe(epochs=40, lr=0.01, weight_decay=5e-4, patience=0),
        measure=MeasureConfig(warmup=10, repeats=50, throughput_batch=256),
    )


@SPACES.register("dynamic-smoke")
def dynamic_smoke() -> SweepSpec:
    """``dynamic`` at smoke scale for CPUs: dsr, set and rigl beside magnitude and the
    unpruned control, width 1/8, 3 dense epochs (the sparse trainers' budget), one seed."""
    return dataclasses.replace(_at_smoke_scale(
        dynamic(), "dynamic-smoke",
        "dynamic at CPU smoke scale: dsr, set, rigl, magnitude, unpruned; width 1/8, synthetic "
        "2k images, 3 dense / 2 retraining epochs, one seed", dense_epochs=3,
        sparsities=(0.9,)), methods=("dsr", "set", "rigl", "magnitude", "unpruned"))
