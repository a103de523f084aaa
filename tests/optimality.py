"""The allocation's stated property, checked from outside the allocator (shared by test_allocate and test_plan).

myqasr.allocate promises: the plan fits the budget, keeps myQASR's uniformity constraint (after the walk every layer
sits on one of two neighbouring rungs of its ladder), and spends the slack (refill): no single layer could step one
rung up, still keep the constraint, and still fit. An allocator that returns the smallest model, or plans for less
than the budget it is given, fails `check_allocation`.
"""
from __future__ import annotations

from myqasr.allocate import layer_ladder
from myqasr.size import model_bytes


def levels_of(layers, ladder, formats) -> dict[str, int]:
    """Each layer's rung on its own ladder (0 = fp32)."""
    return {l.name: layer_ladder(l, ladder).index(formats[l.name]) for l in layers}


def is_uniform(layers, ladder, levels: dict[str, int]) -> bool:
    """True if some round r explains the levels: each layer at rung r or r - 1 (a short ladder stops at its end)."""
    depth = {l.name: len(layer_ladder(l, ladder)) for l in layers}
    for r in range(max(depth.values())):
        if all(levels[n] in (min(r, d - 1), min(max(r - 1, 0), d - 1)) for n, d in depth.items()):
            return True
    return False


def check_allocation(layers, ladder, formats, budget: int, rest: int, profile) -> int:
    """Assert fit, uniformity and maximality of `formats` for `budget`; return its size in bytes."""
    size = model_bytes(layers, formats, rest, profile)
    assert size <= budget, f"{size} bytes do not fit the budget {budget}"
    levels = levels_of(layers, ladder, formats)
    assert is_uniform(layers, ladder, levels), f"uniformity broken: {sorted(set(levels.values()))}"
    for layer in layers:
        if levels[layer.name] == 0:
            continue
        up = {**levels, layer.name: levels[layer.name] - 1}
        if not is_uniform(layers, ladder, up):
            continue
        bigger = {**formats, layer.name: layer_ladder(layer, ladder)[up[layer.name]]}
        grown = model_bytes(layers, bigger, rest, profile)
        assert grown > budget, (f"not maximal: {layer.name} could step up to {bigger[layer.name].name} "
                                f"({grown} <= budget {budget}, plan {size})")
    return size
