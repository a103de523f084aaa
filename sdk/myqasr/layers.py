"""The quantizable layers of a model, as plain data."""
from __future__ import annotations

from dataclasses import dataclass, asdict


@dataclass(frozen=True)
class Layer:
    """One quantizable layer. `name` is its module path in the PyTorch model (e.g. "model.encoder.layers.0.fc1").

    `tied_to` names an earlier layer whose fp32 weight is the same tensor (Whisper's proj_out shares the token
    embedding). Tied layers are separate layers with their own statistic. For a single `.pte` (target "module") each
    has its own format and is stored (XNNPACK keeps the projection inside its delegate, the lookup outside it; one
    file cannot share them). For `.pte` + `.ptd` (target "asr-runner") the table is stored once in the `.ptd`: the
    allocators move the two as one unit (`myqasr.allocate.allocation_units`), with one rung and one set of scales.
    """
    name: str
    kind: str                      # "linear" | "conv1d" | "embedding"
    shape: tuple[int, ...]         # weight shape: linear [out, in], conv1d [out, in, k], embedding [vocab, dim]
    bias: bool = False
    tied_to: str | None = None

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def out_channels(self) -> int:
        return self.shape[0]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        return d


def set_module(model, name: str, new) -> None:
    """Replace the submodule at dotted path `name` of `model` with `new`."""
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)
