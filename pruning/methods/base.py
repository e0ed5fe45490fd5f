"""The method interface: a pruning method is an algorithm over training, assembled from parts.

A method is one module ``pruning/methods/<name>.py`` with a frozen ``Params`` dataclass and a
``Method`` subclass registered as ``<name>``. Most methods only name their parts and inherit
the algorithm from a family base (private modules of this package):

* ``_oneshot.OneShotMethod``: a score (``pruning.scores.SCORES``) + an allocation
  (``pruning.allocation.ALLOCATIONS``: global, uniform, erk) or the ``n:m`` sparsity type;
* ``_dynamic.DynamicSparseMethod``: a drop score + a grow score + a drop-fraction schedule
  (``pruning.dynamic``); RigL is SET with the gradient as grow score and a cosine schedule;
* ``_channel.ChannelMethod``: a channel criterion (``pruning.channels.scores``) + a channel
  allocation + surgery (``pruning.channels``).

``traits`` (one frozen ``Traits``) tells the trial flow what the method starts from and how
it retrains. The trial flow (``trainables.trial``) drives the hooks:

* ``rounds()`` rounds, each starting with ``begin_round`` (prune, rewind, or remove channels)
  followed by training; IMP has several, most methods one;
* ``after_backward`` and ``after_step`` every optimizer step (gradual and dynamic methods
  return a ``MaskUpdate`` there), ``end_epoch`` after every epoch (soft filter pruning);
* ``selectable`` says which steps may supply the best-validation checkpoint (only once the
  method is at its final sparsity), ``finalize`` runs once on the selected model;
* ``state_dict`` / ``load_state_dict`` carry whatever the method needs to resume mid-trial.

Method modules must stay cheap to import: no torch at module level. The CLI checks method
names and parameters before it loads torch (an error answers in well under two seconds), so a
method imports its torch-based pieces inside its hooks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pruning.typed import build

if TYPE_CHECKING:  # torch stays out of the import: see the module docstring
    import torch
    from torch import nn

    from pruning.masks import MaskUpdate

    Masks = dict[str, torch.Tensor]

START_FROM = ("init", "rewind", "final")
RETRAINING = ("finetune", "lr_rewind", "weight_rewind", "from_init")


@dataclass(frozen=True)
class Traits:
    """What the trial flow needs to know about a method, in one place.

    ``start_from``: which dense weights the model holds when the first round starts
    (``init`` = theta_0, ``rewind`` = theta_k, ``final`` = the trained model).
    ``retraining``: how it retrains: ``finetune`` (the space's finetune recipe), ``lr_rewind``
    (the dense schedule's last epochs replayed), ``weight_rewind`` (the dense schedule from
    rewind_epoch), ``from_init`` (the whole dense recipe again from theta_0: sparse training
    from scratch). ``fixed_sparsity``: the one sparsity the method runs at, whatever the sweep
    asks (0 for the unpruned control), or None. ``structured``: the result is a smaller dense
    network (channels removed), saved as such. ``resized_in_training``: channels are removed at
    a round start, so a mid-trial checkpoint must hold the smaller model's structure.
    ``dynamic``: connections are pruned and regrown while training; updates are logged as
    ``dst.pruned`` / ``dst.regrown`` at their optimizer step. ``cache_rounds``: rounds before the
    last do not depend on the target sparsity beyond the round's own, so they are cached in
    shared storage and reused by every trial of the seed with the same parameters (IMP,
    group_norm); other multi-round methods train every round inside the trial."""

    start_from: str = "final"
    retraining: str = "finetune"
    fixed_sparsity: float | None = None
    structured: bool = False
    resized_in_training: bool = False
    dynamic: bool = False
    cache_rounds: bool = False

    def __post_init__(self) -> None:
        if self.start_from not in START_FROM:
            raise ValueError(f"start_from: one of {', '.join(START_FROM)}")
        if self.retraining not in RETRAINING:
            raise ValueError(f"retraining: one of {', '.join(RETRAINING)}")


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

    model: nn.Module
    masks: Masks | None
    structured: bool
    info: dict[str, float] = field(default_factory=dict)


# calibration(batches) -> that many (inputs, labels) training batches on the trial's device,
# the same batches for the same trial seed whenever it is called.
Calibration = Callable[[int], Iterator[tuple["torch.Tensor", "torch.Tensor"]]]


def _no_calibration(batches: int) -> Iterator[tuple[Any, Any]]:
    raise ValueError("this context has no calibration data")


@dataclass
class MethodContext:
    """What a method may use at a round's start: the target, an example input, layers whose
    output width must stay (the classifier), the dense run's weights (``init``, ``rewind``,
    ``final``), its own random generator, the round's training length, and ``calibration``:
    seeded training batches for data-aware scores (SNIP, Taylor), drawn from a stream of
    their own so that methods which never call it see the same random numbers as before."""

    sparsity: float
    example_input: torch.Tensor
    ignored_layers: list[nn.Module]
    dense_weights: Callable[[str], dict[str, torch.Tensor]]
    generator: torch.Generator
    steps_per_epoch: int
    epochs: int
    calibration: Calibration = _no_calibration

    @property
    def total_steps(self) -> int:
        """Optimizer steps in the round."""
        return self.steps_per_epoch * self.epochs


class Method:
    """Base class: a one-round method that does nothing during training.

    Subclasses set the class attributes and override the hooks they need."""

    name: ClassVar[str] = "base"
    Params: ClassVar[type[MethodParams]] = MethodParams
    traits: ClassVar[Traits] = Traits()

    def __init__(self, params: MethodParams, sparsity: float) -> None:
        self.params = params
        self.sparsity = float(sparsity)

    # -- planning ---------------------------------------------------------------------------
    @classmethod
    def check(cls, params: MethodParams, budget: Budget) -> None:
        """Raise ValueError (one line) when this method cannot run with ``budget``."""
        params.check()
        fixed = cls.traits.fixed_sparsity
        if fixed is not None:
            if budget.sparsity != fixed:
                what = "the unpruned control" if fixed == 0 else "fixed"
                raise ValueError(f"{cls.name} is {what}: its sparsity is {fixed:g}")
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
        that start from or score the trained model, none for those that only use theta_0."""
        if self.traits.start_from == "init" and self.traits.retraining == "from_init":
            return 0
        return dense_epochs

    # -- hooks ------------------------------------------------------------------------------
    def check_model(self, model: nn.Module, example_input: torch.Tensor,
                    ignored: list[nn.Module]) -> None:
        """Raise ValueError (one line) for a model these parameters cannot prune; run by the
        CLI on the sweep's model before anything is recorded."""

    def setup(self, r: int, ctx: MethodContext) -> None:
        """Called at round ``r``'s start, fresh or resumed, before any other hook."""

    def begin_round(self, r: int, model: nn.Module, masks: Masks | None,
                    ctx: MethodContext) -> PruneResult:
        """Prepare round ``r``: ``model`` holds the previous round's trained weights (the dense
        weights named by ``start_from`` in round 0) and ``masks`` its masks."""
        return PruneResult(model, masks, structured=False)

    def after_backward(self, step: int, model: nn.Module) -> None:
        """After ``loss.backward()``, before gradients are masked (dense gradients)."""

    def after_step(self, step: int, model: nn.Module, optimizer: torch.optim.Optimizer,
                   masks: Masks | None) -> MaskUpdate | None:
        """After optimizer step ``step``: new masks (a ``pruning.masks.MaskUpdate``, which may
        name regrown positions), or None to keep the current ones."""
        return None

    def end_epoch(self, epoch: int, model: nn.Module, masks: Masks | None
                  ) -> MaskUpdate | None:
        """After epoch ``epoch`` (1-based): new masks, or None."""
        return None

    def selectable(self, step: int) -> bool:
        """Whether the model after ``step`` steps may be chosen as the best checkpoint."""
        return True

    def finalize(self, model: nn.Module, masks: Masks | None,
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
