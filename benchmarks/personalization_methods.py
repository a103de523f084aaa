"""The schemes the personalization panel compares (see `benchmarks.personalization`): myQASR with each calibration,
its ablations, and the uniform baselines, all as the SDK's schemes on the phone ladder.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from itertools import product

from benchmarks.harness import SizeModel, budget_ladder, size_model

METHODS = ["fp32", "uniform", "uniform-mix", "myqasr-minmax", "myqasr-cosine", "myqasr-hessian", "other-cosine",
           "abl-descending", "abl-random", "abl-mean", "abl-max"]


@dataclass(frozen=True)
class Ctx:
    """What every scheme of the run needs: the model, its adapter and its size model (layers, ladder, profile)."""
    loaded: object
    adapter: object
    sizes: SizeModel


def make_ctx(loaded) -> Ctx:
    from myqasr.adapters import adapter_for
    return Ctx(loaded, adapter_for(loaded.arch, loaded.processor), size_model(loaded))


def budgets_mb(ref: dict, n: int) -> list[float]:
    """n budgets (MB) evenly spaced from the all-int8 size down to the all-int4 size (both reachable exactly);
    `ref` from `harness.reference_bytes`."""
    from myqasr.size import MB
    return [round(b / MB, 6) for b in budget_ladder(ref["int8"], ref["int4"], n)]


def myqasr_scheme(ctx: Ctx, stats, budget_mb, config, clips, cache, timings=None):
    """`plan()` with min-max, then the searched scales from `search.calibrate` with a per-user cache (so budgets
    share the calibration pass), stored as plan() stores them: the same scheme `plan(..., config)` returns."""
    from myqasr import search
    from myqasr.plan import plan
    from myqasr.quant import storable_scale
    t = time.perf_counter()
    scheme = plan(ctx.loaded, stats, budget_mb, replace(config, calibration="minmax"), progress=False)
    if config.calibration != "minmax":
        fm = scheme.formats()
        ws, acts = search.calibrate(ctx.loaded, ctx.sizes.layers, fm, stats, clips,
                                    method=config.calibration, progress=False, cache=cache)
        scheme.weight_scales = {k: storable_scale(v, fm[k[:-len(".weight_scale")]]) for k, v in ws.items()}
        for p in scheme.layers:
            p.input_scale, p.output_scale = acts.get(p.name, (None, None))
        scheme.calibration = {"method": config.calibration}
    if timings is not None:
        timings.append({"calibration": config.calibration, "budget_mb": budget_mb,
                        "seconds": round(time.perf_counter() - t, 2)})
    return scheme


def formats_scheme(ctx: Ctx, stats, formats, budget_mb):
    """A min-max scheme for given per-layer formats (the uniform baselines)."""
    from myqasr.calibrate import calibrate_minmax
    from myqasr.quant import storable_scale
    from myqasr.scheme import LayerPlan, Scheme
    from myqasr.size import MB
    sm = ctx.sizes
    ws, acts = calibrate_minmax(ctx.loaded.model, sm.layers, formats, stats)
    ws = {k: storable_scale(v, formats[k[:-len(".weight_scale")]]) for k, v in ws.items()}   # as plan() stores them
    plans = [LayerPlan(l, formats[l.name], 0.0, {}, *acts.get(l.name, (None, None))) for l in sm.layers]
    L = ctx.loaded
    return Scheme(L.model_id, L.arch, L.weights_sha256, sm.profile.name, plans, ws, sm.bytes(formats), sm.rest,
                  int(round(budget_mb * MB)), {"uniform": True}, {"method": "minmax"}, stats.clips)


def uniform_formats(sm: SizeModel, budget_bytes: int):
    """The largest single-rung assignment that fits (rung 1 = int8, rung 2 = int4 where the ladder has it)."""
    from myqasr.allocate import uniform
    for rung in range(len(max(sm.ladder.values(), key=len))):
        f = uniform(sm.layers, sm.ladder, rung)
        if sm.bytes(f) <= budget_bytes:
            return f
    return None


def component(name: str) -> str:
    if "embed_tokens" in name or name == "proj_out":     # the tied token table: lookup and output projection
        return "embedding"
    if ".encoder." in f".{name}" and "conv" not in name:
        return "encoder"
    if ".decoder." in f".{name}":
        return "decoder"
    return "conv"


def uniform_mix_formats(sm: SizeModel, budget_bytes: int):
    """Encoder linears, decoder linears and the tied token table (lookup + proj_out) each on rung 1 or 2 (convs
    int8); the largest that fits. Returns (formats, label)."""
    from myqasr.allocate import uniform
    r1, r2 = uniform(sm.layers, sm.ladder, 1), uniform(sm.layers, sm.ladder, 2)
    best = None
    for enc, dec, emb in product((1, 2), repeat=3):
        pick = {"encoder": enc, "decoder": dec, "embedding": emb, "conv": 1}
        f = {l.name: (r1 if pick[component(l.name)] == 1 else r2)[l.name] for l in sm.layers}
        size = sm.bytes(f)
        if size <= budget_bytes and (best is None or size > best[0]):
            best = (size, f, f"enc int{8 if enc == 1 else 4}, dec int{8 if dec == 1 else 4}, "
                             f"emb int{8 if emb == 1 else 4}")
    return (best[1], best[2]) if best else (None, None)


def scheme_key(scheme, calib_user: str) -> str:
    """What makes two schemes transcribe alike: calibration user, per-layer formats, activation and weight scales."""
    h = hashlib.sha256(calib_user.encode())
    for p in scheme.layers:
        h.update(f"{p.name}|{p.format.name}|{p.input_scale}|{p.output_scale}\n".encode())
    for k in sorted(scheme.weight_scales):
        h.update(scheme.weight_scales[k].numpy().tobytes())
    return h.hexdigest()


def user_schemes(ctx: Ctx, stats, budgets: list[float], clips, timings: list, user: str) -> dict:
    """{(budget MB, method): scheme} of one user: myQASR x 3 calibrations, the 4 ablations, the 2 uniform baselines.
    One search cache per user serves every budget."""
    from myqasr.plan import PlanConfig
    from myqasr.size import MB
    cache: dict = {}
    s = {}
    for b in budgets:
        # hessian first: its calibration pass (with gradients) also serves cosine
        for m in ("minmax", "hessian", "cosine"):
            s[(b, f"myqasr-{m}")] = myqasr_scheme(ctx, stats, b, PlanConfig(calibration=m), clips, cache, timings)
            timings[-1]["user"] = user
        for name, cfg in (("abl-descending", PlanConfig(order="descending")),
                          ("abl-random", PlanConfig(order="random", seed=0)),
                          ("abl-mean", PlanConfig(metric="mean")), ("abl-max", PlanConfig(metric="max"))):
            s[(b, name)] = myqasr_scheme(ctx, stats, b, cfg, clips, cache)
        s[(b, "uniform")] = formats_scheme(ctx, stats, uniform_formats(ctx.sizes, int(round(b * MB))), b)
        mf, label = uniform_mix_formats(ctx.sizes, int(round(b * MB)))
        s[(b, "uniform-mix")] = formats_scheme(ctx, stats, mf, b)
        s[(b, "uniform-mix")].allocation["mix"] = label
    return s
