"""Layer formats and ladders: what each quantizable layer can be stored as.

A *format* is what one layer becomes: weight bits, scale granularity and how its input activations are
quantized. A *ladder* lists, per layer kind, the formats a layer may take, largest first. Allocation walks a
layer down its ladder one rung at a time.

The default ladder ("xnnpack") holds only what ExecuTorch's XNNPACK backend really runs on phones:
  linear:    fp32 -> int8 per-channel weights + dynamic int8 per-token activations (8da8w)
                  -> int4 per-group weights (group 32) + dynamic int8 per-token activations (8da4w)
  conv1d:    fp32 -> int8 per-channel weights + static int8 per-tensor activations
  embedding: fp32 -> int8 per-row table -> int4 per-group table; when the table is tied to the output
             projection (Whisper's proj_out), the projection runs as 8da8w / 8da4w on the same values.
The "research" ladder is the paper's: every width from 8 down to 2 bits, per-channel, simulated only.
"""
from __future__ import annotations

from dataclasses import dataclass, asdict

KINDS = ("linear", "conv1d", "embedding")
ACTIVATIONS = ("none", "dynamic_int8", "static_int8")
GRANULARITIES = ("none", "per_channel", "per_group")


@dataclass(frozen=True)
class Format:
    """How one layer is stored and computed. `bits` = 32 means full precision (fp32, no quantization)."""
    name: str
    bits: int
    granularity: str = "none"
    group_size: int | None = None
    activation: str = "none"

    @property
    def quantized(self) -> bool:
        return self.bits < 32

    @property
    def qmin(self) -> int:
        return -(2 ** (self.bits - 1))

    @property
    def qmax(self) -> int:
        return 2 ** (self.bits - 1) - 1

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "Format":
        fmt = Format(**d)
        if fmt.granularity not in GRANULARITIES or fmt.activation not in ACTIVATIONS:
            raise ValueError(f"unknown format {d}")
        return fmt


FP32 = Format("fp32", 32)


def int_format(bits: int, kind: str, group_size: int | None = None, activation: str | None = None) -> Format:
    """The format for `bits` on a layer of `kind` (per-group when group_size is given, else per-channel)."""
    if activation is None:
        activation = {"linear": "dynamic_int8", "conv1d": "static_int8", "embedding": "none"}[kind]
    if group_size:
        return Format(f"int{bits}_g{group_size}" + _act_suffix(activation), bits, "per_group", group_size, activation)
    return Format(f"int{bits}_pc" + _act_suffix(activation), bits, "per_channel", None, activation)


def _act_suffix(activation: str) -> str:
    return {"none": "", "dynamic_int8": "_da8", "static_int8": "_sa8"}[activation]


def xnnpack_ladder(group_size: int = 32) -> dict[str, list[Format]]:
    """Formats that ExecuTorch XNNPACK kernels run, largest first (see ../shared/notes/executorch.md §4, §8)."""
    return {
        "linear": [FP32, int_format(8, "linear"), int_format(4, "linear", group_size)],
        "conv1d": [FP32, int_format(8, "conv1d")],
        "embedding": [FP32, int_format(8, "embedding"), int_format(4, "embedding", group_size)],
    }


def research_ladder(bits: tuple[int, ...] = (8, 7, 6, 5, 4, 3, 2)) -> dict[str, list[Format]]:
    """The paper's ladder: any width, per-channel weights, 8-bit activations. Simulated only (no .pte)."""
    bits = sorted(set(bits), reverse=True)
    return {kind: [FP32] + [int_format(b, kind) for b in bits] for kind in KINDS}


LADDERS = {"xnnpack": xnnpack_ladder, "research": research_ladder}


def get_ladder(name: str, group_size: int = 32, bits: tuple[int, ...] | None = None) -> dict[str, list[Format]]:
    if name == "xnnpack":
        return xnnpack_ladder(group_size)
    if name == "research":
        return research_ladder(tuple(bits)) if bits else research_ladder()
    raise ValueError(f"unknown ladder {name!r} (choose from {sorted(LADDERS)})")
