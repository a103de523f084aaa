"""Does personalization pay? myQASR on a panel of synthetic voice users, at a ladder of byte budgets.

    python -m benchmarks.personalization --out benchmarks/results            # the full panel (~1 h, 2 cores)
    python -m benchmarks.personalization --out /tmp/p --quick                # 2 users, 3+3 clips (smoke test)
    python -m benchmarks.personalization --render-only --out benchmarks/results   # report + plots from the JSON

Panel: offline TTS voices from `benchmarks.voices` (espeak-ng accents and flite speakers), rendered once into
`--voices-dir`. Every user reads sentences 0-7 (calibration: 8 clips, never scored) and 8-15 (test: 8 other
sentences, never seen by any calibration).

Budgets: evenly spaced from the all-int8 size of the embedded Whisper tiny.en on the phone ladder down to its
all-int4 size (`allocate.size_range` / `allocate.uniform`; `--budgets` in all).

Methods (per user and budget; every quantized model is the SDK's simulated model, scored by WER on the user's test
clips; the schemes are built in `personalization_methods`, the report in `personalization_report`):
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
import os
import platform
import sys
import time
from pathlib import Path

from benchmarks import voices as V
from benchmarks.harness import (Stage, cpu_name, first_output_line, git_commit, read_json, reference_bytes,
                                run_child, utc_now, write_json, write_text)
from benchmarks.personalization_methods import budgets_mb, make_ctx, scheme_key, user_schemes
from benchmarks.personalization_report import key, markdown, plot

USERS = ["espeak_us_m3", "flite_slt", "espeak_gb_f2", "flite_rms", "espeak_scot_f4", "flite_awb",
         "espeak_carib_m2", "flite_kal16", "espeak_us_high_f5", "espeak_us_slowlow_m6"]
QUICK_USERS = ["espeak_us_m3", "flite_slt"]
CALIBRATIONS = ("minmax", "cosine", "hessian")
DEFAULT_VOICES = Path.home() / ".cache" / "myqasr" / "voices-bench"


def partner(users: list[str], u: str) -> str:
    """The user whose calibration `u` is tested with for "other-*": the next one in the (engine-interleaved) list."""
    return users[(users.index(u) + 1) % len(users)]


def environment() -> dict:
    import numpy as np
    import torch
    import transformers
    return {"date": utc_now(), "host": platform.node(), "cpu": cpu_name(), "cores": os.cpu_count(),
            "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "numpy": np.__version__,
            "espeak-ng": first_output_line(["espeak-ng", "--version"]).split("  Data at")[0],
            "flite": V.tool_version(["flite", "--version"]),
            "git": git_commit(), "torch_threads": torch.get_num_threads(), "loadavg_start": os.getloadavg()}


# --------------------------------------------------------------------------- voices

def render_panel(voices_dir: Path, users: list[str], calib: range, test: range) -> None:
    need = [u for u in users if not all((voices_dir / u / f"{i:03d}.wav").exists() for i in (*calib, *test))]
    if need:
        print(f"rendering {len(need)} voices into {voices_dir}", flush=True)
        # render every user of the panel, so the manifest lists them all
        V.render_users(voices_dir, [V.VOICES_BY_USER[u] for u in users], n_sentences=max(16, max(test) + 1))


def user_clips(voices_dir: Path, user: str, sentences: range):
    from myqasr.audio import load_clips
    return load_clips([voices_dir / user / f"{i:03d}.wav" for i in sentences], with_text=True)


def voice_info(user: str, data: dict) -> dict:
    v = V.VOICES_BY_USER[user]
    return {"desc": v.desc, "engine": v.engine, "args": v.args_str(),
            "calib_seconds": round(sum(c.seconds for c in data["calib"]), 2),
            "test_seconds": round(sum(c.seconds for c in data["test"]), 2)}


# --------------------------------------------------------------------------- evaluation

def score(refs, hyps) -> dict:
    from myqasr.evaluate import normalize_text, wer
    words = sum(len(normalize_text(r).split()) for r in refs)
    w = wer(refs, hyps)
    return {"wer": round(w, 5), "errors": int(round(w * words)), "words": words, "clips": len(refs)}


class Evaluator:
    """Transcribes a user's test clips with a scheme's simulated model; a scheme already scored is not rerun."""

    def __init__(self, ctx):
        self.ctx, self.memo, self.runs, self.seconds = ctx, {}, 0, 0.0

    def __call__(self, scheme, calib_user: str, test_user: str, test) -> dict:
        from myqasr.simulate import simulate
        memo_key = (scheme_key(scheme, calib_user), test_user)
        if memo_key not in self.memo:
            t = time.perf_counter()
            sim = simulate(self.ctx.loaded.model, scheme)
            hyps = self.ctx.adapter.transcribe(sim, [c.audio for c in test])
            self.memo[memo_key] = {**score([c.text for c in test], hyps), "hyps": hyps}
            self.runs += 1
            self.seconds += time.perf_counter() - t
        return self.memo[memo_key]


def score_user(u, schemes, data, evaluate, per_user):
    test = data[u]["test"]
    hyps = evaluate.ctx.adapter.transcribe(evaluate.ctx.loaded.model, [c.audio for c in test])
    per_user[u]["fp32"] = {**score([c.text for c in test], hyps), "hyps": hyps}
    res = per_user[u].setdefault("results", {})
    for (b, name), scheme in schemes.items():
        res.setdefault(key(b), {})[name] = evaluate(scheme, u, u, test)


def score_other(u, other, cosine_schemes, budgets, data, evaluate, per_user):
    """User u's test clips through the cosine schemes calibrated on `other` (u's partner)."""
    for b in budgets:
        per_user[u]["results"][key(b)]["other-cosine"] = evaluate(cosine_schemes[b], other, u, data[u]["test"])


def user_summary(stats_s: float, schemes: dict, budgets: list[float], timings: list, u: str) -> dict:
    """What the JSON keeps of one user's schemes: calibration time, per-layer formats, sizes, uniform mix."""
    return {"stats_seconds": round(stats_s, 2),
            "calibration_seconds": {m: round(sum(t["seconds"] for t in timings
                                                 if t["user"] == u and t["calibration"] == m), 1)
                                    for m in CALIBRATIONS},
            "formats": {key(b): {k[1]: {p.name: p.format.name for p in v.layers}
                                 for k, v in schemes.items() if k[0] == b} for b in budgets},
            "sizes": {key(b): {k[1]: v.predicted_bytes for k, v in schemes.items() if k[0] == b} for b in budgets},
            "mix": {key(b): schemes[(b, "uniform-mix")].allocation.get("mix") for b in budgets}}


# --------------------------------------------------------------------------- the run

def run(args) -> dict:
    from myqasr.models import load_model
    from myqasr.plan import compute_statistics
    from myqasr.size import MB

    t_start = time.perf_counter()
    users = args.users
    render_panel(args.voices_dir, users, args.calib, args.test)
    loaded = load_model(None)
    ctx = make_ctx(loaded)
    ref = reference_bytes(loaded)
    budgets = budgets_mb(ref, args.budgets)
    print(f"budgets (MB): {', '.join(f'{b:.2f}' for b in budgets)}", flush=True)
    evaluate = Evaluator(ctx)
    data = {u: {"calib": user_clips(args.voices_dir, u, args.calib), "test": user_clips(args.voices_dir, u, args.test)}
            for u in users}

    # one statistics pass per user; calibrated schemes per user and budget
    per_user, timings, first_cosine, prev = {}, [], None, None
    info = {"users": users, "budgets_mb": budgets, "fp32_mb": ref["fp32"] / MB,
            "per_user": per_user, "timings": timings,
            "partners": {u: partner(users, u) for u in users},
            "voices": {u: voice_info(u, data[u]) for u in users}}
    for u in users:
        t = time.perf_counter()
        stats = compute_statistics(loaded, data[u]["calib"], progress=False)
        stats_s = time.perf_counter() - t
        s = user_schemes(ctx, stats, budgets, data[u]["calib"], timings, u)
        per_user[u] = user_summary(stats_s, s, budgets, timings, u)
        print(f"[{time.perf_counter() - t_start:7.0f} s] {u}: statistics {stats_s:.1f} s, {len(s)} schemes, "
              f"calibration s {per_user[u]['calibration_seconds']}", flush=True)
        score_user(u, s, data, evaluate, per_user)
        # other-user: the previous user's partner is this user; the last user's partner is the first
        cos = {b: s[(b, "myqasr-cosine")] for b in budgets}
        if prev is not None:
            score_other(prev, u, cos, budgets, data, evaluate, per_user)
        else:
            first_cosine = cos
        prev = u
        del s
        print(f"[{time.perf_counter() - t_start:7.0f} s] {u}: fp32 WER {per_user[u]['fp32']['wer']:.3f}, "
              f"{evaluate.runs} transcriptions so far ({evaluate.seconds:.0f} s)", flush=True)
        write_json(args.checkpoint, info)
    score_other(prev, users[0], first_cosine, budgets, data, evaluate, per_user)
    info.update({"transcriptions": evaluate.runs, "transcribe_seconds": round(evaluate.seconds, 1),
                 "total_seconds": round(time.perf_counter() - t_start, 1)})
    return info


# --------------------------------------------------------------------------- calibration cost (child processes)

def child_calibration_cost(spec: dict) -> dict:
    """Time and peak RSS of one calibration strategy (plan() end to end after the statistics pass)."""
    from myqasr.audio import load_clips
    from myqasr.models import load_model
    from myqasr.plan import PlanConfig, compute_statistics, plan
    loaded = load_model(None)
    clips = load_clips([Path(spec["voices_dir"]) / spec["user"] / f"{i:03d}.wav" for i in range(8)])
    stats = compute_statistics(loaded, clips, progress=False)
    with Stage() as s:
        plan(loaded, stats, spec["budget_mb"], PlanConfig(calibration=spec["method"]), clips=clips, progress=False)
    return {"method": spec["method"], "clips": len(clips), "seconds": round(s.seconds, 2),
            "rss_before_mb": round(s.rss_before_mb, 1), "peak_rss_mb": round(s.peak_mb, 1),
            "peak_reset": s.peak_reset, "budget_mb": spec["budget_mb"]}


def calibration_costs(args, budget_mb: float) -> list[dict]:
    out = []
    for m in CALIBRATIONS:
        r = run_child(child_calibration_cost, {"method": m, "user": args.users[0], "budget_mb": budget_mb,
                                               "voices_dir": str(args.voices_dir)}, args.threads)
        out.append({"method": m, **r} if "error" in r else r)
        print(f"profile {m}: {out[-1]}", flush=True)
    return out


# --------------------------------------------------------------------------- main

def render(res: dict, out: Path) -> Path:
    figs = plot(res, out)
    write_text(out / "personalization.md", markdown(res, figs))
    return out / "personalization.md"


def main(argv=None) -> int:
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
    ap.add_argument("--render-only", action="store_true", help="re-render the report from <out>/personalization.json")
    a = ap.parse_args(argv)
    if a.render_only and a.out is None:
        ap.error("--render-only needs --out")
    if a.report_only or a.render_only:        # re-render the report from a results JSON (same numbers)
        source = a.report_only or a.out / "personalization.json"
        print(f"wrote {render(read_json(source), a.out or source.parent)}")
        return 0
    if a.out is None:
        ap.error("--out is required")
    a.users = a.users.split(",") if a.users else (QUICK_USERS if a.quick else USERS)
    if a.quick:
        a.budgets, a.calib_clips, a.test_clips = 3, min(a.calib_clips, 3), min(a.test_clips, 3)
    if not (1 <= a.calib_clips <= 8 and 1 <= a.test_clips <= 32):
        ap.error("--calib-clips must be 1..8 and --test-clips 1..32")
    a.calib, a.test = range(0, a.calib_clips), range(8, 8 + a.test_clips)
    a.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    command = "python -m benchmarks.personalization " + " ".join(argv if argv is not None else sys.argv[1:])
    import torch
    torch.set_num_threads(a.threads)
    env = environment()
    a.checkpoint = a.out / "personalization.partial.json"
    res = run(a)
    res.update({"env": env, "command": command, "calib_range": [a.calib.start, a.calib.stop],
                "test_range": [a.test.start, a.test.stop]})
    res["loadavg_end"] = os.getloadavg()
    write_json(a.out / "personalization.json", res)
    a.checkpoint.unlink(missing_ok=True)
    if not a.no_profile:
        res["profile"] = calibration_costs(a, res["budgets_mb"][len(res["budgets_mb"]) // 2])
        res["loadavg_end"] = os.getloadavg()
        write_json(a.out / "personalization.json", res)
    md = render(res, a.out)
    print(f"wrote {md}, {a.out / 'personalization.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
