"""The default allocator (least summed cost under the budget), the cost pass that prices it on the user's clips, and
the calibration guard of `--calibration auto`."""
import dataclasses
import itertools
import random

import pytest
import torch

from myqasr.allocate import allocate_min_cost, layer_ladder, rung_costs, size_range, smallest_step, uniform
from myqasr.errors import MyqasrError
from myqasr.formats import get_ladder
from myqasr.guard import choose, longest_run, loops, score
from myqasr.layers import Layer
from myqasr.plan import PlanConfig, model_parts, needs_costs, plan
from myqasr.size import MB, BackendProfile, model_bytes

XNN = get_ladder("xnnpack")
PROFILE = BackendProfile("test", scale_bytes=4, scale_bytes_4bit=2)
SMALL = [Layer("a", "linear", (64, 128)), Layer("b", "linear", (192, 64), bias=True), Layer("c", "conv1d", (32, 16, 3)),
         Layer("d", "linear", (128, 256)), Layer("emb", "embedding", (500, 64)),
         Layer("head", "linear", (500, 64), tied_to="emb")]


def random_costs(layers, seed: int) -> dict:
    rng = random.Random(seed)
    out = {}
    for l in layers:
        rungs = [f for f in layer_ladder(l, XNN) if f.quantized]
        c = sorted(rng.uniform(0, 1) ** 3 for _ in rungs)          # int8 <= int4 on average, not always per draw
        out[l.name] = {f.name: v for f, v in zip(rungs, c)}
    return out


def total_cost(layers, formats, costs) -> float:
    return sum(rung_costs(l, layer_ladder(l, XNN), costs)[layer_ladder(l, XNN).index(formats[l.name])]
               for l in layers)


def brute_force(layers, costs, budget):
    """Every assignment: the least cost that fits, and the least cost that fits and fills the budget, in a window
    narrower than the knapsack's by n layers x 64 bytes (the most its bins round sizes by, for models of up to
    25 GB)."""
    rungs = [layer_ladder(l, XNN) for l in layers]
    step = smallest_step(layers, XNN, PROFILE)
    margin = len(layers) * 64
    best = best_filled = float("inf")
    for combo in itertools.product(*rungs):
        f = {l.name: fmt for l, fmt in zip(layers, combo)}
        size = model_bytes(layers, f, 0, PROFILE)
        if size > budget:
            continue
        c = total_cost(layers, f, costs)
        best = min(best, c)
        if budget - step + margin < size <= budget - margin:
            best_filled = min(best_filled, c)
    return best, best_filled


@pytest.mark.parametrize("seed", range(6))
def test_knapsack_is_exact_on_small_problems(seed):
    """Against every one of the 3^5 x 2 assignments, at 12 budgets: the knapsack fits, fills the budget to within
    the smallest layer step whenever a model in its window exists, costs no more than the best such model, and
    no less than the best model that fits at all."""
    costs = random_costs(SMALL, seed)
    lo, hi = size_range(SMALL, XNN, 0, PROFILE)
    step = smallest_step(SMALL, XNN, PROFILE)
    for k in range(12):
        budget = lo + (hi - lo) * k // 11
        f = allocate_min_cost(SMALL, costs, budget, XNN, 0, PROFILE)
        size = model_bytes(SMALL, f, 0, PROFILE)
        best, best_filled = brute_force(SMALL, costs, budget)
        mine = total_cost(SMALL, f, costs)
        assert size <= budget and mine >= best - 1e-12
        if best_filled < float("inf"):
            assert size > budget - step, (budget, size, step)
            assert mine <= best_filled + 1e-12, (budget, mine, best_filled)


def test_knapsack_trades_one_expensive_table_for_many_cheap_linears_only_when_cheaper():
    """The 47 MB case of the issue: a big layer whose int4 step saves as much as many small ones. The allocator
    follows the costs, whichever way they point."""
    layers = [Layer("table", "linear", (4096, 256))] + [Layer(f"l{i}", "linear", (256, 256)) for i in range(16)]
    i8, i4 = XNN["linear"][1].name, XNN["linear"][2].name
    all4 = uniform(layers, XNN, 2)
    budget = model_bytes(layers, {**all4, "table": XNN["linear"][1]}, 0, PROFILE)    # the table's step above all-int4
    cheap_table = {"table": {i8: 0.0, i4: 0.1}, **{f"l{i}": {i8: 0.0, i4: 1.0} for i in range(16)}}
    dear_table = {"table": {i8: 0.0, i4: 100.0}, **{f"l{i}": {i8: 0.0, i4: 1.0} for i in range(16)}}
    f = allocate_min_cost(layers, cheap_table, budget, XNN, 0, PROFILE)
    assert f["table"].name == i4 and sum(f[f"l{i}"].name == i8 for i in range(16)) >= 15
    f = allocate_min_cost(layers, dear_table, budget, XNN, 0, PROFILE)
    assert f["table"].name == i8 and sum(f[f"l{i}"].name == i4 for i in range(16)) == 16


def test_knapsack_refuses_unpriced_formats_and_budgets_below_the_floor():
    costs = random_costs(SMALL, 0)
    lo, hi = size_range(SMALL, XNN, 0, PROFILE)
    with pytest.raises(MyqasrError, match="below the smallest reachable size"):
        allocate_min_cost(SMALL, costs, lo - 1, XNN, 0, PROFILE)
    del costs["d"]
    with pytest.raises(MyqasrError, match="no cost for format int8_pc_da8 of layer d"):
        allocate_min_cost(SMALL, costs, (lo + hi) // 2, XNN, 0, PROFILE)
    assert allocate_min_cost(SMALL, {}, hi, XNN, 0, PROFILE) == {l.name: layer_ladder(l, XNN)[0] for l in SMALL}


def test_costs_of_the_users_clips_price_every_format_and_rank_int4_above_int8(embedded, user_stats):
    layers, ladder, _, _ = model_parts(embedded)
    assert set(user_stats.costs) == {l.name for l in layers}
    for l in layers:
        priced = user_stats.costs[l.name]
        assert set(priced) == {f.name for f in layer_ladder(l, ladder) if f.quantized}, l.name
        assert all(v > 0 for v in priced.values()), l.name
        if "int4_g32_da8" in priced:
            assert priced["int4_g32_da8"] > priced["int8_pc_da8"], l.name
    # the tied table is priced as two layers, each from its own use
    assert user_stats.costs["proj_out"]["int4_g32_da8"] != user_stats.costs["model.decoder.embed_tokens"]["int4_g32"]


def test_cost_predicts_what_one_layer_in_int4_does_to_the_output(embedded, user_clips, user_stats):
    """The cost is a second-order estimate of how far the model's log-probabilities move: over 8 layers chosen
    across the cost range, putting ONE layer in int4 (simulated) must move the teacher-forced log-probabilities
    more for the layers the cost ranks higher (Spearman rank correlation >= 0.6)."""
    import copy

    from myqasr.adapters import adapter_for, own_transcripts
    from myqasr.layers import set_module
    from myqasr.simulate import SimLinear
    from myqasr.cost import quantized_weight

    adapter = adapter_for("whisper", embedded.processor)
    audios = [c.audio for c in user_clips[:4]]
    ids = own_transcripts(embedded.model, adapter, audios)
    lin = sorted((v["int4_g32_da8"], k) for k, v in user_stats.costs.items() if "int4_g32_da8" in v)
    picked = [lin[i * (len(lin) - 1) // 7] for i in range(8)]

    def logprobs(model):
        out = []
        with torch.inference_mode():
            for a, t in zip(audios, ids):
                logits = model(input_features=adapter.features([a]), decoder_input_ids=t[:-1].reshape(1, -1)).logits
                out.append(torch.log_softmax(logits[0, 1:].float(), -1))
        return out

    ref = logprobs(embedded.model)
    moved = []
    fmt = XNN["linear"][2]
    for _, name in picked:
        model = copy.deepcopy(embedded.model)
        m = model.get_submodule(name)
        set_module(model, name, SimLinear(quantized_weight(m.weight.detach().float(), fmt), m.bias, fmt))
        kl = sum(float((r.exp() * (r - q)).sum()) for r, q in zip(ref, logprobs(model)))
        moved.append(kl)
    rank = lambda xs: [sorted(xs).index(x) for x in xs]                          # noqa: E731
    ra, rb = rank([c for c, _ in picked]), rank(moved)
    n = len(ra)
    rho = 1 - 6 * sum((a - b) ** 2 for a, b in zip(ra, rb)) / (n * (n * n - 1))
    assert rho >= 0.6, (rho, [(n_, c, m) for (c, n_), m in zip(picked, moved)])


def test_plan_fills_fifty_budgets_from_all_int4_to_all_int8(embedded, user_stats):
    """The default allocator on tiny.en: every budget from the all-int4 to the all-int8 size is met and filled to
    within the smallest step any layer can take (no dead zones), and a larger budget never costs more."""
    layers, ladder, rest, profile = model_parts(embedded)
    lo = model_bytes(layers, uniform(layers, ladder, 2), rest, profile)
    hi = model_bytes(layers, uniform(layers, ladder, 1), rest, profile)
    step = smallest_step(layers, ladder, profile)
    prev = None
    for k in range(50):
        budget = lo + (hi - lo) * k // 49
        f = allocate_min_cost(layers, user_stats.costs, budget, ladder, rest, profile)
        size = model_bytes(layers, f, rest, profile)
        assert budget - step < size <= budget, (k, budget, size, step)
        cost = sum(rung_costs(l, layer_ladder(l, ladder), user_stats.costs)[layer_ladder(l, ladder).index(f[l.name])]
                   for l in layers)
        assert prev is None or cost <= prev + 1e-12
        prev = cost
    scheme = plan(embedded, user_stats, (lo + hi) / 2 / MB, PlanConfig(allocator="knapsack"))
    assert scheme.allocation["allocator"] == "knapsack"
    assert plan(embedded, user_stats, (lo + hi) / 2 / MB).allocation["allocator"] == "knapsack"     # the default
    assert all("costs" in p.stats for p in scheme.layers)


def test_plan_says_what_to_do_without_costs(embedded, user_stats):
    knapsack = PlanConfig(allocator="knapsack")
    with pytest.raises(MyqasrError, match="no format costs.*--allocator myqasr"):
        plan(embedded, dataclasses.replace(user_stats, costs={}), 45.0, knapsack)
    with pytest.raises(MyqasrError, match=r"no cost for format int6_pc_\w+ of layer"):
        plan(embedded, user_stats, 40.0, PlanConfig(allocator="knapsack", ladder="research", bits=(8, 6, 4)))
    assert plan(embedded, dataclasses.replace(user_stats, costs={}), 45.0, PlanConfig(allocator="myqasr"))


def test_default_allocator_is_the_knapsack_unless_the_statistics_hold_no_costs(embedded, user_stats):
    """`auto` (the default) runs the knapsack on a host's statistics and the paper's walk on a phone's, which hold no
    costs; the scheme records the allocator that ran, and it equals the one named explicitly."""
    phone = dataclasses.replace(user_stats, costs={})
    assert PlanConfig().allocator == "auto" and needs_costs(PlanConfig())
    assert not needs_costs(PlanConfig(allocator="myqasr"))
    formats = lambda s: {p.name: p.format.name for p in s.layers}                 # noqa: E731
    by_default = {}
    for stats, ran in ((user_stats, "knapsack"), (phone, "myqasr")):
        by_default[ran] = plan(embedded, stats, 45.0)
        assert by_default[ran].allocation["allocator"] == ran
        assert formats(by_default[ran]) == formats(plan(embedded, stats, 45.0, PlanConfig(allocator=ran)))
    assert formats(by_default["myqasr"]) != formats(by_default["knapsack"])


# --------------------------------------------------------------------------------------------- the guard

def test_loops_are_runaway_or_repeated_transcripts():
    ref = "the cat sat on the mat"
    assert not loops("the cat sat on a mat", ref)
    assert loops("the cat sat on the mat " * 3, ref)                     # more than twice the words (+4)
    assert loops("the cat the cat the cat the cat sat", ref)             # one bigram 4x in a row
    assert not loops("no no no no", "no no no no")                        # the full-precision model says it too
    assert longest_run("a b a b a b c".split()) == 3 and longest_run([]) == 1


def test_guard_never_prefers_a_looping_candidate_and_breaks_ties_toward_min_max():
    scores = {"minmax": {"pseudo_wer": 0.20, "loops": 0}, "cosine": {"pseudo_wer": 0.05, "loops": 1},
              "hessian": {"pseudo_wer": 0.20, "loops": 0}}
    assert choose(scores) == "minmax"
    scores["cosine"]["loops"] = 0
    assert choose(scores) == "cosine"
    assert score(["a b c d"], ["a b c d"]) == {"pseudo_wer": 0.0, "loops": 0}
    assert score(["a b x d", "z z z z z z z z z z z z"], ["a b c d", "hello"]) == {"pseudo_wer": 2.6, "loops": 1}      # 1 + 12 errors / 5 words


def test_plan_auto_scores_every_candidate_and_keeps_the_guards_choice(embedded, user_stats, user_clips):
    """`--calibration auto` on 2 clips at the all-int4 size: every candidate is scored against the full-precision
    transcripts, the scheme records the scores, and its scales are those of the chosen candidate."""
    layers, ladder, rest, profile = model_parts(embedded)
    lo = model_bytes(layers, uniform(layers, ladder, 2), rest, profile)
    clips = user_clips[:2]
    cache: dict = {}
    scheme = plan(embedded, user_stats, lo / MB + 0.001, PlanConfig(calibration="auto"), clips=clips,
                  progress=False, cache=cache)
    cal = scheme.calibration
    assert cal["method"] == "auto" and set(cal["scores"]) == {"minmax", "cosine", "hessian"}
    assert cal["chosen"] == choose(cal["scores"])
    from myqasr.report import scheme_summary
    assert f"calibration auto -> {cal['chosen']} (pseudo-label WER" in scheme_summary(scheme)
    same = plan(embedded, user_stats, lo / MB + 0.001, PlanConfig(calibration=cal["chosen"]), clips=clips,
                progress=False, cache=cache)
    assert all(torch.equal(same.weight_scales[k], v) for k, v in scheme.weight_scales.items())
    assert plan(embedded, user_stats, 45.0).calibration == {"method": "minmax"}           # auto without clips
    phone = dataclasses.replace(user_stats, provenance={"computed_on": "phone"})
    assert plan(embedded, phone, 45.0, clips=clips).calibration == {"method": "minmax"}   # clips not the user's
    with pytest.raises(MyqasrError, match="calibration: cosine needs the clips"):
        plan(embedded, user_stats, 45.0, PlanConfig(calibration="cosine"))
