"""The asr-runner target: the tied token table stored once (.pte + .ptd), priced and allocated as one unit."""
import itertools

import pytest
import torch

from myqasr.allocate import allocate_min_cost, allocate_round_robin, allocation_units, size_range, smallest_step, \
    uniform, unit_ladder
from myqasr.config import PlanConfig, Target
from myqasr.errors import MyqasrError
from myqasr.formats import get_ladder
from myqasr.layers import Layer
from myqasr.plan import check_shared_table, profile_for, scheme_target, shared_table_scales
from myqasr.scheme import LayerPlan, Scheme
from myqasr.size import PROFILES, BackendProfile, layer_bytes, model_bytes, stored_bytes

from test_knapsack import random_costs, total_cost

XNN = get_ladder("xnnpack")
ONE_FILE = BackendProfile("test", scale_bytes=4, scale_bytes_4bit=2)
SHARED = BackendProfile("test", scale_bytes=4, scale_bytes_4bit=2, shared_table=True)
LAYERS = [Layer(f"l{i}", "linear", (64 * (1 + i % 3), 128), bias=True) for i in range(6)] + \
         [Layer("conv", "conv1d", (64, 16, 3), bias=True), Layer("emb", "embedding", (1000, 64)),
          Layer("head", "linear", (1000, 64), tied_to="emb")]
SENS = {l.name: float(i) for i, l in enumerate(LAYERS)}


def test_a_tied_layer_stores_nothing_of_its_own_when_the_table_is_shared():
    head, emb = LAYERS[-1], LAYERS[-2]
    for rung in range(3):
        fm = uniform(LAYERS, XNN, rung)
        assert stored_bytes(head, fm["head"], SHARED) == 0
        assert stored_bytes(emb, fm["emb"], SHARED) == layer_bytes(emb, fm["emb"], SHARED)
        assert model_bytes(LAYERS, fm, 7, ONE_FILE) - model_bytes(LAYERS, fm, 7, SHARED) == \
            layer_bytes(head, fm["head"], ONE_FILE)
    with_bias = Layer("h", "linear", (1000, 64), bias=True, tied_to="emb")
    assert stored_bytes(with_bias, XNN["linear"][2], SHARED) == 4 * 1000          # its bias is its own


def test_units_pair_the_table_with_its_tied_layer_only_when_shared():
    assert allocation_units(LAYERS, ONE_FILE) == [(l,) for l in LAYERS]
    units = allocation_units(LAYERS, SHARED)
    assert units[-1] == (LAYERS[-2], LAYERS[-1]) and all(len(u) == 1 for u in units[:-1])
    rungs = unit_ladder(units[-1], XNN)
    assert [(a.name, b.name) for a, b in rungs] == [("fp32", "fp32"), ("int8_pc", "int8_pc_da8"),
                                                   ("int4_g32", "int4_g32_da8")]
    bad = {**XNN, "embedding": XNN["embedding"][:2]}                            # no int4 table: cannot pair
    with pytest.raises(MyqasrError, match="cannot share one stored table"):
        unit_ladder(units[-1], bad)


def unit_levels(formats) -> dict[str, int]:
    return {u[0].name: unit_ladder(u, XNN).index(tuple(formats[l.name] for l in u))
            for u in allocation_units(LAYERS, SHARED)}


@pytest.mark.parametrize("order", ["ascending", "descending", "random"])
def test_paper_walk_moves_the_shared_table_as_one_unit_fits_and_fills(order):
    smallest, largest = size_range(LAYERS, XNN, 100, SHARED)
    step = smallest_step(LAYERS, XNN, SHARED)
    biggest = max(a - b for u in allocation_units(LAYERS, SHARED)
                  for a, b in itertools.pairwise([sum(stored_bytes(l, f, SHARED) for l, f in zip(u, r))
                                                  for r in unit_ladder(u, XNN)]))
    assert step > 0
    prev = None
    for k in range(41):
        budget = smallest + (largest - smallest) * k // 40
        fm = allocate_round_robin(LAYERS, SENS, budget, XNN, 100, SHARED, order=order, seed=2)
        levels = unit_levels(fm)                                         # raises if emb and head were split
        size = model_bytes(LAYERS, fm, 100, SHARED)
        assert size <= budget and max(levels.values()) - min(levels.values()) <= 1
        assert budget - size < biggest or size == largest
        assert prev is None or size >= prev
        prev = size
    assert prev == largest


def test_the_shared_table_steps_with_its_most_sensitive_use():
    """Ascending order steps the least sensitive unit first: the table (emb 7) inherits the head's 8 and goes last."""
    _, largest = size_range(LAYERS, XNN, 0, SHARED)
    sens = {**SENS, "emb": -1.0}                                   # the lookup alone would be the least sensitive
    fm = allocate_round_robin(LAYERS, sens, largest - 1, XNN, 0, SHARED, order="ascending")
    assert [n for n, f in fm.items() if f.quantized] == ["l0"]
    fm = allocate_round_robin(LAYERS, sens, largest - 1, XNN, 0, SHARED, order="descending")
    assert [n for n, f in fm.items() if f.quantized] == ["emb", "head"]


@pytest.mark.parametrize("seed", range(4))
def test_knapsack_is_exact_over_units(seed):
    """Brute force over every assignment that keeps the table on one rung for both uses: the knapsack's plan fills
    the budget (within the smallest unit step), never splits the table, and costs no more than the best assignment
    that fills it (a window narrower by n units x 64 bytes: the most its bins round by)."""
    costs = random_costs(LAYERS, seed)
    smallest, largest = size_range(LAYERS, XNN, 0, SHARED)
    units = allocation_units(LAYERS, SHARED)
    step = smallest_step(LAYERS, XNN, SHARED)
    for k in (1, 3, 5, 7):
        budget = smallest + (largest - smallest) * k // 8
        best_filled = float("inf")
        for combo in itertools.product(*[unit_ladder(u, XNN) for u in units]):
            f = {l.name: fmt for u, r in zip(units, combo) for l, fmt in zip(u, r)}
            if budget - step + 64 * len(units) < model_bytes(LAYERS, f, 0, SHARED) <= budget - 64 * len(units):
                best_filled = min(best_filled, total_cost(LAYERS, f, costs))
        fm = allocate_min_cost(LAYERS, costs, budget, XNN, 0, SHARED)
        unit_levels(fm)
        assert budget - step < model_bytes(LAYERS, fm, 0, SHARED) <= budget
        assert total_cost(LAYERS, fm, costs) <= best_filled + 1e-9


def test_the_table_takes_the_output_projections_scales_as_its_own_copy():
    fm = uniform(LAYERS, XNN, 2)
    scales = {"emb.weight_scale": torch.ones(1000, 2), "head.weight_scale": torch.full((1000, 2), 0.5),
              "l0.weight_scale": torch.ones(3)}
    out = shared_table_scales(LAYERS, fm, scales)
    assert torch.equal(out["emb.weight_scale"], scales["head.weight_scale"])
    assert out["emb.weight_scale"].data_ptr() != out["head.weight_scale"].data_ptr()    # saved as two tensors
    assert torch.equal(scales["emb.weight_scale"], torch.ones(1000, 2))                 # the input is not changed


def test_target_chooses_the_size_accounting_and_is_recorded():
    assert profile_for("xnnpack").shared_table is False
    assert profile_for("xnnpack", "asr-runner") == PROFILES["xnnpack-shared"]
    assert profile_for("research", "asr-runner") == PROFILES["research"]     # simulated only: no files to share
    assert PlanConfig(target="asr-runner").to_dict()["target"] == "asr-runner"
    with pytest.raises(MyqasrError, match="target: unknown value 'apk'"):
        PlanConfig(target="apk")
    old = Scheme("m", "whisper", "0", "xnnpack", [], {}, 0, 0, allocation={"ladder": "xnnpack"})
    assert scheme_target(old) == Target.module
    old.allocation["target"] = "asr-runner"
    assert scheme_target(old) == Target.asr_runner


def test_an_asr_runner_scheme_whose_table_halves_differ_is_refused_in_one_line():
    """A hand-edited (or module-target) scheme exported for the asr-runner would hold two tables: refused."""
    emb, head = LAYERS[-2], LAYERS[-1]
    fm = uniform(LAYERS, XNN, 2)
    scales = {"emb.weight_scale": torch.full((1000, 2), 0.5), "head.weight_scale": torch.full((1000, 2), 0.5)}
    scheme = Scheme("m", "whisper", "0", "xnnpack", [LayerPlan(emb, fm["emb"]), LayerPlan(head, fm["head"])], scales,
                    0, 0, allocation={"target": "asr-runner"})
    check_shared_table(scheme)                                                   # one table: accepted
    scheme.weight_scales["head.weight_scale"] = torch.full((1000, 2), 0.25)
    with pytest.raises(MyqasrError, match=r"^scheme: target asr-runner stores emb once for head, but the two have "
                                          r"different formats or scales \(int4_g32, int4_g32_da8\)"):
        check_shared_table(scheme)
    scheme.allocation["target"] = "module"
    check_shared_table(scheme)                                                   # one file: two tables are fine
    scheme.allocation["target"] = "asr-runner"
    scheme.weight_scales["head.weight_scale"] = torch.full((1000, 2), 0.5)
    scheme.layers[1] = LayerPlan(head, XNN["linear"][1])                         # int8 head, int4 table
    with pytest.raises(MyqasrError, match="different formats or scales"):
        check_shared_table(scheme)
