"""Channel groups: the channels that must be removed together, found by torch-pruning.

A group is one set of channels and every tensor slice that depends on it: the filters of the
layers that produce them (several when a residual sum couples them), the BatchNorm channels over
them, and the input slices of the layers that read them. Removing channel i of a group removes
all of those slices, which leaves a smaller dense network (Fang et al. 2023, "DepGraph").

``ParamCounter`` predicts the prunable parameter count of any choice of kept channels per group
in closed form (every Conv2d/Linear weight scales with kept-in x kept-out), so allocations are
solved without copying or re-tracing the model. Surgery checks the prediction against the
tensors it leaves."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch_pruning as tp
from torch import nn

from pruning.measure import PRUNABLE

_OUT = {tp.prune_conv_out_channels, tp.prune_linear_out_channels}
_IN = {tp.prune_conv_in_channels, tp.prune_linear_in_channels}
_NORM = {tp.prune_batchnorm_out_channels}


@dataclass(frozen=True)
class ChannelGroup:
    """One prunable set of ``size`` channels, named after its first producing layer."""

    name: str
    size: int
    producers: tuple[str, ...]  # layers whose output channels (filters) these are
    consumers: tuple[str, ...]  # layers that read them as input channels
    norms: tuple[str, ...]  # BatchNorm layers over them
    # (producer, BatchNorm) pairs where the BatchNorm normalizes that producer's output.
    normalized_by: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> ChannelGroup:
        """From ``dataclasses.asdict`` output (a checkpointed method's state)."""
        return cls(name=str(raw["name"]), size=int(raw["size"]),  # type: ignore[call-overload]
                   producers=tuple(raw["producers"]), consumers=tuple(raw["consumers"]),
                   norms=tuple(raw["norms"]),
                   normalized_by=tuple(tuple(p) for p in raw.get("normalized_by", ())))


def _handler(dep: object) -> object:
    return getattr(dep, "handler", None)


def dependency_graph(model: nn.Module, example_input: torch.Tensor) -> tp.DependencyGraph:
    """torch-pruning's dependency graph of ``model`` (traced on CPU with one example)."""
    return tp.DependencyGraph().build_dependency(model, example_inputs=example_input[:1])


def find_groups(
    model: nn.Module,
    example_input: torch.Tensor,
    ignored: Sequence[nn.Module] = (),
    graph: tp.DependencyGraph | None = None,
) -> list[ChannelGroup]:
    """Every channel group of ``model`` whose producers are Conv2d/Linear layers not in
    ``ignored`` (the classifier: its outputs are the classes), in network order."""
    graph = graph if graph is not None else dependency_graph(model, example_input)
    names = {id(m): n for n, m in model.named_modules()}
    groups = []
    for group in graph.get_all_groups(ignored_layers=list(ignored),
                                      root_module_types=(nn.Conv2d, nn.Linear)):
        roles: dict[str, list[str]] = {"out": [], "in": [], "norm": []}
        for dep, _ in group:
            module = dep.target.module
            name = names.get(id(module))
            if name is None:
                continue  # functional ops (add, flatten) carry no parameters
            handler = _handler(dep)
            role = "out" if handler in _OUT else "in" if handler in _IN else \
                "norm" if handler in _NORM else None
            if role is not None and name not in roles[role]:
                roles[role].append(name)
        root = group[0].dep.target.module
        modules = dict(model.named_modules())
        pairs = []
        for bn in roles["norm"]:
            inputs = [names.get(id(i.module)) for i in graph.module2node[modules[bn]].inputs]
            pairs += [(p, bn) for p in inputs if p in roles["out"]]
        groups.append(ChannelGroup(
            name=names[id(root)], size=len(group[0].idxs), producers=tuple(roles["out"]),
            consumers=tuple(roles["in"]), norms=tuple(roles["norm"]),
            normalized_by=tuple(pairs)))
    # Network order (torch-pruning's is not), so tables and figures read top to bottom.
    position = {n: i for i, n in enumerate(names.values())}
    return sorted(groups, key=lambda g: min(position[p] for p in g.producers))


def excluded_groups(groups: Iterable[ChannelGroup], patterns: Sequence[str]) -> set[str]:
    """Names of groups with a producer matching one of ``patterns`` (shell-style, on layer
    names): their filters are kept, so none of their channels can go."""
    return {g.name for g in groups
            if any(fnmatch.fnmatchcase(p, pat) for p in g.producers for pat in patterns)}


def unmatched_patterns(model: nn.Module, patterns: Sequence[str]) -> list[str]:
    """The ``patterns`` that name no Conv2d/Linear layer of ``model`` (typos)."""
    layers = [n for n, m in model.named_modules() if isinstance(m, PRUNABLE)]
    return [p for p in patterns if not any(fnmatch.fnmatchcase(n, p) for n in layers)]


class ParamCounter:
    """Prunable parameters (Conv2d/Linear weights) as a function of kept channels per group.

    A layer with ``w`` weights whose output channels belong to group O and input channels to
    group I keeps ``w * kept_O / size_O * kept_I / size_I`` of them; layers outside any group
    (the classifier's outputs, the image channels) keep that factor at 1."""

    def __init__(self, model: nn.Module, groups: Sequence[ChannelGroup]) -> None:
        modules = dict(model.named_modules())
        owner_out: dict[str, ChannelGroup] = {}
        owner_in: dict[str, ChannelGroup] = {}
        for g in groups:
            owner_out.update({p: g for p in g.producers})
            owner_in.update({c: g for c in g.consumers})
        self.layers: list[tuple[int, ChannelGroup | None, ChannelGroup | None]] = []
        for name, module in modules.items():
            if not isinstance(module, PRUNABLE):
                continue
            if isinstance(module, nn.Conv2d) and module.groups != 1:
                raise ValueError(f"structured pruning: grouped convolution {name!r} is not "
                                 "supported")
            self.layers.append((module.weight.numel(), owner_out.get(name),
                                owner_in.get(name)))
        self.dense = sum(w for w, _, _ in self.layers)

    def count(self, kept: Mapping[str, int]) -> float:
        """Prunable parameters left when group ``g`` keeps ``kept[g]`` channels (groups not in
        ``kept`` keep all)."""
        total = 0.0
        for numel, out, inp in self.layers:
            f = float(numel)
            if out is not None:
                f *= kept.get(out.name, out.size) / out.size
            if inp is not None:
                f *= kept.get(inp.name, inp.size) / inp.size
            total += f
        return total


def _zero_channels(model: nn.Module, groups: Sequence[ChannelGroup],
                   removed: Mapping[str, Sequence[int]], norm_tensors: tuple[str, ...]
                   ) -> nn.Module:
    """Zero, in place, the producers' filters (and biases) of the ``removed`` channels and
    the ``norm_tensors`` of the group's BatchNorm layers."""
    modules = dict(model.named_modules())
    by_name = {g.name: g for g in groups}
    with torch.no_grad():
        for name, idxs in removed.items():
            if not len(idxs):
                continue
            index = torch.as_tensor(list(idxs), dtype=torch.long)
            g = by_name[name]
            tensors = [getattr(modules[layer], attr, None)
                       for layer in g.producers for attr in ("weight", "bias")]
            tensors += [getattr(modules[layer], attr, None)
                        for layer in g.norms for attr in norm_tensors]
            for t in tensors:
                if t is not None:
                    t.index_fill_(0, index.to(t.device), 0.0)
    return model


def soft_zero(model: nn.Module, groups: Sequence[ChannelGroup],
              removed: Mapping[str, Sequence[int]]) -> nn.Module:
    """Soft filter pruning's step, in place: zero the producers' filters (and biases) of the
    ``removed`` channels and their BatchNorm running means, nothing else. The channels then
    output their BatchNorm shift, in training and in evaluation alike, and stay trainable:
    gradients reach the filters wherever the shift lets the following ReLU pass them."""
    return _zero_channels(model, groups, removed, ("running_mean",))


def silence(model: nn.Module, groups: Sequence[ChannelGroup],
            removed: Mapping[str, Sequence[int]]) -> nn.Module:
    """Zero, in place, everything that writes the ``removed`` channels of each group: the
    producers' filters (and biases) and the BatchNorm scale and shift. The network then
    computes exactly what it computes with those channels physically removed."""
    return _zero_channels(model, groups, removed, ("weight", "bias"))


def remove_channels(model: nn.Module, example_input: torch.Tensor,
                    groups: Sequence[ChannelGroup],
                    removed: Mapping[str, Sequence[int]]) -> nn.Module:
    """Physically remove the ``removed`` channels of each group from ``model``, in place.

    Groups prune disjoint channel dimensions, so each group's original indices stay valid while
    the others are removed."""
    modules = dict(model.named_modules())
    graph = dependency_graph(model, example_input)
    for g in groups:
        idxs = sorted(int(i) for i in removed.get(g.name, ()))
        if not idxs:
            continue
        root = modules[g.name]
        fn = tp.prune_conv_out_channels if isinstance(root, nn.Conv2d) \
            else tp.prune_linear_out_channels
        graph.get_pruning_group(root, fn, idxs=idxs).prune()
    return model


def layer_widths(model: nn.Module, groups: Sequence[ChannelGroup]) -> dict[str, int]:
    """Output channels of each group's first producer, as the model now is."""
    modules = dict(model.named_modules())
    out = {}
    for g in groups:
        layer = modules[g.name]
        out[g.name] = int(layer.out_channels if isinstance(layer, nn.Conv2d)
                          else layer.out_features)
    return out
