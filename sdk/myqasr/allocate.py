"""Allocation: one format per layer such that the model fits the budget. Two allocators:

`allocate_min_cost` ("knapsack", the default wherever the statistics hold costs): the formats that minimize the
summed cost of the user's own clips (`myqasr.cost`: one comparable, label-free number per layer and format) subject
to bytes <= budget, solved exactly as a multiple-choice knapsack by dynamic programming over bytes. Every budget
between the smallest and the largest reachable size is filled to within the smallest step any layer can take (no
dead zones), because the search is restricted to models in that window whenever one exists.

`allocate_round_robin` ("myqasr"): the paper's uniformity-constrained walk, kept for fidelity and ablation, and what
`auto` runs on a phone's statistics (no costs: the cost pass needs a backward pass). On the 10-user panel
(benchmarks/results/personalization.md) it loses to the knapsack at every intermediate budget.
Every layer starts at the top of its ladder (fp32). In rounds, layers are visited in sensitivity order and each
steps one rung down; the walk stops the moment the predicted size fits the budget. After any round all layers sit
on two neighbouring rungs at most (the "uniformity constraint").

`order`:
  "ascending"  - the least sensitive layer (smallest statistic) steps down first (the paper's printed Algorithm 1)
  "descending" - the most sensitive layer steps down first (the authors' released script)
  "random"     - shuffled (ablation), `seed`

A tied table (Whisper's token lookup and proj_out) stored once (`profile.shared_table`, the asr-runner target) has
one format: both allocators move it as one unit (`allocation_units`), priced at its one stored copy; the paper's walk
visits it with the sensitivity of its most sensitive use, the knapsack sums the two uses' costs.

Beyond the paper, `refill` (default on) spends the slack the last step left: a single step of a large layer (the
20 M-parameter token table of tiny.en) can undershoot the budget by megabytes, so layers stepped down in the last
round step back up, last-stepped first, while the model still fits. Levels stay within one rung of each other.
"""
from __future__ import annotations

import math
import random

import numpy as np

from .config import Order
from .errors import MyqasrError
from .formats import Format
from .layers import Layer
from .size import BackendProfile, floor_mb, model_bytes, stored_bytes


def layer_ladder(layer: Layer, ladder: dict[str, list[Format]]) -> list[Format]:
    """The formats a layer may take, largest first; a per-group rung is dropped where the group cannot divide."""
    rungs = []
    for fmt in ladder[layer.kind]:
        if fmt.granularity == "per_group" and (layer.numel // layer.out_channels) % fmt.group_size:
            continue
        rungs.append(fmt)
    return rungs


def uniform(layers: list[Layer], ladder: dict[str, list[Format]], rung: int) -> dict[str, Format]:
    """Every layer at rung `rung` of its ladder (or its lowest rung if its ladder is shorter)."""
    out = {}
    for layer in layers:
        rungs = layer_ladder(layer, ladder)
        out[layer.name] = rungs[min(rung, len(rungs) - 1)]
    return out


def size_range(layers, ladder, rest_params: int, profile: BackendProfile) -> tuple[int, int]:
    """(smallest, largest) predicted bytes reachable with this ladder."""
    depth = max(len(layer_ladder(l, ladder)) for l in layers)
    return (model_bytes(layers, uniform(layers, ladder, depth - 1), rest_params, profile),
            model_bytes(layers, uniform(layers, ladder, 0), rest_params, profile))


def visit_order(layers: list[Layer], sensitivity: dict[str, float], order: Order, seed: int = 0) -> list[Layer]:
    order = Order.parse(order, "order")
    if order == "ascending":
        return sorted(layers, key=lambda l: (sensitivity[l.name], l.name))
    if order == "descending":
        return sorted(layers, key=lambda l: (-sensitivity[l.name], l.name))
    shuffled = list(layers)
    random.Random(seed).shuffle(shuffled)
    return shuffled


def allocation_units(layers: list[Layer], profile: BackendProfile) -> list[tuple[Layer, ...]]:
    """What the allocators move, in layer order: one layer each, or, when the profile stores a tied table once
    (`shared_table`), a table together with the layers tied to it: one stored copy has one format."""
    units: dict[str, list[Layer]] = {}
    for layer in layers:
        root = layer.tied_to if profile.shared_table and layer.tied_to in units else layer.name
        units.setdefault(root, []).append(layer)
    return [tuple(u) for u in units.values()]


def unit_ladder(unit: tuple[Layer, ...], ladder: dict[str, list[Format]]) -> list[tuple[Format, ...]]:
    """The rungs of a unit, largest first: rung r of every member's own ladder (a shared table and its tied
    projection: fp32 / int8 per-row / int4 per-group for the lookup, with the same bits and scales as 8da8w / 8da4w
    for the projection). One MyqasrError line if the members' ladders do not pair up."""
    ladders = [layer_ladder(l, ladder) for l in unit]
    if len(unit) == 1:
        return [(f,) for f in ladders[0]]
    key = lambda f: (f.bits, f.granularity, f.group_size)        # noqa: E731  (what the stored table fixes)
    if len({len(r) for r in ladders}) != 1 or any(len({key(f) for f in rung}) != 1 for rung in zip(*ladders)):
        raise MyqasrError(f"ladder: the tied layers {', '.join(l.name for l in unit)} cannot share one stored table "
                          "(their ladders differ); use --target module")
    return list(zip(*ladders))


def unit_bytes(unit: tuple[Layer, ...], rung: tuple[Format, ...], profile: BackendProfile) -> int:
    return sum(stored_bytes(l, f, profile) for l, f in zip(unit, rung))


def allocate_round_robin(layers: list[Layer], sensitivity: dict[str, float], budget_bytes: int, ladder: dict[str, list[Format]],
             rest_params: int, profile: BackendProfile, order: Order = Order.ascending, seed: int = 0,
             refill: bool = True) -> dict[str, Format]:
    """Per-layer formats whose predicted size is <= budget_bytes (myQASR Algorithm 1 on a real ladder). A shared
    table moves as one unit (`allocation_units`) with the sensitivity of its most sensitive use."""
    smallest, largest = size_range(layers, ladder, rest_params, profile)
    if budget_bytes < smallest:
        raise MyqasrError(f"budget-mb: {budget_bytes / 1e6:g} MB is below the smallest reachable size "
                          f"{floor_mb(smallest):.3f} MB for this model and ladder")
    units = {u[0].name: u for u in allocation_units(layers, profile)}
    rungs = {name: unit_ladder(u, ladder) for name, u in units.items()}
    level = {name: 0 for name in units}
    formats = {l.name: f for name, u in units.items() for l, f in zip(u, rungs[name][0])}
    size = model_bytes(layers, formats, rest_params, profile)
    unit_sensitivity = {name: max(sensitivity[l.name] for l in u) for name, u in units.items()}
    visit = [l.name for l in visit_order([u[0] for u in units.values()], unit_sensitivity, order, seed)]

    def step(name: str, delta: int) -> int:
        old = rungs[name][level[name]]
        level[name] += delta
        new = rungs[name][level[name]]
        formats.update({l.name: f for l, f in zip(units[name], new)})
        return unit_bytes(units[name], new, profile) - unit_bytes(units[name], old, profile)

    last_round: list[str] = []
    while size > budget_bytes:
        last_round = []
        for name in visit:
            if level[name] + 1 >= len(rungs[name]):
                continue
            size += step(name, +1)
            last_round.append(name)
            if size <= budget_bytes:
                break
    if refill:
        for name in reversed(last_round):
            up = unit_bytes(units[name], rungs[name][level[name] - 1], profile) - \
                 unit_bytes(units[name], rungs[name][level[name]], profile)
            if size + up <= budget_bytes:
                size += step(name, -1)
    return formats


DP_BINS = 400_000          # resolution of the knapsack over bytes: at most this many bins (1-byte bins for small models)


def smallest_step(layers: list[Layer], ladder: dict[str, list[Format]], profile: BackendProfile) -> int:
    """The smallest number of bytes any allocation unit gains or saves by moving one rung on its ladder."""
    steps = []
    for unit in allocation_units(layers, profile):
        sizes = [unit_bytes(unit, r, profile) for r in unit_ladder(unit, ladder)]
        steps += [a - b for a, b in zip(sizes, sizes[1:]) if a != b]
    return min(steps) if steps else 0


def rung_costs(layer: Layer, rungs: list[Format], costs: dict[str, dict[str, float]]) -> list[float]:
    """Cost of each rung (largest first), made non-decreasing down the ladder: a format never costs less than a
    larger one (fp32 costs 0). One MyqasrError line if the statistics did not price a rung."""
    priced = costs.get(layer.name, {})
    out, worst = [], 0.0
    for fmt in rungs:
        if not fmt.quantized:
            c = 0.0
        elif fmt.name in priced:
            c = float(priced[fmt.name])
        else:
            raise MyqasrError(f"statistics: no cost for format {fmt.name} of layer {layer.name}: recompute the "
                              "statistics with this ladder and group size (`myqasr stats`), or use --allocator myqasr")
        worst = max(worst, c)
        out.append(worst)
    return out


def allocate_min_cost(layers: list[Layer], costs: dict[str, dict[str, float]], budget_bytes: int,
                      ladder: dict[str, list[Format]], rest_params: int, profile: BackendProfile) -> dict[str, Format]:
    """The per-layer formats of least summed cost whose predicted size is <= budget_bytes, and, where such a model
    exists, >= budget_bytes - smallest_step (the budget is filled)."""
    smallest, largest = size_range(layers, ladder, rest_params, profile)
    if budget_bytes < smallest:
        raise MyqasrError(f"budget-mb: {budget_bytes / 1e6:g} MB is below the smallest reachable size "
                          f"{floor_mb(smallest):.3f} MB for this model and ladder")
    units = allocation_units(layers, profile)
    rungs = [unit_ladder(u, ladder) for u in units]
    if budget_bytes >= largest:
        return {l.name: f for u, r in zip(units, rungs) for l, f in zip(u, r[0])}
    capacity = budget_bytes - smallest
    bin_bytes = max(1, math.ceil(capacity / DP_BINS))
    n_bins = capacity // bin_bytes
    # best[c]: least cost of the units so far with exactly c bins above their smallest rungs (weights rounded up,
    # so a solution's true bytes never exceed its bins)
    best = np.full(n_bins + 1, np.inf)
    best[0] = 0.0
    choice = np.zeros((len(units), n_bins + 1), dtype=np.uint8)
    unit_sizes = [[unit_bytes(u, r, profile) for r in ur] for u, ur in zip(units, rungs)]
    for i, unit in enumerate(units):
        sizes = unit_sizes[i]
        member_costs = [rung_costs(l, [r[j] for r in rungs[i]], costs) for j, l in enumerate(unit)]
        cost = [sum(c) for c in zip(*member_costs)]
        nxt = np.full_like(best, np.inf)
        for r, (size, c) in enumerate(zip(sizes, cost)):
            w = math.ceil((size - sizes[-1]) / bin_bytes)
            if w > n_bins:
                continue
            cand = np.full_like(best, np.inf)
            cand[w:] = best[:n_bins + 1 - w] + c
            better = cand < nxt
            nxt[better] = cand[better]
            choice[i, better] = r
        best = nxt
    step = smallest_step(layers, ladder, profile)
    # the fill window, shrunk by the rounding the bins allow (n units x 1 bin)
    lo = math.ceil((capacity - step + len(units) * bin_bytes) / bin_bytes)
    window = best[max(lo, 0):]
    if lo <= n_bins and np.isfinite(window).any():
        c = max(lo, 0) + int(np.argmin(window))
    else:
        c = int(np.argmin(best))
    formats = {}
    for i in range(len(units) - 1, -1, -1):
        r = int(choice[i, c])
        formats.update({l.name: f for l, f in zip(units[i], rungs[i][r])})
        c -= math.ceil((unit_sizes[i][r] - unit_sizes[i][-1]) / bin_bytes)
    return {l.name: formats[l.name] for l in layers}
