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

from dataclasses import dataclass

from .config import Choice, Ladder, RESEARCH_BITS
from .errors import MyqasrError


class Kind(Choice):
    linear = "linear"
    conv1d = "conv1d"
    embedding = "embedding"


class Granularity(Choice):
    none = "none"
    per_channel = "per_channel"
    per_group = "per_group"


class Activation(Choice):
    none = "none"
    dynamic_int8 = "dynamic_int8"
    static_int8 = "static_int8"


KINDS = Kind.values()
DEFAULT_ACTIVATION = {Kind.linear: Activation.dynamic_int8, Kind.conv1d: Activation.static_int8,
                      Kind.embedding: Activation.none}


@dataclass(frozen=True)
class Format:
    """How one layer is stored and computed. `bits` = 32 means full precision (fp32, no quantization)."""
    name: str
    bits: int
    granularity: Granularity = Granularity.none
    group_size: int | None = None
    activation: Activation = Activation.none

    def __post_init__(self):
        object.__setattr__(self, "granularity", Granularity.parse(self.granularity, f"format {self.name}: granularity"))
        object.__setattr__(self, "activation", Activation.parse(self.activation, f"format {self.name}: activation"))

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
        return {"name": self.name, "bits": self.bits, "granularity": self.granularity.value,
                "group_size": self.group_size, "activation": self.activation.value}

    @staticmethod
    def from_dict(d: dict) -> "Format":
        """A format read from a file; one MyqasrError line if its fields are unknown or contradict each other."""
        if not isinstance(d, dict) or set(d) - {"name", "bits", "granularity", "group_size", "activation"} \
                or not {"name", "bits"} <= set(d):
            raise MyqasrError(f"format {d!r}: expected the fields name, bits, granularity, group_size, activation")
        bits, group = d["bits"], d.get("group_size")
        if isinstance(bits, bool) or not isinstance(bits, int) or not (2 <= bits <= 8 or bits == 32):
            raise MyqasrError(f"format {d.get('name')!r}: bits must be 2..8 or 32, got {bits!r}")
        if group is not None and (isinstance(group, bool) or not isinstance(group, int) or group <= 0):
            raise MyqasrError(f"format {d.get('name')!r}: group_size must be a positive integer, got {group!r}")
        fmt = Format(str(d["name"]), bits, d.get("granularity", "none"), group, d.get("activation", "none"))
        problem = contradiction(fmt)
        if problem:
            raise MyqasrError(f"format {fmt.name!r}: {problem}")
        return fmt


FP32 = Format("fp32", 32)


def format_name(bits: int, granularity: Granularity, group_size: int | None, activation: Activation) -> str:
    """The canonical name of a format: int8_pc_da8, int4_g32_da8, int8_pc_sa8, int4_g32, fp32."""
    if bits >= 32:
        return "fp32"
    suffix = {Activation.none: "", Activation.dynamic_int8: "_da8", Activation.static_int8: "_sa8"}[activation]
    return f"int{bits}_g{group_size}{suffix}" if granularity == Granularity.per_group else f"int{bits}_pc{suffix}"


def contradiction(fmt: Format) -> str | None:
    """Why a format's fields contradict each other (or its name), or None."""
    if not fmt.quantized:
        if fmt.granularity != Granularity.none or fmt.group_size is not None or fmt.activation != Activation.none:
            return "fp32 takes no granularity, group size or activation"
    elif fmt.granularity == Granularity.none:
        return f"a {fmt.bits}-bit format needs a granularity (per_channel or per_group)"
    elif (fmt.granularity == Granularity.per_group) != (fmt.group_size is not None):
        return "a group size goes with per_group granularity, and only with it"
    expected = format_name(fmt.bits, fmt.granularity, fmt.group_size, fmt.activation)
    if fmt.name != expected:
        return f"its fields describe {expected}, but it is named {fmt.name}"
    return None


def int_format(bits: int, kind: str, group_size: int | None = None, activation: str | None = None) -> Format:
    """The format for `bits` on a layer of `kind` (per-group when group_size is given, else per-channel)."""
    act = DEFAULT_ACTIVATION[Kind(kind)] if activation is None else Activation(activation)
    gran = Granularity.per_group if group_size else Granularity.per_channel
    return Format(format_name(bits, gran, group_size, act), bits, gran, group_size or None, act)


def xnnpack_ladder(group_size: int = 32) -> dict[str, list[Format]]:
    """Formats that ExecuTorch XNNPACK kernels run, largest first (see ../shared/notes/executorch.md §4, §8)."""
    return {
        "linear": [FP32, int_format(8, "linear"), int_format(4, "linear", group_size)],
        "conv1d": [FP32, int_format(8, "conv1d")],
        "embedding": [FP32, int_format(8, "embedding"), int_format(4, "embedding", group_size)],
    }


def research_ladder(bits: tuple[int, ...] = RESEARCH_BITS) -> dict[str, list[Format]]:
    """The paper's ladder: any width, per-channel weights, 8-bit activations. Simulated only (no .pte)."""
    bits = sorted(set(bits), reverse=True)
    return {kind: [FP32] + [int_format(b, kind) for b in bits] for kind in KINDS}


def get_ladder(name, group_size: int = 32, bits: tuple[int, ...] | None = None) -> dict[str, list[Format]]:
    ladder = Ladder.parse(name, "ladder")
    if ladder == Ladder.xnnpack:
        return xnnpack_ladder(group_size)
    return research_ladder(tuple(bits)) if bits else research_ladder()


def runs_on(fmt: Format, kind: str, backend: str) -> str | None:
    """Why `fmt` is not a format the backend runs for a layer of `kind`, or None if it is (any group size)."""
    problem = contradiction(fmt)
    if problem:
        return problem
    if backend == "research":
        rungs = research_ladder()[kind]
    elif backend == "xnnpack":
        rungs = xnnpack_ladder(fmt.group_size or 32)[kind]
    else:
        return f"unknown backend {backend!r}"
    if fmt not in rungs:
        return f"{fmt.name} is not on the {backend} ladder for a {kind} layer ({', '.join(f.name for f in rungs)})"
    return None
