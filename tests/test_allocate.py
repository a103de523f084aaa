"""Allocation: uniformity constraint, order direction, budgets, the size model."""
import pytest

from myqasr.allocate import allocate, size_range, uniform, visit_order
from myqasr.errors import MyqasrError
from myqasr.formats import get_ladder
from myqasr.layers import Layer
from myqasr.size import PROFILES, BackendProfile, layer_bytes, model_bytes

LAYERS = [Layer(f"l{i}", "linear", (64 * (1 + i % 3), 128), bias=True) for i in range(9)] + \
         [Layer("conv", "conv1d", (64, 16, 3), bias=True), Layer("emb", "embedding", (1000, 64)),
          Layer("head", "linear", (1000, 64), tied_to="emb")]
SENS = {l.name: float(i) for i, l in enumerate(LAYERS)}
XNN = get_ladder("xnnpack")
PROFILE = BackendProfile("test", scale_bytes=4, scale_bytes_4bit=2)  # plain accounting: no overhead, one copy


def test_size_model_counts_packed_bytes_scales_and_bias():
    lin = Layer("a", "linear", (256, 128), bias=True)
    assert layer_bytes(lin, XNN["linear"][0], PROFILE) == 4 * 256 * 128 + 4 * 256
    assert layer_bytes(lin, XNN["linear"][1], PROFILE) == 256 * 128 + 4 * 256 + 4 * 256
    assert layer_bytes(lin, XNN["linear"][2], PROFILE) == 256 * 128 // 2 + 2 * (256 * 128 // 32) + 4 * 256
    assert model_bytes([lin], {"a": XNN["linear"][0]}, rest_params=10, profile=PROFILE) == 4 * 256 * 129 + 40


@pytest.mark.parametrize("order", ["ascending", "descending", "random"])
def test_fits_budget_and_keeps_uniformity(order):
    smallest, largest = size_range(LAYERS, XNN, 100, PROFILE)
    for frac in (0.95, 0.7, 0.5, 0.3, 0.1, 0.0):
        budget = int(smallest + frac * (largest - smallest))
        fm = allocate(LAYERS, SENS, budget, XNN, 100, PROFILE, order=order)
        assert model_bytes(LAYERS, fm, 100, PROFILE) <= budget
        levels = [XNN[l.kind].index(fm[l.name]) for l in LAYERS if len(XNN[l.kind]) == 3]
        assert max(levels) - min(levels) <= 1


def test_order_direction_decides_who_steps_down_first():
    _, largest = size_range(LAYERS, XNN, 0, PROFILE)
    budget = largest - 1
    asc = allocate(LAYERS, SENS, budget, XNN, 0, PROFILE, order="ascending")
    desc = allocate(LAYERS, SENS, budget, XNN, 0, PROFILE, order="descending")
    assert [n for n, f in asc.items() if f.quantized] == ["l0"]
    assert [n for n, f in desc.items() if f.quantized] == ["head"]
    assert visit_order(LAYERS, SENS, "descending")[0].name == "head"


def test_budget_above_fp32_keeps_everything_fp32():
    _, largest = size_range(LAYERS, XNN, 0, PROFILE)
    fm = allocate(LAYERS, SENS, largest, XNN, 0, PROFILE)
    assert all(not f.quantized for f in fm.values())


def test_impossible_budget_names_smallest_size():
    smallest, _ = size_range(LAYERS, XNN, 0, PROFILE)
    with pytest.raises(MyqasrError, match=f"smallest reachable size {smallest / 1e6:.3f} MB"):
        allocate(LAYERS, SENS, smallest - 1, XNN, 0, PROFILE)


def test_research_ladder_gives_two_neighbouring_widths():
    lad = get_ladder("research", bits=(8, 7, 6, 5, 4, 3, 2))
    prof = PROFILES["research"]
    smallest, largest = size_range(LAYERS, lad, 0, prof)
    fm = allocate(LAYERS, SENS, int(0.2 * largest), lad, 0, prof)
    widths = {f.bits for f in fm.values()}
    assert len(widths) <= 2 and max(widths) - min(widths) <= 1 and max(widths) < 32


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
    plain = allocate(layers, sens, budget, XNN, 0, PROFILE, refill=False)
    filled = allocate(layers, sens, budget, XNN, 0, PROFILE)
    size_plain, size_filled = (model_bytes(layers, f, 0, PROFILE) for f in (plain, filled))
    assert size_plain < size_filled <= budget
    assert all(f.bits == 8 for n, f in filled.items() if n != "big") and filled["big"].bits == 4
