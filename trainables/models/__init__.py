"""The model registry: every module of this package is one model family, a builder
``(num_classes, width, in_channels) -> nn.Module`` registered under the module's name. Listing
and checking names imports no torch; plugins register more with ``MODELS.register(name)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pruning.registry import Registry

if TYPE_CHECKING:
    from torch import nn

MODELS: Registry[Callable[..., nn.Module]] = Registry.package("model", __name__, __file__)


def build_model(
    name: str, num_classes: int = 10, width: float = 1.0, in_channels: int = 3
) -> nn.Module:
    """Build a registered model by name; unknown names fail listing the known ones."""
    return MODELS.get(name)(num_classes=num_classes, width=width, in_channels=in_channels)


def classifier_head(model: nn.Module) -> list[nn.Module]:
    """The final linear layer, which structured pruning must keep at full output width: the
    model's ``fc``, else its last Linear layer; empty for a model without one."""
    from torch import nn

    fc = getattr(model, "fc", None)
    if isinstance(fc, nn.Module):
        return [fc]
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linear[-1:]
