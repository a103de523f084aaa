"""The quantizable layers of a model, as plain data."""
from __future__ import annotations

from dataclasses import dataclass, asdict


@dataclass(frozen=True)
class Layer:
    """One quantizable layer. `name` is its module path in the PyTorch model (e.g. "model.encoder.layers.0.fc1").

    `tied_to` names a second module that uses the same weight tensor (Whisper's proj_out shares the token
    embedding): the pair is one layer here, quantized once, stored once, counted once.
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
