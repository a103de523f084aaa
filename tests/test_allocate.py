"""Allocation: fit, uniformity and maximality over budget sweeps, order direction, budgets, the size model."""
import pytest

from myqasr.allocate import allocate_round_robin, size_range, uniform, visit_order
from myqasr.errors import MyqasrError
from myqasr.formats import get_ladder
from myqasr.layers import Layer
from myqasr.size import PROFILES, BackendProfile, floor_mb, layer_bytes, model_bytes

from optimality import check_allocation, is_uniform, levels_of

LAYERS = [Layer(f"l{i}", "linear", (64 * (1 + i % 3), 128), bias=True) for i in range(9)] + \
         [Layer("conv", "conv1d", (64, 16, 3), bias=True), Layer("emb", "embedding", (1000, 64)),
          Layer("head", "linear", (1000, 64), tied_to="emb"), Layer("odd", "linear", (24, 40))]  # odd: no int4 rung
SENS = {l.name: float(i) for i, l in enumerate(LAYERS)}
XNN = get_ladder("xnnpack")
PROFILE = BackendProfile("test", scale_bytes=4, scale_bytes_4bit=2)  # plain accounting: no overhead, one copy
REST = 100


def sweep(smallest: int, largest: int, n: int = 60) -> list[int]:
    """n budgets evenly over [smallest, largest], plus every uniform size and one byte either side of it."""
    budgets = {smallest + (largest - smallest) * k // (n - 1) for k in range(n)}
    for rung in range(3):
        size = model_bytes(LAYERS, uniform(LAYERS, XNN, rung), REST, PROFILE)
        budgets |= {size - 1, size, size + 1}
    return sorted(b for b in budgets if b >= smallest)


def test_size_model_counts_packed_bytes_scales_and_bias():
    lin = Layer("a", "linear", (256, 128), bias=True)
    assert layer_bytes(lin, XNN["linear"][0], PROFILE) == 4 * 256 * 128 + 4 * 256
    assert layer_bytes(lin, XNN["linear"][1], PROFILE) == 256 * 128 + 4 * 256 + 4 * 256
    assert layer_bytes(lin, XNN["linear"][2], PROFILE) == 256 * 128 // 2 + 2 * (256 * 128 // 32) + 4 * 256
    assert model_bytes([lin], {"a": XNN["linear"][0]}, rest_params=10, profile=PROFILE) == 4 * 256 * 129 + 40


@pytest.mark.parametrize("order", ["ascending", "descending", "random"])
def test_fits_budget_keeps_uniformity_and_is_maximal(order):
    """Over a sweep of budgets: the plan fits, keeps the uniformity constraint, and no layer could step up within
    the constraint and still fit. Sizes never shrink as the budget grows."""
    smallest, largest = size_range(LAYERS, XNN, REST, PROFILE)
    prev = None
    for budget in sweep(smallest, largest):
        fm = allocate_round_robin(LAYERS, SENS, budget, XNN, REST, PROFILE, order=order, seed=3)
        size = check_allocation(LAYERS, XNN, fm, budget, REST, PROFILE)
        assert prev is None or size >= prev
        prev = size
    assert prev == largest                                     # the largest budget keeps everything fp32


def test_plans_fill_the_budget_between_uniform_sizes():
    """Between the all-int8 and all-int4 sizes the plan lands within one layer step of every budget: never the
    smallest model, never a plan for a fraction of the budget."""
    int8 = model_bytes(LAYERS, uniform(LAYERS, XNN, 1), REST, PROFILE)
    int4 = model_bytes(LAYERS, uniform(LAYERS, XNN, 2), REST, PROFILE)
    biggest_step = max(layer_bytes(l, XNN[l.kind][1], PROFILE) - layer_bytes(l, XNN[l.kind][-1], PROFILE)
                       for l in LAYERS)
    for k in range(1, 20):
        budget = int4 + (int8 - int4) * k // 20
        fm = allocate_round_robin(LAYERS, SENS, budget, XNN, REST, PROFILE)
        size = model_bytes(LAYERS, fm, REST, PROFILE)
        assert budget - biggest_step < size <= budget, (budget, size)
        assert {f.bits for f in fm.values()} >= {8, 4}           # a mixed model, not a uniform one


def test_checker_rejects_the_smallest_model_and_a_shrunk_budget():
    """The property test itself catches the two broken allocators of issue 16."""
    smallest, largest = size_range(LAYERS, XNN, REST, PROFILE)
    budget = (smallest + largest) // 2
    lowest = uniform(LAYERS, XNN, 2)
    with pytest.raises(AssertionError, match="not maximal"):
        check_allocation(LAYERS, XNN, lowest, budget, REST, PROFILE)
    shrunk = allocate_round_robin(LAYERS, SENS, int(0.85 * budget), XNN, REST, PROFILE)
    with pytest.raises(AssertionError, match="not maximal"):
        check_allocation(LAYERS, XNN, shrunk, budget, REST, PROFILE)


def test_uniformity_predicate():
    levels = levels_of(LAYERS, XNN, uniform(LAYERS, XNN, 1))
    assert is_uniform(LAYERS, XNN, levels)
    assert is_uniform(LAYERS, XNN, {**levels, "l0": 2}) and is_uniform(LAYERS, XNN, {**levels, "l0": 0})
    assert not is_uniform(LAYERS, XNN, {**levels, "l0": 2, "l1": 0})
    assert is_uniform(LAYERS, XNN, {**levels_of(LAYERS, XNN, uniform(LAYERS, XNN, 2)), "conv": 1, "odd": 1})
    assert not is_uniform(LAYERS, XNN, {**levels_of(LAYERS, XNN, uniform(LAYERS, XNN, 2)), "conv": 0})


def test_order_direction_decides_who_steps_down_first():
    _, largest = size_range(LAYERS, XNN, 0, PROFILE)
    budget = largest - 1
    asc = allocate_round_robin(LAYERS, SENS, budget, XNN, 0, PROFILE, order="ascending")
    desc = allocate_round_robin(LAYERS, SENS, budget, XNN, 0, PROFILE, order="descending")
    assert [n for n, f in asc.items() if f.quantized] == ["l0"]
    assert [n for n, f in desc.items() if f.quantized] == ["odd"]
    assert visit_order(LAYERS, SENS, "descending")[0].name == "odd"
    assert [l.name for l in visit_order(LAYERS, SENS, "ascending")] == [l.name for l in LAYERS]
    shuffled = [l.name for l in visit_order(LAYERS, SENS, "random", seed=1)]
    assert sorted(shuffled) == sorted(SENS) and shuffled == [l.name for l in visit_order(LAYERS, SENS, "random", 1)]
    assert shuffled != [l.name for l in visit_order(LAYERS, SENS, "random", seed=2)]


def test_budget_above_fp32_keeps_everything_fp32():
    _, largest = size_range(LAYERS, XNN, 0, PROFILE)
    for budget in (largest, largest * 3):
        fm = allocate_round_robin(LAYERS, SENS, budget, XNN, 0, PROFILE)
        assert all(not f.quantized for f in fm.values())


def test_impossible_budget_names_smallest_size_and_that_floor_is_accepted():
    smallest, _ = size_range(LAYERS, XNN, 0, PROFILE)
    with pytest.raises(MyqasrError, match=f"smallest reachable size {floor_mb(smallest):.3f} MB"):
        allocate_round_robin(LAYERS, SENS, smallest - 1, XNN, 0, PROFILE)
    typed_back = round(floor_mb(smallest) * 1e6)          # the printed floor, typed back by a user
    assert typed_back >= smallest
    fm = allocate_round_robin(LAYERS, SENS, typed_back, XNN, 0, PROFILE)
    assert fm == uniform(LAYERS, XNN, 2)


def test_research_ladder_sweep_fits_and_is_maximal():
    lad = get_ladder("research", bits=(8, 7, 6, 5, 4, 3, 2))
    prof = PROFILES["research"]
    smallest, largest = size_range(LAYERS, lad, 0, prof)
    for k in range(0, 41):
        budget = smallest + (largest - smallest) * k // 40
        fm = allocate_round_robin(LAYERS, SENS, budget, lad, 0, prof)
        check_allocation(LAYERS, lad, fm, budget, 0, prof)
        widths = sorted({f.bits for f in fm.values()})
        assert len(widths) <= 2 and (len(widths) == 1 or widths[1] == 32 or widths[1] - widths[0] == 1), widths
    # the paper's accounting: b bits per weight, nothing else
    fm = uniform(LAYERS, lad, 3)                                  # 6 bits everywhere
    assert model_bytes(LAYERS, fm, 0, prof) == sum(-(-l.numel * 6 // 8) + (4 * l.out_channels if l.bias else 0)
                                                   for l in LAYERS)


def test_group_rung_skipped_when_group_does_not_divide():
    odd = [Layer("odd", "linear", (8, 40))]
    fm = uniform(odd, XNN, 2)
    assert fm["odd"].bits == 8


def test_refill_uses_the_slack_of_a_big_last_step():
    layers = [Layer(f"s{i}", "linear", (64, 64)) for i in range(6)] + [Layer("big", "linear", (4096, 64))]
    sens = {l.name: float(i) for i, l in enumerate(layers)}
    int8 = {l.name: XNN["linear"][1] for l in layers}
    small_saving = layer_bytes(layers[0], XNN["linear"][1], PROFILE) - layer_bytes(layers[0], XNN["linear"][2], PROFILE)
    budget = model_bytes(layers, int8, 0, PROFILE) - 6 * small_saving - 500   # the big layer (visited last) must step
    plain = allocate_round_robin(layers, sens, budget, XNN, 0, PROFILE, refill=False)
    filled = allocate_round_robin(layers, sens, budget, XNN, 0, PROFILE)
    size_plain, size_filled = (model_bytes(layers, f, 0, PROFILE) for f in (plain, filled))
    assert size_plain < size_filled <= budget
    assert all(f.bits == 8 for n, f in filled.items() if n != "big") and filled["big"].bits == 4
    check_allocation(layers, XNN, filled, budget, 0, PROFILE)
    with pytest.raises(AssertionError, match="not maximal"):
        check_allocation(layers, XNN, plain, budget, 0, PROFILE)
