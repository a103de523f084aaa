"""Perf study 1, personalization cost: the statistics pass, allocation and `plan()` against a plain full-precision
pass and a store-every-activation baseline, at several clip counts, each count in fresh processes.

Part of `python -m benchmarks.perf` (`--parts cost`); its rows are `perf.json["cost"]`.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from myqasr.constants import CALIBRATION_TRANSCRIBE_BATCH

from benchmarks.harness import (Stage, budget_ladder, fmt_or_dash, lifetime_peak_rss_mb, reference_bytes,
                                rss_mb, run_child, save_figure, size_model, table)

COST_VOICES = ("flite_rms", "flite_slt")     # 2 voices x 32 sentences = 64 clips
SENTENCES_PER_VOICE = 32


def cost_clip_paths(work: Path, n: int) -> list[Path]:
    """n clips: voice 1 sentences 0..31, then voice 2 sentences 0..31 (rendered into work/voices if missing)."""
    from benchmarks import voices as V
    jobs = [(V.VOICES_BY_USER[u], i, work / "voices" / u / f"{i:03d}.wav")
            for u in COST_VOICES for i in range(SENTENCES_PER_VOICE)][:n]
    if len(jobs) < n:
        raise SystemExit(f"perf: at most {len(COST_VOICES) * SENTENCES_PER_VOICE} cost clips")
    missing = [j for j in jobs if not j[2].exists()]
    if missing:
        V.choose_voices([j[0].user for j in missing], V.DEFAULT_PIPER_PYTHON)   # checks that flite/sox exist
        V.render(work / "voices", missing)
    return [j[2] for j in jobs]


def load_for_cost(spec: dict):
    """(clips, loaded model, adapter) of a cost child."""
    from myqasr.adapters import adapter_for
    from myqasr.audio import load_clips
    from myqasr.models import load_model
    clips = load_clips([Path(p) for p in spec["clips"]])
    loaded = load_model(None)
    return clips, loaded, adapter_for(loaded.arch, loaded.processor)


def child_cost(spec: dict) -> dict:
    """Plain FP pass, statistics pass, cost pass, allocation x K (knapsack and the paper's walk), plan(minmax) x K,
    plan(cosine) x 1 and plan(auto) x 1 on n clips."""
    from myqasr.adapters import own_transcripts
    from myqasr.allocate import allocate_min_cost, allocate_round_robin
    from myqasr.cost import collect_costs, priced_formats
    from myqasr.plan import PlanConfig, clips_info, compute_statistics, plan
    from myqasr.size import MB
    from myqasr.stats import collect_statistics, release_freed_memory, save_statistics

    clips, loaded, adapter = load_for_cost(spec)
    audios = [c.audio for c in clips]
    sizes, ref = size_model(loaded), reference_bytes(loaded)
    compute_statistics(loaded, clips[:1], progress=False)             # warm-up: lazy imports, allocator
    out = {"clips": len(clips), "audio_s": round(sum(c.seconds for c in clips), 1), "rss_loaded_mb": rss_mb(),
           "transcribe_batch": CALIBRATION_TRANSCRIBE_BATCH}

    with Stage() as s:                                                # (b) the plain full-precision pass
        ids = own_transcripts(loaded.model, adapter, audios, batch_size=CALIBRATION_TRANSCRIBE_BATCH)
        for a, i in zip(audios, ids):
            adapter.stats_forward(loaded.model, a, i)
    out.update(s.row("plain"))
    # compute_statistics = these two stages: the forward-only statistics pass, then the cost pass
    with Stage() as s:
        ids = own_transcripts(loaded.model, adapter, audios, batch_size=CALIBRATION_TRANSCRIBE_BATCH, after_batch=release_freed_memory)
        stats = collect_statistics(loaded.model, adapter, audios, sizes.layers, model_id=loaded.model_id,
                                   weights_sha256=loaded.weights_sha256, clips=clips_info(clips), progress=False,
                                   decoder_ids=ids)
    out.update(s.row("stats"))
    with Stage() as s:
        stats.costs = collect_costs(loaded.model, adapter, audios, ids, sizes.layers,
                                    priced_formats(sizes.layers, sizes.ladder), progress=False)
    out.update(s.row("costs"))
    if spec.get("save_stats"):
        save_statistics(stats, spec["save_stats"])

    budgets = budget_ladder(ref["int8"], ref["int4"], spec["alloc_budgets"])
    sens = stats.metric("median")
    with Stage() as s:
        for b in budgets:
            allocate_min_cost(sizes.layers, stats.costs, b, sizes.ladder, sizes.rest, sizes.profile)
    out.update(s.row("alloc"))
    with Stage() as s:
        for b in budgets:
            allocate_round_robin(sizes.layers, sens, b, sizes.ladder, sizes.rest, sizes.profile)
    out.update(s.row("paper_alloc"))
    with Stage() as s:
        for b in budgets:
            plan(loaded, stats, b / MB, PlanConfig(), progress=False)
    out.update(s.row("minmax"))
    if spec.get("cosine"):
        mid = budgets[len(budgets) // 2]
        try:
            with Stage() as s:
                plan(loaded, stats, mid / MB, PlanConfig(calibration="cosine"), clips=clips, progress=False)
            out.update(s.row("cosine"))
        except Exception as e:   # noqa: BLE001  (a failed search is reported in the table, the rest still counts)
            out["cosine_error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    if spec.get("auto"):
        mid = budgets[len(budgets) // 2]
        with Stage() as s:
            plan(loaded, stats, mid / MB, PlanConfig(calibration="auto"), clips=clips, progress=False)
        out.update(s.row("auto"))
    out["n_budgets"] = len(budgets)
    out["process_peak_rss_mb"] = lifetime_peak_rss_mb()
    return out


def child_storeall(spec: dict) -> dict:
    """(a) The store-every-activation baseline: keep every layer's output for all clips, then the exact median."""
    import torch
    from myqasr.adapters import own_transcripts

    clips, loaded, adapter = load_for_cost(spec)
    model = loaded.model
    layers = adapter.layers(model)
    audios = [c.audio for c in clips]
    ids0 = own_transcripts(model, adapter, audios[:1], batch_size=CALIBRATION_TRANSCRIBE_BATCH)   # warm-up
    adapter.stats_forward(model, audios[0], ids0[0])
    out = {"clips": len(clips), "rss_loaded_mb": rss_mb()}
    store = {l.name: [] for l in layers}
    ctx: dict = {}

    def hook_for(name):
        def hook(module, inputs, output):
            # the same values the streaming statistics see (padding of the 30 s window dropped), kept as a copy
            store[name].append(adapter.trim(name, output, ctx, False).detach().float().clone())
        return hook

    with Stage() as s:
        ids = own_transcripts(model, adapter, audios, batch_size=CALIBRATION_TRANSCRIBE_BATCH)
        handles = [model.get_submodule(l.name).register_forward_hook(hook_for(l.name)) for l in layers]
        try:
            for a, i in zip(audios, ids):
                ctx.clear()
                ctx.update(adapter.stats_context(a))
                adapter.stats_forward(model, a, i)
        finally:
            for h in handles:
                h.remove()
        capture_s = time.perf_counter() - s.t0
        stored = sum(t.numel() * t.element_size() for ts in store.values() for t in ts)
        medians = {}
        for name in list(store):
            flat = torch.cat([t.reshape(-1) for t in store[name]]).abs_()
            medians[name] = float(flat.median())
            del flat
    out.update(s.row("storeall"))
    out.update({"storeall_capture_s": capture_s, "stored_mb": stored / 2 ** 20})
    if spec.get("stats_file") and Path(spec["stats_file"]).is_file():
        out.update(compare_medians(loaded, medians, spec["stats_file"], spec["alloc_budgets"]))
    return out


def compare_medians(loaded, exact: dict, stats_file: str, k: int) -> dict:
    """How far the streamed (histogram) medians are from the exact ones, and whether allocation changes."""
    from myqasr.allocate import allocate_round_robin
    from myqasr.stats import load_statistics

    streamed = load_statistics(stats_file).metric("median")
    rel = [abs(streamed[n] - exact[n]) / abs(exact[n]) for n in exact if exact[n]]
    sizes, ref = size_model(loaded), reference_bytes(loaded)
    diff_layers = 0
    for b in budget_ladder(ref["int8"], ref["int4"], k):
        a = allocate_round_robin(sizes.layers, streamed, b, sizes.ladder, sizes.rest, sizes.profile)
        e = allocate_round_robin(sizes.layers, exact, b, sizes.ladder, sizes.rest, sizes.profile)
        diff_layers += sum(a[n] != e[n] for n in a)
    return {"median_max_rel_err": max(rel) if rel else float("nan"), "alloc_layers_differing": diff_layers}


def measure(st, work: Path, progress) -> list[dict]:
    """One row per clip count: the cost child, then the store-all child on the same clips."""
    paths = cost_clip_paths(work, max(st.counts))
    rows = []
    for n in st.counts:
        stats_file = str(work / f"cost_stats_{n}.safetensors")
        spec = {"clips": [str(p) for p in paths[:n]], "alloc_budgets": st.alloc_budgets,
                "cosine": st.cosine and n <= st.cosine_max, "auto": st.cosine and n <= st.auto_max,
                "save_stats": stats_file, "threads": st.cost_threads}
        progress.doing(f"cost {n} clips")
        row = run_child(child_cost, spec, st.cost_threads)
        progress.done()
        progress.doing(f"store-all {n} clips")
        storeall = run_child(child_storeall, {**spec, "stats_file": stats_file}, st.cost_threads)
        row.update({k: v for k, v in storeall.items() if k not in ("clips", "process_s")})
        progress.done()
        rows.append(row)
        progress.log(f"cost n={n}: " + json.dumps({k: (round(v, 2) if isinstance(v, float) else v)
                                                   for k, v in row.items()}))
    return rows


# ---------------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------------

def table_row(r: dict) -> list:
    if "error" in r:
        return [r.get("clips", "?"), "error: " + r["error"][:200]] + [""] * 17
    f = fmt_or_dash
    return [r["clips"], r["audio_s"], f(r["plain_s"], 1), f(r["stats_s"], 1), f(r["stats_s"] / r["plain_s"]),
            f(r.get("costs_s"), 1), f(r.get("storeall_s"), 1),
            # rows measured before the knapsack existed timed the paper's walk as "alloc"
            f(r["alloc_s"] * 1000, 0) if "paper_alloc_s" in r else "-",
            f(r.get("paper_alloc_s", r["alloc_s"]) * 1000, 0), f(r["minmax_s"], 1),
            f(r.get("cosine_s"), 1) if "cosine_s" in r else r.get("cosine_error", "-")[:60], f(r.get("auto_s"), 1),
            f"{r['rss_loaded_mb']:.0f}", f"{r['plain_peak_mb']:.0f}", f"{r['stats_peak_mb']:.0f}",
            f(r.get("costs_peak_mb"), 0), f(r.get("cosine_peak_mb"), 0), f(r.get("auto_peak_mb"), 0),
            f(r.get("storeall_peak_mb"), 0), f(r.get("stored_mb"), 0)]


def verdicts(ok: list[dict]) -> list[str]:
    """The two targets (time <= 1.3x the plain pass, memory flat in the clip count) and the store-all comparison."""
    out = []
    ratios = [r["stats_s"] / r["plain_s"] for r in ok]
    growth = ok[-1]["stats_peak_mb"] - ok[0]["stats_peak_mb"]
    sa = [r for r in ok if "storeall_peak_mb" in r]
    met_t = all(x <= 1.3 for x in ratios)
    over = [r["stats_peak_mb"] - r["plain_peak_mb"] for r in ok]
    plain_growth = ok[-1]["plain_peak_mb"] - ok[0]["plain_peak_mb"]
    met_m = all(x <= 50.0 for x in over) and growth <= plain_growth + 50.0
    out.append(f"- **Target statistics pass <= 1.3x the plain pass: {'met' if met_t else 'NOT met'}** "
               f"(ratios {', '.join(f'{x:.2f}' for x in ratios)} for {', '.join(str(r['clips']) for r in ok)} "
               "clips).")
    out.append(f"- **Target memory flat in the number of clips: {'met' if met_m else 'NOT met'}** (criterion: "
               "the statistics pass peaks at most 50 MB above the plain pass at every clip count, and grows "
               "no more than the plain pass from the fewest to the most clips): statistics "
               f"peak {ok[0]['stats_peak_mb']:.0f} MB at {ok[0]['clips']} clips, "
               f"{ok[-1]['stats_peak_mb']:.0f} MB at {ok[-1]['clips']} clips ({growth:+.0f} MB; the plain "
               f"pass without hooks {plain_growth:+.0f} MB: allocator retention, not statistics); above the "
               f"plain pass by {', '.join(f'{x:+.0f}' for x in over)} MB; "
               + (f"store-all {sa[0]['storeall_peak_mb']:.0f} -> {sa[-1]['storeall_peak_mb']:.0f} MB "
                  f"({sa[-1]['stored_mb']:.0f} MB of stored activations at {sa[-1]['clips']} clips, "
                  f"{sa[-1]['stored_mb'] / sa[-1]['clips']:.1f} MB per clip)." if sa else ""))
    cp = [r for r in ok if "costs_peak_mb" in r]
    if cp:
        c_growth = cp[-1]["costs_peak_mb"] - cp[0]["costs_peak_mb"]
        out.append(f"- **Cost pass (the knapsack's costs): memory flat in the number of clips: "
                   f"{'met' if c_growth <= plain_growth + 50.0 else 'NOT met'}** (peak {cp[0]['costs_peak_mb']:.0f} "
                   f"MB at {cp[0]['clips']} clips, {cp[-1]['costs_peak_mb']:.0f} MB at {cp[-1]['clips']} clips, "
                   f"{c_growth:+.0f} MB); time per clip " + ", ".join(
                       f"{r['costs_s'] / r['clips']:.2f} s ({r['clips']} clips)" for r in cp) + ".")
        eight = [r for r in cp if r["clips"] == 8]
        if eight:
            r = eight[0]
            total = r["stats_s"] + r["costs_s"] + r["minmax_s"] / r["n_budgets"]
            out.append(f"- **Personalization for 8 clips (statistics + costs + allocation + min-max calibration, one "
                       f"budget): {total:.1f} s** (target <= 60 s: {'met' if total <= 60 else 'NOT met'}); "
                       + (f"with `--calibration auto` instead of min-max: {r['stats_s'] + r['costs_s'] + r['auto_s']:.1f} s."
                          if "auto_s" in r else ""))
    if sa:
        out.append("- Store-all vs streaming time: " + ", ".join(
            f"{r['clips']} clips {r['storeall_s'] / r['stats_s']:.2f}x" for r in sa) + " (store-all time "
            "includes the exact medians).")
    cmp_ = [r for r in ok if "median_max_rel_err" in r]
    if cmp_:
        out.append("- Streamed (histogram) vs exact median of |y|: max relative error " + ", ".join(
            f"{100 * r['median_max_rel_err']:.3f} % ({r['clips']} clips)" for r in cmp_) +
            "; layers whose format differs between allocations from exact and streamed medians, summed "
            "over all budgets: " + ", ".join(str(r["alloc_layers_differing"]) for r in cmp_) + ".")
    return out


def transcribe_batch(res: dict) -> int:
    """Segments per full-precision transcription batch in the cost rows (4 in rows measured before the SDK's
    `CALIBRATION_TRANSCRIBE_BATCH` existed and did not record it)."""
    return next((r["transcribe_batch"] for r in res.get("cost", []) if "transcribe_batch" in r), 4)


def section(res: dict) -> list[str]:
    rows = [table_row(r) for r in res.get("cost", [])]
    ok = [r for r in res.get("cost", []) if "error" not in r]
    out = [f"## 1. Personalization cost (fresh process per clip count, torch {res['settings']['cost_threads']} "
           "thread(s))", "",
           "Clips: flite `rms` then flite `slt` reading the first 32 sentences of `benchmarks.voices` "
           f"(2-5 s each). *plain* = one full-precision pass without hooks: greedy transcription in batches of "
           f"{transcribe_batch(res)} + "
           "one teacher-forced forward per clip (exactly the work the statistics pass does, minus the hooks). "
           "*store-all* = hooks that keep every layer's output (padding dropped, i.e. the same values the "
           "streaming statistics see) for all clips, then the exact median of |y| per layer (the reference "
           "implementation also keeps inputs and gradients, so this is a lower bound on its cost). "
           "*stats* = the forward-only statistics pass (with the full-precision transcription); *costs* = the cost "
           "pass that prices every format of every layer for the default allocator (one forward + backward per "
           "clip); together they are `compute_statistics`. "
           f"Allocation (knapsack, and the paper's walk) and min-max `plan()` cover {ok[0]['n_budgets'] if ok else '?'} "
           "budgets from one statistics pass; cosine is one `plan(calibration=\"cosine\")` at the midway budget (up to "
           f"{res['settings']['cosine_max']} clips), auto one `plan(calibration=\"auto\")` there (up to "
           f"{res['settings'].get('auto_max', 8)} clips). Peak RSS of each "
           "stage is its own (VmHWM reset at the stage's start), in MB; the model, torch and transformers are "
           "already loaded (\"loaded\").", "",
           table(["clips", "audio s", "plain s", "stats s", "stats / plain", "costs s", "store-all s",
                  "knapsack ms (all)", "paper walk ms (all)", "plan minmax s (all)", "plan cosine s", "plan auto s",
                  "loaded MB", "plain peak", "stats peak", "costs peak", "cosine peak", "auto peak",
                  "store-all peak", "stored MB"], rows), ""]
    return out + (verdicts(ok) if ok else []) + [""]


def plot(res: dict, out: Path, plt) -> list[str]:
    """perf_cost.png: time and peak RSS of each pass against the number of clips."""
    cost = [r for r in res.get("cost", []) if "error" not in r]
    if not cost:
        return []
    n = [r["clips"] for r in cost]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, suffix, ylabel, title in ((a1, "s", "seconds", "time"),
                                      (a2, "peak_mb", "peak RSS MB (process)", "memory")):
        ax.plot(n, [r[f"plain_{suffix}"] for r in cost], "o-", label="plain FP pass")
        ax.plot(n, [r[f"stats_{suffix}"] for r in cost], "o-", label="statistics pass")
        if all(f"costs_{suffix}" in r for r in cost):
            ax.plot(n, [r[f"costs_{suffix}"] for r in cost], "o-", label="cost pass")
        if all(f"storeall_{suffix}" in r for r in cost):
            ax.plot(n, [r[f"storeall_{suffix}"] for r in cost], "o-", label="store-all + exact median")
        if all(f"cosine_{suffix}" in r for r in cost):
            ax.plot(n, [r[f"cosine_{suffix}"] for r in cost], "o--",
                    label="plan cosine (1 budget)" if suffix == "s" else "plan cosine")
        ax.set_xlabel("clips")
        ax.set_ylabel(ylabel)
        ax.set_xscale("log", base=2)
        ax.legend(fontsize=8)
        ax.set_title(title)
    fig.suptitle("Statistics cost vs number of clips (2 threads)")
    return [save_figure(fig, out / "perf_cost.png", 110)]
