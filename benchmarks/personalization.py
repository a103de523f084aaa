"""Does personalization pay? myQASR on a panel of synthetic voice users, at a ladder of byte budgets.

    python -m benchmarks.personalization --out benchmarks/results            # the full panel (~1 h, 2 cores)
    python -m benchmarks.personalization --out /tmp/p --quick                # 2 users, 3+3 clips (smoke test)

Panel: offline TTS voices from `benchmarks.voices` (espeak-ng accents and flite speakers), rendered once into
`--voices-dir`. Every user reads sentences 0-7 (calibration: 8 clips, never scored) and 8-15 (test: 8 other
sentences, never seen by any calibration).

Budgets: evenly spaced from the all-int8 size of the embedded Whisper tiny.en on the phone ladder down to its
all-int4 size (`allocate.size_range` / `allocate.uniform`; `--budgets` in all).

Methods (per user and budget; every quantized model is the SDK's simulated model, scored by WER on the user's test
clips):
  fp32            the unquantized model.
  uniform         the largest single-rung model that fits: all-int8 at the int8 budget, all-int4 (convs int8)
                  below it; min-max scales.
  uniform-mix     the largest-size "component-uniform" model that fits: encoder linears, decoder linears and the
                  tied token table (lookup + proj_out) each on one rung (int8 or int4, 8 mixes), chosen by size only (no labels);
                  min-max scales.
  myqasr-*        myQASR: allocation by the median of |layer output| (ascending: least sensitive steps down
                  first, the SDK default), calibrated on the same user's 8 clips with min-max / cosine / hessian.
  other-cosine    the same pipeline (cosine) calibrated on a *different* user (`partner`), tested on this user.
  abl-descending  allocation order reversed (the authors' script); min-max scales.
  abl-random      random allocation order (seed 0); min-max scales.
  abl-mean/-max   mean or max of |y| instead of the median; ascending; min-max scales.
One statistics pass per user serves every budget and method; the cosine search is reused across budgets for a
layer whose format does not change (`search.calibrate(cache=...)`); hessian runs once per budget, as `plan` does.
A scheme evaluated twice (e.g. every allocation ablation at the all-int8 budget) is transcribed once.

Also measured: wall time and peak resident memory of each calibration strategy on 8 clips, each in its own process.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from benchmarks import voices as V

USERS = ["espeak_us_m3", "flite_slt", "espeak_gb_f2", "flite_rms", "espeak_scot_f4", "flite_awb",
         "espeak_carib_m2", "flite_kal16", "espeak_us_high_f5", "espeak_us_slowlow_m6"]
QUICK_USERS = ["espeak_us_m3", "flite_slt"]
CALIB, TEST = range(0, 8), range(8, 16)        # sentence indices (benchmarks.voices.SENTENCES); set by --*-clips
METHODS = ["fp32", "uniform", "uniform-mix", "myqasr-minmax", "myqasr-cosine", "myqasr-hessian", "other-cosine",
           "abl-descending", "abl-random", "abl-mean", "abl-max"]
DEFAULT_VOICES = Path.home() / ".cache" / "myqasr" / "voices-bench"


def partner(users: list[str], u: str) -> str:
    """The user whose calibration `u` is tested with for "other-*": the next one in the (engine-interleaved) list."""
    return users[(users.index(u) + 1) % len(users)]


# --------------------------------------------------------------------------- environment

def _cmd_version(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except Exception:
        return "unknown"


def environment() -> dict:
    import torch
    import transformers
    cpu = "unknown"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except Exception:
        pass
    git = _cmd_version(["git", "-C", str(Path(__file__).resolve().parent.parent), "rev-parse", "--short", "HEAD"])
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "host": platform.node(),
            "cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "numpy": np.__version__,
            "espeak-ng": _cmd_version(["espeak-ng", "--version"]).split("  Data at")[0],
            "flite": V._tool_version(["flite", "--version"]),
            "git": git, "torch_threads": torch.get_num_threads(), "loadavg_start": os.getloadavg()}


def rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Linux: writing 5 to clear_refs resets VmHWM (the peak RSS) to the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------- voices

def render_panel(voices_dir: Path, users: list[str]) -> None:
    need = [u for u in users if not all((voices_dir / u / f"{i:03d}.wav").exists() for i in (*CALIB, *TEST))]
    if need:
        print(f"rendering {len(need)} voices into {voices_dir}", flush=True)
        # render every user of the panel, so the manifest lists them all
        V.render_users(voices_dir, [V.VOICES_BY_USER[u] for u in users], n_sentences=max(16, max(TEST) + 1))


def user_clips(voices_dir: Path, user: str):
    from myqasr.audio import load_clips
    calib = load_clips([voices_dir / user / f"{i:03d}.wav" for i in CALIB], with_text=True)
    test = load_clips([voices_dir / user / f"{i:03d}.wav" for i in TEST], with_text=True)
    return calib, test


# --------------------------------------------------------------------------- schemes

class Ctx:
    """What every scheme of the run needs: the model, its layers, ladder and size profile."""

    def __init__(self, loaded):
        from myqasr.adapters import adapter_for, rest_params
        from myqasr.formats import get_ladder
        from myqasr.size import PROFILES
        self.loaded = loaded
        self.adapter = adapter_for(loaded.arch, loaded.processor)
        self.layers = self.adapter.layers(loaded.model)
        self.ladder = get_ladder("xnnpack")
        self.profile = PROFILES["xnnpack"]
        self.rest = rest_params(loaded.model, self.layers)

    def size(self, formats) -> int:
        from myqasr.size import model_bytes
        return model_bytes(self.layers, formats, self.rest, self.profile)

    def budgets(self, n: int) -> list[float]:
        """n budgets evenly spaced from the all-int8 size down to the all-int4 size (both reachable exactly)."""
        from myqasr.allocate import size_range, uniform
        from myqasr.size import MB
        lo, _ = size_range(self.layers, self.ladder, self.rest, self.profile)
        hi = self.size(uniform(self.layers, self.ladder, 1))
        if n == 1:
            return [hi / MB]
        return [round((hi - (hi - lo) * i / (n - 1)) / MB, 6) for i in range(n)]

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
        ws, acts = search.calibrate(ctx.loaded, ctx.layers, fm, stats, clips,
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
    ws, acts = calibrate_minmax(ctx.loaded.model, ctx.layers, formats, stats)
    ws = {k: storable_scale(v, formats[k[:-len(".weight_scale")]]) for k, v in ws.items()}   # as plan() stores them
    plans = [LayerPlan(l, formats[l.name], 0.0, {}, *acts.get(l.name, (None, None))) for l in ctx.layers]
    L = ctx.loaded
    return Scheme(L.model_id, L.arch, L.weights_sha256, ctx.profile.name, plans, ws, ctx.size(formats), ctx.rest,
                  int(round(budget_mb * MB)), {"uniform": True}, {"method": "minmax"}, stats.clips)


def uniform_formats(ctx: Ctx, budget_bytes: int):
    """The largest single-rung assignment that fits (rung 1 = int8, rung 2 = int4 where the ladder has it)."""
    from myqasr.allocate import uniform
    for rung in range(len(max(ctx.ladder.values(), key=len))):
        f = uniform(ctx.layers, ctx.ladder, rung)
        if ctx.size(f) <= budget_bytes:
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


def uniform_mix_formats(ctx: Ctx, budget_bytes: int):
    """Encoder linears, decoder linears and the tied token table (lookup + proj_out) each on rung 1 or 2 (convs
    int8); the largest that fits. Returns (formats, label)."""
    from itertools import product
    from myqasr.allocate import uniform
    r1, r2 = uniform(ctx.layers, ctx.ladder, 1), uniform(ctx.layers, ctx.ladder, 2)
    best = None
    for enc, dec, emb in product((1, 2), repeat=3):
        pick = {"encoder": enc, "decoder": dec, "embedding": emb, "conv": 1}
        f = {l.name: (r1 if pick[component(l.name)] == 1 else r2)[l.name] for l in ctx.layers}
        size = ctx.size(f)
        if size <= budget_bytes and (best is None or size > best[0]):
            best = (size, f, f"enc int{8 if enc == 1 else 4}, dec int{8 if dec == 1 else 4}, "
                             f"emb int{8 if emb == 1 else 4}")
    return (best[1], best[2]) if best else (None, None)


def scheme_key(scheme, calib_user: str) -> str:
    h = hashlib.sha256(calib_user.encode())
    for p in scheme.layers:
        h.update(f"{p.name}|{p.format.name}|{p.input_scale}|{p.output_scale}\n".encode())
    for k in sorted(scheme.weight_scales):
        h.update(scheme.weight_scales[k].numpy().tobytes())
    return h.hexdigest()


def format_counts(scheme) -> dict:
    out = {}
    for p in scheme.layers:
        out[p.format.name] = out.get(p.format.name, 0) + 1
    return out


# --------------------------------------------------------------------------- evaluation

def score(refs, hyps) -> dict:
    from myqasr.evaluate import normalize_text, wer
    words = sum(len(normalize_text(r).split()) for r in refs)
    w = wer(refs, hyps)
    return {"wer": round(w, 5), "errors": int(round(w * words)), "words": words, "clips": len(refs)}


class Evaluator:
    """Transcribes a user's test clips with a scheme's simulated model; a scheme already scored is not rerun."""

    def __init__(self, ctx: Ctx):
        self.ctx, self.memo, self.runs, self.seconds = ctx, {}, 0, 0.0

    def __call__(self, scheme, calib_user: str, test_user: str, test) -> dict:
        from myqasr.simulate import simulate
        key = (scheme_key(scheme, calib_user), test_user)
        if key not in self.memo:
            t = time.perf_counter()
            sim = simulate(self.ctx.loaded.model, scheme)
            hyps = self.ctx.adapter.transcribe(sim, [c.audio for c in test])
            self.memo[key] = {**score([c.text for c in test], hyps), "hyps": hyps}
            self.runs += 1
            self.seconds += time.perf_counter() - t
        return self.memo[key]


# --------------------------------------------------------------------------- the run

def run(args) -> dict:
    import torch
    from myqasr.models import load_model
    from myqasr.plan import PlanConfig, compute_statistics
    from myqasr.size import MB

    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    users = args.users
    render_panel(args.voices_dir, users)
    loaded = load_model(None)
    ctx = Ctx(loaded)
    budgets = ctx.budgets(args.budgets)
    print(f"budgets (MB): {', '.join(f'{b:.2f}' for b in budgets)}", flush=True)
    evaluate = Evaluator(ctx)
    data = {u: dict(zip(("calib", "test"), user_clips(args.voices_dir, u))) for u in users}

    # one statistics pass per user; calibrated schemes per user and budget
    per_user, timings, first_cosine, prev = {}, [], None, None
    from myqasr.allocate import uniform
    info = {"users": users, "budgets_mb": budgets, "fp32_mb": ctx.size(uniform(ctx.layers, ctx.ladder, 0)) / MB,
            "per_user": per_user, "timings": timings,
            "partners": {u: partner(users, u) for u in users},
            "voices": {u: {"desc": V.VOICES_BY_USER[u].desc, "engine": V.VOICES_BY_USER[u].engine,
                           "args": V.VOICES_BY_USER[u].args_str(),
                           "calib_seconds": round(sum(c.seconds for c in data[u]["calib"]), 2),
                           "test_seconds": round(sum(c.seconds for c in data[u]["test"]), 2)} for u in users}}
    for u in users:
        t = time.perf_counter()
        stats = compute_statistics(loaded, data[u]["calib"], progress=False)
        stats_s = time.perf_counter() - t
        cache = {}
        s = {}
        for b in budgets:
            # hessian first: its calibration pass (with gradients) also serves cosine
            for m in ("minmax", "hessian", "cosine"):
                s[(b, f"myqasr-{m}")] = myqasr_scheme(ctx, stats, b, PlanConfig(calibration=m), data[u]["calib"],
                                                      cache, timings)
                timings[-1]["user"] = u
            for name, cfg in (("abl-descending", PlanConfig(order="descending")),
                              ("abl-random", PlanConfig(order="random", seed=0)),
                              ("abl-mean", PlanConfig(metric="mean")), ("abl-max", PlanConfig(metric="max"))):
                s[(b, name)] = myqasr_scheme(ctx, stats, b, cfg, data[u]["calib"], cache)
            uf = uniform_formats(ctx, int(round(b * MB)))
            s[(b, "uniform")] = formats_scheme(ctx, stats, uf, b)
            mf, label = uniform_mix_formats(ctx, int(round(b * MB)))
            s[(b, "uniform-mix")] = formats_scheme(ctx, stats, mf, b)
            s[(b, "uniform-mix")].allocation["mix"] = label
        del cache
        per_user[u] = {"stats_seconds": round(stats_s, 2),
                       "calibration_seconds": {m: round(sum(t["seconds"] for t in timings
                                                            if t["user"] == u and t["calibration"] == m), 1)
                                               for m in ("minmax", "cosine", "hessian")},
                       "formats": {f"{b:.6f}": {k[1]: {p.name: p.format.name for p in v.layers}
                                                for k, v in s.items() if k[0] == b} for b in budgets},
                       "sizes": {f"{b:.6f}": {k[1]: v.predicted_bytes for k, v in s.items() if k[0] == b}
                                 for b in budgets},
                       "mix": {f"{b:.6f}": s[(b, "uniform-mix")].allocation.get("mix") for b in budgets}}
        print(f"[{time.perf_counter() - t_start:7.0f} s] {u}: statistics {stats_s:.1f} s, {len(s)} schemes, "
              f"calibration s {per_user[u]['calibration_seconds']}", flush=True)
        _score_user(u, s, data, evaluate, per_user)
        # other-user: the previous user's partner is this user; the last user's partner is the first
        cos = {b: s[(b, "myqasr-cosine")] for b in budgets}
        if prev is not None:
            _score_other(prev, u, cos, budgets, data, evaluate, per_user)
        else:
            first_cosine = cos
        prev = u
        del s
        print(f"[{time.perf_counter() - t_start:7.0f} s] {u}: fp32 WER {per_user[u]['fp32']['wer']:.3f}, "
              f"{evaluate.runs} transcriptions so far ({evaluate.seconds:.0f} s)", flush=True)
        if args.checkpoint:
            args.checkpoint.write_text(json.dumps(info, default=str))
    _score_other(prev, users[0], first_cosine, budgets, data, evaluate, per_user)
    info.update({"transcriptions": evaluate.runs, "transcribe_seconds": round(evaluate.seconds, 1),
                 "total_seconds": round(time.perf_counter() - t_start, 1)})
    return info


def _score_user(u, schemes, data, evaluate, per_user):
    test = data[u]["test"]
    hyps = evaluate.ctx.adapter.transcribe(evaluate.ctx.loaded.model, [c.audio for c in test])
    per_user[u]["fp32"] = {**score([c.text for c in test], hyps), "hyps": hyps}
    res = per_user[u].setdefault("results", {})
    for (b, name), scheme in schemes.items():
        res.setdefault(f"{b:.6f}", {})[name] = evaluate(scheme, u, u, test)


def _score_other(u, other, cosine_schemes, budgets, data, evaluate, per_user):
    """User u's test clips through the cosine schemes calibrated on `other` (u's partner)."""
    for b in budgets:
        per_user[u]["results"][f"{b:.6f}"]["other-cosine"] = evaluate(cosine_schemes[b], other, u, data[u]["test"])


# --------------------------------------------------------------------------- profile one strategy (child process)

def profile_child(args) -> None:
    """Time and peak RSS of one calibration strategy (plan() end to end after the statistics pass)."""
    import torch
    from myqasr.audio import load_clips
    from myqasr.models import load_model
    from myqasr.plan import PlanConfig, compute_statistics, plan
    torch.set_num_threads(args.threads)
    loaded = load_model(None)
    clips = load_clips([args.voices_dir / args.profile_user / f"{i:03d}.wav" for i in range(8)])
    stats = compute_statistics(loaded, clips, progress=False)
    rss0 = rss_mb()
    reset = reset_peak_rss()
    t = time.perf_counter()
    plan(loaded, stats, args.profile_budget, PlanConfig(calibration=args.profile), clips=clips, progress=False)
    seconds = time.perf_counter() - t
    print(json.dumps({"method": args.profile, "clips": len(clips), "seconds": round(seconds, 2),
                      "rss_before_mb": round(rss0, 1), "peak_rss_mb": round(peak_rss_mb(), 1),
                      "peak_reset": reset, "budget_mb": args.profile_budget}))


def profile_all(args, budget_mb: float) -> list[dict]:
    out = []
    for m in ("minmax", "cosine", "hessian"):
        cmd = [sys.executable, "-m", "benchmarks.personalization", "--profile", m, "--profile-user",
               args.users[0], "--profile-budget", str(budget_mb), "--voices-dir", str(args.voices_dir),
               "--threads", str(args.threads)]
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
        line = [l for l in r.stdout.splitlines() if l.startswith("{")]
        out.append(json.loads(line[-1]) if line else {"method": m, "error": r.stderr[-500:]})
        print(f"profile {m}: {out[-1]}", flush=True)
    return out


# --------------------------------------------------------------------------- report

def pooled(entries):
    e, w = sum(x["errors"] for x in entries), sum(x["words"] for x in entries)
    return e / w if w else float("nan")


def summarize(res: dict) -> dict:
    """Pooled WER (sum of errors / sum of words) per budget x method, over all users and per engine group."""
    users, budgets = res["users"], res["budgets_mb"]
    groups = {"all": users}
    for u in users:
        groups.setdefault(res["voices"][u]["engine"], []).append(u)
    table = {}
    for g, us in groups.items():
        table[g] = {"fp32": pooled([res["per_user"][u]["fp32"] for u in us]), "users": len(us),
                    "clips": sum(res["per_user"][u]["fp32"]["clips"] for u in us),
                    "words": sum(res["per_user"][u]["fp32"]["words"] for u in us)}
        for b in budgets:
            key = f"{b:.6f}"
            table[g][key] = {m: pooled([res["per_user"][u]["results"][key][m] for u in us])
                             for m in METHODS[1:]}
    return table


def wins(res: dict, a: str, b: str, budgets=None) -> tuple[int, int, int]:
    """(a better, tie, a worse) over users x budgets, by per-user WER."""
    better = tie = worse = 0
    for u in res["users"]:
        for bud in budgets or res["budgets_mb"]:
            r = res["per_user"][u]["results"][f"{bud:.6f}"]
            x, y = r[a]["wer"], r[b]["wer"]
            better += x < y
            tie += x == y
            worse += x > y
    return better, tie, worse


def mean_size(res, budget, method) -> float:
    return float(np.mean([res["per_user"][u]["sizes"][f"{budget:.6f}"].get(method, np.nan)
                          for u in res["users"]])) / 1e6 if method != "other-cosine" else mean_size(
        res, budget, "myqasr-cosine")


def plot(res: dict, out: Path) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    table = summarize(res)["all"]
    budgets = res["budgets_mb"]
    files = []
    fig, ax = plt.subplots(figsize=(8, 5))
    styles = {"uniform": ("k", "s", "--"), "uniform-mix": ("gray", "D", "--"), "myqasr-minmax": ("tab:blue", "o", "-"),
              "myqasr-cosine": ("tab:green", "o", "-"), "myqasr-hessian": ("tab:purple", "o", "-"),
              "other-cosine": ("tab:olive", "x", ":"), "abl-descending": ("tab:red", "v", "-."),
              "abl-random": ("tab:orange", "^", "-."), "abl-mean": ("tab:cyan", "<", "-."),
              "abl-max": ("tab:brown", ">", "-.")}
    for m in METHODS[1:]:
        c, mk, ls = styles[m]
        xs = [mean_size(res, b, m) for b in budgets]
        ys = [100 * table[f"{b:.6f}"][m] for b in budgets]
        ax.plot(xs, ys, color=c, marker=mk, linestyle=ls, label=m)
    ax.axhline(100 * table["fp32"], color="k", lw=0.8, label=f"fp32 ({res.get('fp32_mb', 0):.0f} MB)")
    ax.set_xlabel("predicted model size (MB, mean over users)")
    ax.set_ylabel("WER % (pooled over users' test clips)")
    ax.set_title(f"Whisper tiny.en, {len(res['users'])} synthetic users, {table['clips']} test clips")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    p = out / "personalization_wer_vs_mb.png"
    fig.savefig(p, dpi=130)
    plt.close(fig)
    files.append(p.name)
    # per-layer formats per user at the intermediate budgets (myQASR, ascending, median)
    mids = budgets[1:-1] or budgets
    fig, axes = plt.subplots(len(mids), 1, figsize=(12, 1.2 + 0.32 * len(res["users"]) * len(mids)), squeeze=False)
    for ax, b in zip(axes[:, 0], mids):
        fm = [res["per_user"][u]["formats"][f"{b:.6f}"]["myqasr-minmax"] for u in res["users"]]
        names = list(fm[0])
        bits = np.array([[int("".join(ch for ch in f[n].split("_")[0] if ch.isdigit()) or 32) for n in names]
                         for f in fm])
        ax.imshow(bits, aspect="auto", cmap="viridis", vmin=4, vmax=8, interpolation="nearest")
        ax.set_yticks(range(len(res["users"])))
        ax.set_yticklabels(res["users"], fontsize=6)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([n.replace("model.", "").replace("encoder.layers.", "e").replace("decoder.layers.", "d")
                            .replace("self_attn.", "sa.").replace("encoder_attn.", "xa.") for n in names],
                           rotation=90, fontsize=5)
        ax.set_title(f"myQASR formats at {b:.2f} MB (yellow int8, purple int4)", fontsize=8)
    fig.tight_layout()
    p = out / "personalization_formats.png"
    fig.savefig(p, dpi=130)
    plt.close(fig)
    files.append(p.name)
    return files


def write_markdown(res: dict, out: Path, command: str, figs: list[str]) -> Path:
    env, budgets = res["env"], res["budgets_mb"]
    summ = summarize(res)
    lines = ["# Personalization benchmark: myQASR on synthetic voice users", "",
             f"Command: `{command}`  ", f"Date: {env['date']}; git {env['git']} (plus uncommitted work)  ",
             f"Machine: {env['cpu']}, {env['cores']} cores (shared with other jobs: load average "
             f"{env['loadavg_start'][0]:.1f} at start, {res['loadavg_end'][0]:.1f} at end), torch threads "
             f"{env['torch_threads']}  ",
             f"Versions: Python {env['python']}, torch {env['torch']}, transformers {env['transformers']}, "
             f"numpy {env['numpy']}; {env['espeak-ng']}; {env['flite']}  ",
             f"Total wall time {res['total_seconds'] / 60:.1f} min ({res['transcriptions']} distinct quantized models "
             f"transcribed, {res['transcribe_seconds'] / 60:.1f} min of it).", "",
             f"Model: embedded Whisper tiny.en (fp32 {res.get('fp32_mb', 0):.1f} MB by the size model), phone "
             "ladder (linears / tied embedding int8 per-channel or "
             "int4 per-group-32 with dynamic int8 activations; convs int8 with static activations). Greedy decoding, "
             "English normalizer, WER pooled as total errors / total reference words.", "",
             f"Panel: {len(res['users'])} users, each {len(CALIB)} calibration clips "
             f"(sentences {CALIB[0]}-{CALIB[-1]}) "
             f"and {len(TEST)} disjoint test clips (sentences {TEST[0]}-{TEST[-1]}), rendered by `benchmarks.voices`; "
             "other-user partner = next user in the list.", "",
             "| user | engine / voice | calib s | test s | fp32 WER | partner |", "|---|---|---|---|---|---|"]
    for u in res["users"]:
        v = res["voices"][u]
        lines.append(f"| {u} | {v['desc']} (`{v['args']}`) | {v['calib_seconds']:.1f} | {v['test_seconds']:.1f} | "
                     f"{100 * res['per_user'][u]['fp32']['wer']:.1f} | {res['partners'][u]} |")
    lines += ["", "## WER (%) by user group x budget x method", ""]
    head = "| group | method | " + " | ".join(f"{b:.2f} MB" for b in budgets) + " |"
    for g, t in summ.items():
        lines += [f"**{g}** ({t['users']} users, {t['clips']} test clips, {t['words']} words; fp32 WER "
                  f"{100 * t['fp32']:.2f} %)", "", head, "|---|---|" + "---|" * len(budgets)]
        for m in METHODS[1:]:
            vals = [t[f"{b:.6f}"][m] for b in budgets]
            lines.append(f"| {g} | {m} | " + " | ".join(f"{100 * v:.2f}" for v in vals) + " |")
        lines.append("")
    per_user = lambda m, b: [res["per_user"][u]["results"][f"{b:.6f}"][m]["wer"] for u in res["users"]]
    for title, reduce in (("**Mean of per-user WER** (each user weighs the same)", np.mean),
                          ("**Median of per-user WER** (robust to one user's repetition loop: a looping transcript "
                           "scores several hundred %)", np.median)):
        lines += [title, "", head.replace("group", "users"), "|---|---|" + "---|" * len(budgets)]
        for m in METHODS[1:]:
            vals = [reduce(per_user(m, b)) for b in budgets]
            lines.append(f"| {len(res['users'])} | {m} | " + " | ".join(f"{100 * v:.2f}" for v in vals) + " |")
        fp = reduce([res["per_user"][u]["fp32"]["wer"] for u in res["users"]])
        lines += ["", f"fp32: {100 * fp:.2f} %.", ""]
    lines += ["Sizes: myQASR and the ablations fill each budget (predicted bytes <= budget); uniform is all-int8 at "
              f"the top budget and all-int4 ({budgets[-1]:.2f} MB) below it; uniform-mix picks, per budget: " +
              "; ".join(f"{b:.2f} MB: {res['per_user'][res['users'][0]]['mix'][f'{b:.6f}']}" for b in budgets) + ".",
              ""]
    lines += ["## Per user (WER %, rows = budget, columns = method)", ""]
    short = ["uniform", "uniform-mix", "myqasr-minmax", "myqasr-cosine", "myqasr-hessian", "other-cosine",
             "abl-descending", "abl-random", "abl-mean", "abl-max"]
    lines += ["| user | MB | " + " | ".join(short) + " |", "|---|---|" + "---|" * len(short)]
    for u in res["users"]:
        for b in budgets:
            r = res["per_user"][u]["results"][f"{b:.6f}"]
            lines.append(f"| {u} | {b:.2f} | " + " | ".join(f"{100 * r[m]['wer']:.1f}" for m in short) + " |")
    lines += ["", "## Head-to-head (users x budgets: better / tie / worse by per-user WER)", ""]
    pairs = [("myqasr-minmax", "uniform"), ("myqasr-cosine", "uniform"), ("myqasr-hessian", "uniform"),
             ("myqasr-cosine", "uniform-mix"), ("myqasr-cosine", "myqasr-minmax"),
             ("myqasr-hessian", "myqasr-minmax"), ("myqasr-cosine", "other-cosine"),
             ("myqasr-minmax", "abl-descending"), ("myqasr-minmax", "abl-random"), ("myqasr-minmax", "abl-mean"),
             ("myqasr-minmax", "abl-max")]
    mids = budgets[1:-1]
    lines += ["| a vs b | all budgets | intermediate budgets only |", "|---|---|---|"]
    for a, b in pairs:
        w_all, w_mid = wins(res, a, b), wins(res, a, b, mids) if mids else (0, 0, 0)
        lines.append(f"| {a} vs {b} | {w_all[0]} / {w_all[1]} / {w_all[2]} | {w_mid[0]} / {w_mid[1]} / {w_mid[2]} |")
    prof = res.get("profile") or []
    if prof:
        lines += ["", f"## Calibration cost on {prof[0].get('clips', 8)} clips ({res['users'][0]}, "
                  f"budget {prof[0].get('budget_mb', 0):.2f} MB; `plan()` after the statistics pass, own process)",
                  "", "| strategy | wall s | RSS before MB | peak RSS MB | peak - before MB |", "|---|---|---|---|---|"]
        for p in prof:
            if "error" in p:
                lines.append(f"| {p['method']} | failed | | | |")
                continue
            lines.append(f"| {p['method']} | {p['seconds']:.1f} | {p['rss_before_mb']:.0f} | {p['peak_rss_mb']:.0f} |"
                         f" {p['peak_rss_mb'] - p['rss_before_mb']:.0f} |")
        stats_s = [res["per_user"][u]["stats_seconds"] for u in res["users"]]
        lines += ["", "Statistics pass (8 clips, includes the fp32 greedy transcription): mean "
                  f"{np.mean(stats_s):.1f} s "
                  f"per user. Peak RSS is VmHWM reset just before calibration (Linux clear_refs); it includes the "
                  f"loaded model (~{prof[0].get('rss_before_mb', 0):.0f} MB before calibration). Timings on a "
                  f"shared machine are noisy."]
    lines += ["", "## Answers (computed from the numbers above)", ""] + answers(res) + [""]
    lines += [f"![WER vs MB]({figs[0]})", "", f"![formats]({figs[1]})", ""] if len(figs) >= 2 else []
    p = out / "personalization.md"
    p.write_text("\n".join(lines))
    return p


def answers(res: dict) -> list[str]:
    t = summarize(res)["all"]
    budgets, mids = res["budgets_mb"], res["budgets_mb"][1:-1]
    words = t["words"]
    pct = lambda x: f"{100 * x:.2f} %"
    out = [f"Test set: {t['clips']} clips, {words} reference words in all, so one word error moves the pooled WER by "
           f"{100 / words:.2f} points; per user ({len(TEST)} clips) one error is several points. Read small "
           "differences "
           "as ties."]
    # 1. personalized vs uniform
    rows = []
    all_beat = True
    for b in budgets:
        r = t[f"{b:.6f}"]
        best = min(("myqasr-minmax", "myqasr-cosine", "myqasr-hessian"), key=lambda m: r[m])
        base = min(r["uniform"], r["uniform-mix"])
        all_beat &= r["myqasr-cosine"] < base
        rows.append(f"{b:.2f} MB: uniform {pct(r['uniform'])}, uniform-mix {pct(r['uniform-mix'])}, myQASR min-max "
                    f"{pct(r['myqasr-minmax'])}, cosine {pct(r['myqasr-cosine'])}, hessian {pct(r['myqasr-hessian'])}"
                    f" (best: {best})")
    out += ["", "**Does personalized myQASR (cosine) beat the best uniform baseline at every budget?** "
            + ("Yes." if all_beat else "No, not at every budget.") + " Pooled WER per budget:", ""]
    out += [f"- {x}" for x in rows]
    # 2. same user vs other user
    rows, same_better = [], 0
    for b in budgets:
        r = t[f"{b:.6f}"]
        same_better += r["myqasr-cosine"] < r["other-cosine"]
        rows.append(f"{b:.2f} MB: same user {pct(r['myqasr-cosine'])} vs other user {pct(r['other-cosine'])}")
    w = wins(res, "myqasr-cosine", "other-cosine")
    out += ["", f"**Does same-user calibration beat other-user calibration (cosine)?** Lower pooled WER at "
            f"{same_better} of {len(budgets)} budgets; per user x budget: same better {w[0]}, tie {w[1]}, "
            f"worse {w[2]}.", ""] + [f"- {x}" for x in rows]
    # 3. order
    if mids:
        rows = []
        for b in mids:
            r = t[f"{b:.6f}"]
            rows.append(f"{b:.2f} MB: ascending {pct(r['myqasr-minmax'])}, descending {pct(r['abl-descending'])}, "
                        f"random {pct(r['abl-random'])}, mean metric {pct(r['abl-mean'])}, max metric "
                        f"{pct(r['abl-max'])}")
        w = wins(res, "myqasr-minmax", "abl-descending", mids)
        asc = sum(t[f"{b:.6f}"]["myqasr-minmax"] for b in mids)
        desc = sum(t[f"{b:.6f}"]["abl-descending"] for b in mids)
        verdict = "ascending" if asc < desc else "descending" if desc < asc else "neither"
        out += ["", f"**Allocation order (min-max scales, intermediate budgets, where order matters).** Lower mean "
                f"pooled WER: {verdict} ({pct(asc / len(mids))} ascending vs {pct(desc / len(mids))} descending); "
                f"per user x budget: ascending better {w[0]}, tie {w[1]}, worse {w[2]}.", ""]
        out += [f"- {x}" for x in rows]
    # 4. calibration
    w1, w2 = wins(res, "myqasr-cosine", "myqasr-minmax"), wins(res, "myqasr-hessian", "myqasr-minmax")
    out += ["", f"**Calibration strategies** (same allocation): cosine vs min-max per user x budget better / tie / "
            f"worse {w1[0]} / {w1[1]} / {w1[2]}; hessian vs min-max {w2[0]} / {w2[1]} / {w2[2]}."]
    return out


def main(argv=None) -> int:
    global CALIB, TEST
    ap = argparse.ArgumentParser(prog="python -m benchmarks.personalization", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="results folder (personalization.md / .json / *.png)")
    ap.add_argument("--quick", action="store_true", help="2 users, 3 budgets, 3 calibration + 3 test clips")
    ap.add_argument("--users", default=None, help="comma-separated users (default: the 10-user panel)")
    ap.add_argument("--budgets", type=int, default=4, help="number of budgets from all-int8 to all-int4 (default 4)")
    ap.add_argument("--voices-dir", type=Path, default=DEFAULT_VOICES)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: the machine is shared)")
    ap.add_argument("--calib-clips", type=int, default=8, help="calibration clips per user (sentences 0..N-1, N <= 8)")
    ap.add_argument("--test-clips", type=int, default=8, help="test clips per user (sentences 8..8+N-1, N <= 32)")
    ap.add_argument("--no-profile", action="store_true", help="skip the per-strategy time / memory measurement")
    ap.add_argument("--report-only", type=Path, default=None, help="re-render the report from personalization.json")
    ap.add_argument("--profile", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--profile-user", default=USERS[0], help=argparse.SUPPRESS)
    ap.add_argument("--profile-budget", type=float, default=33.0, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.profile:
        a.calib_clips = 8
        profile_child(a)
        return 0
    if a.report_only:              # re-render the report from a results JSON (same numbers, new text / plots)
        res = json.loads(a.report_only.read_text())
        CALIB, TEST = range(*res["calib_range"]), range(*res["test_range"])
        out = a.out or a.report_only.parent
        figs = plot(res, out)
        print(f"wrote {write_markdown(res, out, res['command'], figs)}")
        return 0
    if a.out is None:
        ap.error("--out is required")
    a.users = a.users.split(",") if a.users else (QUICK_USERS if a.quick else USERS)
    if a.quick:
        a.budgets, a.calib_clips, a.test_clips = 3, min(a.calib_clips, 3), min(a.test_clips, 3)
    if not (1 <= a.calib_clips <= 8 and 1 <= a.test_clips <= 32):
        ap.error("--calib-clips must be 1..8 and --test-clips 1..32")
    CALIB, TEST = range(0, a.calib_clips), range(8, 8 + a.test_clips)
    a.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    command = "python -m benchmarks.personalization " + " ".join(argv if argv is not None else sys.argv[1:])
    import torch
    torch.set_num_threads(a.threads)
    env = environment()
    a.checkpoint = a.out / "personalization.partial.json"
    res = run(a)
    res.update({"env": env, "command": command, "calib_range": [CALIB.start, CALIB.stop],
                "test_range": [TEST.start, TEST.stop]})
    res["loadavg_end"] = os.getloadavg()
    (a.out / "personalization.json").write_text(json.dumps(res, indent=1, default=str))
    a.checkpoint.unlink(missing_ok=True)
    if not a.no_profile:
        mid = res["budgets_mb"][len(res["budgets_mb"]) // 2]
        res["profile"] = profile_all(a, mid)
        res["loadavg_end"] = os.getloadavg()
        (a.out / "personalization.json").write_text(json.dumps(res, indent=1, default=str))
    figs = plot(res, a.out)
    md = write_markdown(res, a.out, command, figs)
    print(f"wrote {md}, {a.out / 'personalization.json'}, {', '.join(figs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
