"""Every planning choice as typed, self-checking configuration (the shape of torchao's and ExecuTorch's configs).

`PlanConfig` holds the choices of stages 1-3 with their defaults; each field is also a `myqasr plan` /
`personalize` flag of the same name (the CLI builds its flags from these fields, so defaults and choice lists live
here only). A bad value, from Python or from the command line, fails at construction with one `MyqasrError` line.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import Enum

from .errors import MyqasrError


class Choice(str, Enum):
    """A str-valued choice: compares equal to its value, prints as its value, JSON-serializes as its value."""

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value, what: str):
        """`value` as a member of this choice, or one MyqasrError line naming `what` and the valid values."""
        try:
            return cls(value.value if isinstance(value, Enum) else value)
        except ValueError:
            raise MyqasrError(f"{what}: unknown value {value!r} (choose from {', '.join(cls.values())})") from None

    @classmethod
    def values(cls) -> list[str]:
        return [m.value for m in cls]


class Metric(Choice):
    """Sensitivity statistic of a layer's |output| (stage 1)."""
    median = "median"
    mean = "mean"
    max = "max"
    abs_max = "abs_max"
    std = "std"
    p90 = "p90"
    p99 = "p99"
    p999 = "p999"


class Allocator(Choice):
    """How formats are chosen under the budget (stage 2)."""
    auto = "auto"                # knapsack when the statistics hold format costs, else myqasr (a phone's statistics)
    knapsack = "knapsack"        # least summed cost of the user's own clips (myqasr.cost), fills every budget
    myqasr = "myqasr"            # the paper's uniformity-constrained walk in `metric` / `order` order


class Order(Choice):
    """Which layers step down their ladder first (stage 2)."""
    ascending = "ascending"      # least sensitive first (the paper's printed Algorithm 1)
    descending = "descending"    # most sensitive first (the authors' released script)
    random = "random"            # shuffled with `seed` (ablation)


class Ladder(Choice):
    """The formats a layer may take (see myqasr.formats)."""
    xnnpack = "xnnpack"          # what ExecuTorch's XNNPACK kernels run on the phone
    research = "research"        # the paper's any-width ladder, simulated only


class Target(Choice):
    """What the export writes, and so what the size model counts (the bytes a budget must cover)."""
    module = "module"            # one `.pte` for the generic `Module.load(path)`: a tied table stored twice
    asr_runner = "asr-runner"    # `.pte` + `.ptd` (ExecuTorch's `AsrModule(model, tokenizer, data, ...)`): stored once


class Calibration(Choice):
    """How weight and activation scales are chosen (stage 3), all label-free."""
    minmax = "minmax"
    cosine = "cosine"
    hessian = "hessian"
    auto = "auto"                # each of the above, scored against the full-precision transcripts (myqasr.guard);
    #                              min-max when the user's own clips are not at hand (a phone's statistics)


RESEARCH_BITS = (8, 7, 6, 5, 4, 3, 2)


def parse_bits(value) -> tuple[int, ...] | None:
    """Research-ladder widths from "8,6,4" or a sequence of ints; None stays None (the default widths)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        bits = tuple(int(str(b).strip()) for b in items)
    except ValueError:
        raise MyqasrError(f"bits: {value!r} is not a comma-separated list of integers (e.g. 8,6,4)") from None
    if not bits or any(not 2 <= b <= 8 for b in bits):
        raise MyqasrError(f"bits: {value!r}: every width must be between 2 and 8")
    return bits


def positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise MyqasrError(f"{what}: must be a positive integer, got {value!r}")
    return value


def positive_finite(value, what: str) -> float:
    """A budget or other amount: a finite number > 0."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise MyqasrError(f"{what}: not a number: {value!r}") from None
    if not (math.isfinite(x) and x > 0):
        raise MyqasrError(f"{what}: must be a positive, finite number, got {value!r}")
    return x


@dataclass(frozen=True)
class PlanConfig:
    """Every planning choice, with its default. Each field is also a `myqasr plan` flag of the same name."""
    allocator: Allocator = Allocator.auto          # the least-cost knapsack (or the paper's walk on a phone's stats)
    metric: Metric = Metric.median                 # allocator=myqasr: sensitivity statistic of |layer output|
    order: Order = Order.ascending                 # allocator=myqasr: which layers step down first
    ladder: Ladder = Ladder.xnnpack                # formats the phone runs, or the paper's simulated widths
    bits: tuple[int, ...] | None = None            # research ladder widths, e.g. 8,6,4 (default 8..2)
    group_size: int = 32                           # int4 group size
    calibration: Calibration = Calibration.auto    # weight / activation scales: guarded pick (min-max without clips)
    seed: int = 0                                  # for order=random
    target: Target = Target.module                 # one .pte (generic Module), or .pte + .ptd with the table once

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)       # noqa: E731 (frozen dataclass)
        set_("allocator", Allocator.parse(self.allocator, "allocator"))
        set_("metric", Metric.parse(self.metric, "metric"))
        set_("order", Order.parse(self.order, "order"))
        set_("ladder", Ladder.parse(self.ladder, "ladder"))
        set_("calibration", Calibration.parse(self.calibration, "calibration"))
        set_("target", Target.parse(self.target, "target"))
        set_("bits", parse_bits(self.bits))
        set_("group_size", positive_int(self.group_size, "group_size"))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise MyqasrError(f"seed: must be an integer, got {self.seed!r}")
        if self.bits is not None and self.ladder != Ladder.research:
            raise MyqasrError("bits: research widths apply to ladder=research only")

    def to_dict(self) -> dict:
        """Plain JSON values (what a scheme records under "allocation" / "calibration")."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.value if isinstance(v, Enum) else (list(v) if isinstance(v, tuple) else v)
        return out

    @classmethod
    def field_help(cls) -> dict[str, str]:
        """One line per field for the CLI: its choices or form, and its default."""
        helps = {}
        for f in fields(cls):
            default = f.default.value if isinstance(f.default, Enum) else f.default
            choices = FIELD_CHOICES.get(f.name)
            form = " | ".join(choices) if choices else FIELD_FORMS[f.name]
            helps[f.name] = f"{form} (default: {default if default is not None else FIELD_FORMS.get(f.name + '_default', 'none')})"
        return helps


FIELD_CHOICES = {"allocator": Allocator.values(), "metric": Metric.values(), "order": Order.values(), "ladder": Ladder.values(),
                 "calibration": Calibration.values(), "target": Target.values()}
FIELD_FORMS = {"bits": "comma-separated widths for --ladder research", "bits_default": "8,7,6,5,4,3,2",
               "group_size": "int4 group size", "seed": "seed of --order random"}
