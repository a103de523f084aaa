"""The schemes the personalization panel compares (see `benchmarks.personalization`), all as the SDK builds them
on the phone ladder, and the budgets it tests.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import replace
from itertools import product

from benchmarks.harness import SizeModel

PAPER, PAPER_OTHER = "paper", "paper-other"          # the paper's walk (`--allocator myqasr`): own clips, another's
CORE = ["uniform", "uniform-mix", PAPER, PAPER_OTHER, "knapsack", "knapsack-other"]   # every budget, every clip
DEFAULT = "knapsack"                                   # the method `myqasr plan` / `personalize` run by default
RANDOM_SEEDS = (0, 1, 2)
CALIBRATIONS = ("minmax", "cosine", "hessian")


# --------------------------------------------------------------------------- budgets and zones

def zones(sm: SizeModel) -> dict:
    """The size facts that split the budget range (bytes): all-int4, all-int8, one token-table copy's int8 -> int4
    step, and all other linears' steps together."""
    from myqasr.allocate import uniform
    r1, r2 = uniform(sm.layers, sm.ladder, 1), uniform(sm.layers, sm.ladder, 2)
    step = {l.name: sm.bytes({**r2, l.name: r1[l.name]}) - sm.bytes(r2) for l in sm.layers}
    table = step.get("proj_out", 0)
    linears = sum(v for k, v in step.items() if component(k) in ("encoder", "decoder"))
    return {"int4": sm.bytes(r2), "int8": sm.bytes(r1), "table_step": table, "linear_steps": linears}


def zone_bounds(z: dict) -> list[tuple[float, float, str]]:
    """(from MB, to MB, what the paper's round-robin decides there) for the zones of the personalization issue."""
    a, t, l, b = z["int4"], z["table_step"], z["linear_steps"], z["int8"]
    mb = lambda x: round(x / 1e6, 3)                                   # noqa: E731
    return [(mb(a), mb(a + l), "which linears go to int4"), (mb(a + l), mb(a + t), "nothing (a dead zone)"),
            (mb(a + t), mb(a + t + l), "which linears go to int4 (one table copy int8)"),
            (mb(a + t + l), mb(a + 2 * t), "lookup or head"), (mb(a + 2 * t), mb(b), "nothing: leaves up to 8.9 MB unused")]


def panel_budgets(z: dict) -> list[float]:
    """8 budgets (MB): both ends and at least one inside every zone."""
    a, t, l, b = z["int4"], z["table_step"], z["linear_steps"], z["int8"]
    points = [a, a + 0.5 * l, a + l + 0.5 * (t - l), a + t + 0.3 * l, a + t + 0.8 * l, a + t + l + 0.5 * (t - l),
              a + 2 * t + 0.5 * (b - a - 2 * t), b]
    return [round(p / 1e6, 6) for p in points]


# --------------------------------------------------------------------------- schemes

def component(name: str) -> str:
    if "embed_tokens" in name or name == "proj_out":     # the tied token table: lookup and output projection
        return "embedding"
    if ".encoder." in f".{name}" and "conv" not in name:
        return "encoder"
    if ".decoder." in f".{name}":
        return "decoder"
    return "conv"


def formats_scheme(loaded, sm: SizeModel, stats, formats, budget_mb, label: str):
    """A min-max scheme for given per-layer formats (the uniform baselines), stored as plan() stores it."""
    from myqasr.calibrate import calibrate_minmax
    from myqasr.config import PlanConfig
    from myqasr.plan import assemble_scheme

    ws, acts = calibrate_minmax(loaded.model, sm.layers, formats, stats)
    s = assemble_scheme(loaded, stats, PlanConfig(calibration="minmax"), sm.layers, formats, sm.rest, sm.profile,
                        int(round(budget_mb * 1e6)), ws, acts)
    s.allocation = {"baseline": label}
    return s


def uniform_formats(sm: SizeModel, budget_bytes: int):
    """The largest single-rung assignment that fits (rung 1 = int8, rung 2 = int4 where the ladder has it)."""
    from myqasr.allocate import uniform
    for rung in range(1, len(max(sm.ladder.values(), key=len))):
        f = uniform(sm.layers, sm.ladder, rung)
        if sm.bytes(f) <= budget_bytes:
            return f
    return None


def uniform_mix_formats(sm: SizeModel, budget_bytes: int):
    """Encoder linears, decoder linears and the tied token table (lookup + proj_out) each on int8 or int4 (convs
    int8); the largest that fits. Returns (formats, label)."""
    from myqasr.allocate import uniform
    r1, r2 = uniform(sm.layers, sm.ladder, 1), uniform(sm.layers, sm.ladder, 2)
    best = None
    for enc, dec, emb in product((1, 2), repeat=3):
        pick = {"encoder": enc, "decoder": dec, "embedding": emb, "conv": 1}
        f = {l.name: (r1 if pick[component(l.name)] == 1 else r2)[l.name] for l in sm.layers}
        size = sm.bytes(f)
        if size <= budget_bytes and (best is None or size > best[0]):
            best = (size, f, f"enc int{4 * (3 - enc)}, dec int{4 * (3 - dec)}, table int{4 * (3 - emb)}")
    return (best[1], best[2]) if best else (None, None)


def shuffled_costs(costs: dict, seed: int) -> dict:
    """The cost vectors of the layers dealt to other layers of the same kind at random: the allocator with
    uninformative costs (ablation of the cost model, not of the solver)."""
    by_kind: dict[tuple, list[str]] = {}
    for name, per in costs.items():
        by_kind.setdefault(tuple(sorted(per)), []).append(name)
    rng, out = random.Random(seed), {}
    for names in by_kind.values():
        dealt = names[:]
        rng.shuffle(dealt)
        out.update({a: costs[b] for a, b in zip(names, dealt)})
    return out


def planned(loaded, stats, budget_mb, config, clips=None, cache=None):
    from myqasr.plan import plan
    return plan(loaded, stats, budget_mb, config, clips=clips, progress=False, cache=cache)


def core_schemes(loaded, sm: SizeModel, stats, budgets: list[float]) -> dict:
    """{(budget, method): scheme} of the core methods calibrated on one user's statistics (min-max)."""
    from myqasr.config import PlanConfig
    out = {}
    for b in budgets:
        out[(b, "uniform")] = formats_scheme(loaded, sm, stats, uniform_formats(sm, int(round(b * 1e6))), b,
                                             "uniform")
        mf, label = uniform_mix_formats(sm, int(round(b * 1e6)))
        out[(b, "uniform-mix")] = formats_scheme(loaded, sm, stats, mf, b, label)
        out[(b, "knapsack")] = planned(loaded, stats, b, PlanConfig(allocator="knapsack", calibration="minmax"))
    return out


def paper_scheme(loaded, stats, budget_mb):
    from myqasr.config import PlanConfig
    return planned(loaded, stats, budget_mb, PlanConfig(allocator="myqasr", calibration="minmax"))


def random_scheme(loaded, stats, budget_mb, seed: int):
    from myqasr.config import PlanConfig
    return planned(loaded, replace(stats, costs=shuffled_costs(stats.costs, seed)), budget_mb,
                   PlanConfig(allocator="knapsack", calibration="minmax"))


def auto_scheme(loaded, stats, budget_mb, clips, cache):
    """plan(calibration="auto"): the guard's choice, its scores, and every candidate's scheme (for the report)."""
    from myqasr.config import PlanConfig
    return planned(loaded, stats, budget_mb, PlanConfig(allocator="knapsack", calibration="auto"), clips=clips,
                   cache=cache)


def candidate_schemes(loaded, stats, budget_mb, clips, cache) -> dict:
    from myqasr.config import PlanConfig
    return {m: planned(loaded, stats, budget_mb, PlanConfig(allocator="knapsack", calibration=m), clips=clips,
                       cache=cache)
            for m in CALIBRATIONS}


def encoder_key(scheme) -> str:
    """What makes two schemes' encoders compute alike: per-layer formats and scales of the encoder side."""
    return scheme_key(scheme, lambda name: ".encoder." in f".{name}")


def scheme_key(scheme, keep=lambda name: True) -> str:
    """What makes two schemes transcribe alike: per-layer formats, activation and weight scales."""
    h = hashlib.sha256()
    for p in scheme.layers:
        if keep(p.name):
            h.update(f"{p.name}|{p.format.name}|{p.input_scale}|{p.output_scale}\n".encode())
    for k in sorted(scheme.weight_scales):
        if keep(k[:-len(".weight_scale")]):
            h.update(scheme.weight_scales[k].numpy().tobytes())
    return h.hexdigest()
