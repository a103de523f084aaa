"""Allocation: myQASR's uniformity-constrained walk down each layer's ladder until the model fits.

Every layer starts at the top of its ladder (fp32). In rounds, layers are visited in sensitivity order and each
steps one rung down; the walk stops the moment the predicted size fits the budget. After any round all layers sit
on two neighbouring rungs at most (the "uniformity constraint").

`order`:
  "ascending"  - the least sensitive layer (smallest statistic) steps down first (the paper's printed Algorithm 1)
  "descending" - the most sensitive layer steps down first (the authors' released script)
  "random"     - shuffled (ablation), `seed`

Beyond the paper, `refill` (default on) spends the slack the last step left: a single step of a large layer (the
20 M-parameter token table of tiny.en) can undershoot the budget by megabytes, so layers stepped down in the last
round step back up, last-stepped first, while the model still fits. Levels stay within one rung of each other.
"""
from __future__ import annotations

import random

from .config import Order
from .errors import MyqasrError
from .formats import Format
from .layers import Layer
from .size import BackendProfile, floor_mb, model_bytes, layer_bytes


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


def allocate(layers: list[Layer], sensitivity: dict[str, float], budget_bytes: int, ladder: dict[str, list[Format]],
             rest_params: int, profile: BackendProfile, order: Order = Order.ascending, seed: int = 0,
             refill: bool = True) -> dict[str, Format]:
    """Per-layer formats whose predicted size is <= budget_bytes (myQASR Algorithm 1 on a real ladder)."""
    smallest, largest = size_range(layers, ladder, rest_params, profile)
    if budget_bytes < smallest:
        raise MyqasrError(f"budget-mb: {budget_bytes / 1e6:g} MB is below the smallest reachable size "
                          f"{floor_mb(smallest):.3f} MB for this model and ladder")
    rungs = {l.name: layer_ladder(l, ladder) for l in layers}
    level = {l.name: 0 for l in layers}
    formats = {l.name: rungs[l.name][0] for l in layers}
    size = model_bytes(layers, formats, rest_params, profile)
    visit = visit_order(layers, sensitivity, order, seed)

    def step(layer: Layer, delta: int) -> int:
        old = formats[layer.name]
        level[layer.name] += delta
        formats[layer.name] = rungs[layer.name][level[layer.name]]
        return layer_bytes(layer, formats[layer.name], profile) - layer_bytes(layer, old, profile)

    last_round: list[Layer] = []
    while size > budget_bytes:
        last_round = []
        for layer in visit:
            if level[layer.name] + 1 >= len(rungs[layer.name]):
                continue
            size += step(layer, +1)
            last_round.append(layer)
            if size <= budget_bytes:
                break
    if refill:
        for layer in reversed(last_round):
            up = layer_bytes(layer, rungs[layer.name][level[layer.name] - 1], profile) - \
                 layer_bytes(layer, formats[layer.name], profile)
            if size + up <= budget_bytes:
                size += step(layer, -1)
    return formats
