"""The built-in sweeps: smoke (CPU, minutes), quick (one GPU, hours), paper (the seed report)."""

from __future__ import annotations

from pruning.registry import Registry
from search_spaces.spec import SweepSpec, method_recipes
from trainables.config import DataConfig, MeasureConfig, ModelConfig, Recipe

SPACES: Registry = Registry("search space")

# Lottery tickets are retrained from early (rewound) weights, not fine-tuned from trained ones,
# so they need the dense learning rate rather than the small fine-tuning one.
_LOTTERY_LR = method_recipes({"lottery": {"lr": 0.1}})
_SEED_REPORT_METHODS = ("magnitude", "structured", "lottery")


@SPACES.register("smoke")
def smoke() -> SweepSpec:
    """Width-1/8 ResNet18 on 2k/500/1k images, 2+2 epochs: a whole sweep in minutes on CPU."""
    return SweepSpec(
        name="smoke",
        description="CPU smoke test: ResNet18 width 1/8, 2k train / 500 val / 1k test, 2+2 epochs",
        methods=_SEED_REPORT_METHODS,
        sparsities=(0.5, 0.9),
        seeds=(0,),
        data=DataConfig(name="synthetic", train_size=2000, val_size=500, test_size=1000),
        model=ModelConfig(name="resnet18", width=0.125),
        dense=Recipe(epochs=2, lr=0.1, batch_size=128, patience=0),
        rewind_epoch=1,
        finetune=Recipe(epochs=2, lr=0.02, batch_size=128, patience=2),
        method_recipes=_LOTTERY_LR,
        measure=MeasureConfig(warmup=2, repeats=10, throughput_batch=64),
    )


@SPACES.register("quick")
def quick() -> SweepSpec:
    """Full ResNet18 and data, 30 dense / 15 fine-tune epochs: one GPU, a few hours."""
    return SweepSpec(
        name="quick",
        description="One GPU: full ResNet18 on full CIFAR-10, 30 dense / 15 fine-tune epochs",
        methods=_SEED_REPORT_METHODS,
        sparsities=(0.5, 0.9),
        seeds=(42,),
        data=DataConfig(name="cifar10"),
        model=ModelConfig(name="resnet18", width=1.0),
        dense=Recipe(epochs=30, lr=0.1, patience=0),
        rewind_epoch=1,
        finetune=Recipe(epochs=15, lr=0.01, patience=5),
        method_recipes=_LOTTERY_LR,
        measure=MeasureConfig(warmup=5, repeats=30, throughput_batch=256),
    )


@SPACES.register("paper")
def paper() -> SweepSpec:
    """The seed report's grid: 3 methods x 5 sparsities x 3 seeds, 200 / up to 100 epochs."""
    return SweepSpec(
        name="paper",
        description="Seed report grid: magnitude, structured, lottery x 5 sparsities x 3 seeds",
        methods=_SEED_REPORT_METHODS,
        sparsities=(0.3, 0.5, 0.7, 0.9, 0.95),
        seeds=(42, 123, 456),
        data=DataConfig(name="cifar10"),
        model=ModelConfig(name="resnet18", width=1.0),
        dense=Recipe(epochs=200, lr=0.1, weight_decay=5e-4, patience=0),
        rewind_epoch=2,
        finetune=Recipe(epochs=100, lr=0.01, weight_decay=5e-4, patience=15),
        method_recipes=_LOTTERY_LR,
        measure=MeasureConfig(warmup=10, repeats=50, throughput_batch=256),
    )
