"""The method interface: a pruning method is an algorithm over training (scores, allocation,
schedule and surgery), not a one-off function.

A method is one module ``pruning/methods/<name>.py`` with a frozen ``Params`` dataclass and a
``Method`` subclass registered as ``<name>``. The trial flow (``trainables.trial``) drives it:

* ``rounds()`` rounds, each starting with ``begin_round`` (prune, rewind, or remove channels)
  followed by training; IMP has several, everything else one;
* ``after_backward`` and ``after_step`` every optimizer step (gradual and dynamic methods
  return new masks there), ``end_epoch`` after every epoch (soft filter pruning);
* ``selectable`` says which steps may supply the best-validation checkpoint (only once the
  method is at its final sparsity), ``finalize`` runs once on the selected model;
* ``state_dict`` / ``load_state_dict`` carry whatever the method needs to resume mid-trial.

Scores, allocations, schedules and surgery are separate modules (``pruning.scores``,
``pruning.allocation``, ``pruning.schedules``, ``pruning.surgery``) that methods combine.

Method modules must stay cheap to import: no torch at module level. The CLI checks method
names and parameters before it loads torch (an error answers in well under two seconds), so a
method imports its torch-based pieces inside its hooks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pruning.typed import build

RETRAINING = ("finetune", "lr_rewind", "weight_rewind", "from_init")
START_FROM = ("init", "rewind", "final")


@dataclass(frozen=True)
class MethodParams:
    """A method's parameters: subclasses add fields with defaults and range checks."""

    def check(self) -> None:
        """Raise ValueError for values the method cannot run with; the message starts with
        the field's name (``rate: must be in (0, 1), got 1.5``)."""

    def items(self) -> list[tuple[str, Any]]:
        """(name, value) of every parameter, defaults included: logged as ``method.<name>``."""
        return [(f.name, getattr(self, f.name)) for f in dataclasses.fields(self)]


@dataclass(frozen=True)
class Budget:
    """What the sweep plans for a trial, for checks that span parameters and recipes."""

    sparsity: float
    dense_epochs: int
    rewind_epoch: int
    retrain_epochs: int


@dataclass
class PruneResult:
    """A model after a pruning step: ``masks`` (param name -> bool keep-mask) for masked
    methods, None when nothing is masked (channels physically removed, or nothing pruned);
    ``info`` holds facts worth logging as ``prune.<key>``."""

    model: Any
    masks: dict[str, Any] | None
    structured: bool
    info: dict[str, float] = field(default_factory=dict)


@dataclass
class MethodContext:
    """What a method may use at a round's start: the target, an example input, layers whose
    output width must stay (the classifier), the dense run's weights (``init``, ``rewind``,
    ``final``), its own random generator, and the round's training length."""

    sparsity: float
    example_input: Any
    ignored_layers: list[Any]
    dense_weights: Callable[[str], dict[str, Any]]
    generator: Any
    steps_per_epoch: int
    epochs: int

    @property
    def total_steps(self) -> int:
        """Optimizer steps in the round."""
        return self.steps_per_epoch * self.epochs


class Method:
    """Base class: a one-round method that does nothing during training.

    Subclasses set the class attributes and override the hooks they need."""

    name: ClassVar[str] = "base"
    Params: ClassVar[type[MethodParams]] = MethodParams
    structured: ClassVar[bool] = False
    # Which dense weights the model holds when the first round starts.
    start_from: ClassVar[str] = "final"
    # How it retrains: fine-tuning (the space's finetune recipe), lr_rewind (the dense
    # schedule's last epochs replayed), weight_rewind (the dense schedule from rewind_epoch),
    # from_init (the whole dense recipe again from theta_0: sparse training from scratch).
    retraining: ClassVar[str] = "finetune"
    # The unpruned control is the only method that runs at sparsity 0.
    unpruned: ClassVar[bool] = False
    # Rounds before the last are cached in shared storage (IMP).
    cache_rounds: ClassVar[bool] = False
    # Prunes and regrows connections while training (DSR, SET, RigL): its mask updates are
    # logged as dst.pruned / dst.regrown at their optimizer step.
    dynamic: ClassVar[bool] = False

    def __init__(self, params: MethodParams, sparsity: float) -> None:
        self.params = params
        self.sparsity = float(sparsity)

    # -- planning ---------------------------------------------------------------------------
    @classmethod
    def check(cls, params: MethodParams, budget: Budget) -> None:
        """Raise ValueError (one line) when this method cannot run with ``budget``."""
        params.check()
        if cls.unpruned:
            if budget.sparsity != 0:
                raise ValueError(f"{cls.name} is the unpruned control: its sparsity is 0")
        elif not 0.0 < budget.sparsity < 1.0:
            what = "only the unpruned control runs at sparsity 0" if budget.sparsity == 0 \
                else "sparsity must be in (0, 1)"
            raise ValueError(f"{cls.name}: sparsity {budget.sparsity:g}: {what}")
        if budget.retrain_epochs < 1:
            raise ValueError(f"{cls.name}: no retraining epochs left (rewind_epoch "
                             f"{budget.rewind_epoch} of dense.epochs {budget.dense_epochs})")

    def rounds(self) -> int:
        """How many prune-and-train rounds the method runs."""
        return 1

    def round_sparsity(self, r: int) -> float:
        """Target sparsity after round ``r`` (0-based) is set up."""
        return self.sparsity

    def round_epochs(self, r: int, planned: int) -> int:
        """Epochs round ``r`` trains; ``planned`` is the retraining schedule's length."""
        return planned

    def dense_epochs_used(self, dense_epochs: int, rewind_epoch: int) -> int:
        """Dense epochs the result depends on (budget accounting): all of them for methods
        that start from or score the trained model."""
        return dense_epochs

    # -- hooks ------------------------------------------------------------------------------
    def setup(self, r: int, ctx: MethodContext) -> None:
        """Called at round ``r``'s start, fresh or resumed, before any other hook."""

    def begin_round(self, r: int, model: Any, masks: dict[str, Any] | None,
                    ctx: MethodContext) -> PruneResult:
        """Prepare round ``r``: ``model`` holds the previous round's trained weights (the dense
        weights named by ``start_from`` in round 0) and ``masks`` its masks."""
        return PruneResult(model, masks, structured=False)

    def after_backward(self, step: int, model: Any) -> None:
        """After ``loss.backward()``, before gradients are masked (dense gradients)."""

    def after_step(self, step: int, model: Any, optimizer: Any,
                   masks: dict[str, Any] | None) -> dict[str, Any] | None:
        """After optimizer step ``step``: new masks (a dict, or a ``pruning.regrowth.MaskUpdate``
        naming regrown positions), or None to keep the current ones."""
        return None

    def end_epoch(self, epoch: int, model: Any, masks: dict[str, Any] | None
                  ) -> dict[str, Any] | None:
        """After epoch ``epoch`` (1-based): new masks, or None."""
        return None

    def selectable(self, step: int) -> bool:
        """Whether the model after ``step`` steps may be chosen as the best checkpoint."""
        return True

    def finalize(self, model: Any, masks: dict[str, Any] | None,
                 ctx: MethodContext) -> PruneResult | None:
        """On the selected model at the end of training: a changed model, or None."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """What a resumed trial needs to continue exactly."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state_dict()`` output."""


def parse_params(cls: type[Method], raw: Mapping[str, Any] | None) -> MethodParams:
    """``cls.Params`` from plain values, checked; ValueError names ``method_params.<name>``."""
    where = f"method_params.{cls.name}"
    params = build(cls.Params, dict(raw or {}), where)
    try:
        params.check()
    except ValueError as exc:  # checks name the field; say whose field it is
        raise ValueError(f"{where}.{exc}") from None
    return params
