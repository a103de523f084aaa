"""Does personalization pay? The SDK's allocators and calibrations on a panel of synthetic voice users, at budgets
in every zone of the size range.

    python -m benchmarks.personalization --out benchmarks/results            # the full panel (~1 h, 2 cores)
    python -m benchmarks.personalization --out /tmp/p --quick                # 2 users, 3 budgets (smoke test)
    python -m benchmarks.personalization --render-only --out benchmarks/results   # report + plots from the JSON

Panel: 10 offline TTS voices from `benchmarks.voices` (espeak-ng accents, flite speakers). Every user reads
sentences 0-7 (calibration: 8 clips, never scored) and 8-31 (test: 24 other sentences). One statistics + cost
pass per user (`compute_statistics`) serves every budget and method.

Budgets: 8, from the all-int4 to the all-int8 size of the embedded Whisper tiny.en on the phone ladder, with at
least one inside every zone of the personalization issue (`personalization_methods.zone_bounds`).

Methods (every quantized model is the SDK's simulated model; greedy decoding, at most 96 new tokens):
  on all 24 test clips, at every budget:
    uniform         the largest single-rung model that fits (all-int8, else all-int4 with int8 convs); min-max.
    uniform-mix     the largest block-uniform model that fits: encoder linears, decoder linears and the tied token
                    table each int8 or int4 (8 mixes), chosen by size only; min-max.
    paper           the paper's round-robin walk (`--allocator myqasr`: median, ascending) with min-max scales,
                    calibrated on the user's own 8 clips.
    paper-other     the same pipeline run on another user's clips and tested on this user: the next user in the
                    list at even budget indices, the third next at odd ones (two partners per user).
    knapsack        the SDK's default: the cost-based allocator (`--allocator auto` / `knapsack`: least summed cost
                    of the user's own clips, `allocate_min_cost`), min-max, the user's own clips.
    knapsack-other  the knapsack on the same partner's clips.
  on the first `--subset` test clips (default 8) of the `--secondary-users` (the core methods are also scored on
  these clips, from the same transcripts):
    random-sN       the knapsack with each layer's costs dealt to another layer of its kind (seeds 0-2): the
                    allocator with an uninformative cost; one intermediate budget.
    cal-cosine / cal-hessian / cal-auto   the knapsack's formats with searched scales, and `--calibration auto`
                    (the guard's pick among min-max, cosine, hessian) at `--calibration-budgets` (default the
                    all-int4 size, where only scales differ) for `--calibration-users` (the searches take ~100 s per
                    user and budget).
Two scores per model: WER against the sentences, and the label-free "pseudo-label WER" against the full-precision
model's own transcripts of the same clips, plus the number of clips whose transcript loops (`myqasr.guard.loops`).

Speed: a model's encoder output is cached by the encoder's formats and scales, so two schemes that differ only on
the decoder side share one encoder pass (exact: same computation), and two methods that build the same scheme (e.g.
every method at the all-int4 size) share its transcripts. Results are checkpointed per user in `--work`; a rerun
resumes, and adds to a checkpoint the core models it lacks.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import time
from pathlib import Path

from benchmarks import voices as V
from benchmarks.harness import cpu_name, first_output_line, git_commit, read_json, size_model, utc_now, write_json
from benchmarks.personalization_methods import (CALIBRATIONS, CORE, PAPER, PAPER_OTHER, RANDOM_SEEDS,
                                                auto_scheme, candidate_schemes, core_schemes, encoder_key, panel_budgets,
                                                paper_scheme, planned, random_scheme, scheme_key, zone_bounds, zones)

USERS = ["espeak_scot_f4", "flite_awb", "espeak_us_m3", "flite_slt", "espeak_gb_f2", "flite_rms",
         "espeak_carib_m2", "flite_kal16", "espeak_us_high_f5", "espeak_us_slowlow_m6"]
QUICK_USERS = ["espeak_us_m3", "flite_slt"]
DEFAULT_VOICES = Path.home() / ".cache" / "myqasr" / "voices-bench"
DEFAULT_WORK = Path.home() / ".cache" / "myqasr" / "panel-work"
MAX_NEW_TOKENS = 96
BATCH = 8


def key(budget_mb: float) -> str:
    """How a budget names its entries in the results JSON."""
    return f"{budget_mb:.6f}"


def partners(users: list[str], u: str) -> tuple[str, str]:
    """The two users whose clips `u`'s "knapsack-other" models are calibrated on."""
    i, n = users.index(u), len(users)
    return users[(i + 1) % n], users[(i + 3) % n] if n > 3 else users[(i + 1) % n]


def environment(threads: int) -> dict:
    import numpy as np
    import torch
    import transformers
    return {"date": utc_now(), "host": platform.node(), "cpu": cpu_name(), "cores": os.cpu_count(),
            "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "numpy": np.__version__,
            "espeak-ng": first_output_line(["espeak-ng", "--version"]).split("  Data at")[0],
            "flite": V.tool_version(["flite", "--version"]), "git": git_commit(), "torch_threads": threads,
            "loadavg_start": os.getloadavg()}


def user_clips(voices_dir: Path, user: str, sentences: range):
    from myqasr.audio import load_clips
    return load_clips([voices_dir / user / f"{i:03d}.wav" for i in sentences], with_text=True)


# --------------------------------------------------------------------------- transcription with a shared encoder

class Transcriber:
    """Greedy transcripts of one test user's clips by simulated models; encoder outputs are cached by the
    encoder's formats and scales, whole transcripts by the whole scheme."""

    def __init__(self, loaded, clips):
        from myqasr.adapters import adapter_for
        self.loaded, self.clips = loaded, clips
        self.adapter = adapter_for(loaded.arch, loaded.processor)
        self.features = self.adapter.features([c.audio for c in clips])
        self.encoded, self.done = {}, {}
        self.encoder_passes = self.decoder_passes = 0

    def __call__(self, model, n: int, enc_key: str | None = None, full_key: str | None = None) -> list[str]:
        import torch
        from transformers.modeling_outputs import BaseModelOutput
        if full_key and (full_key, n) in self.done:
            return self.done[(full_key, n)]
        with torch.inference_mode():
            enc = self.encoded.get(enc_key) if enc_key else None
            if enc is None or enc.shape[0] < n:
                enc = torch.cat([model.model.encoder(self.features[i:i + BATCH]).last_hidden_state
                                 for i in range(0, n, BATCH)])
                self.encoder_passes += 1
                if enc_key:
                    self.encoded[enc_key] = enc
            texts = []
            for i in range(0, n, BATCH):
                seq = model.generate(encoder_outputs=BaseModelOutput(last_hidden_state=enc[i:min(i + BATCH, n)]),
                                     num_beams=1, do_sample=False, max_new_tokens=MAX_NEW_TOKENS)
                texts += [t.strip() for t in self.loaded.processor.batch_decode(seq, skip_special_tokens=True)]
        self.decoder_passes += 1
        if full_key:
            self.done[(full_key, n)] = texts
        return texts

    def scheme(self, scheme, n: int) -> list[str]:
        from myqasr.simulate import simulate
        full = scheme_key(scheme)
        if (full, n) in self.done:
            return self.done[(full, n)]
        return self(simulate(self.loaded.model, scheme), n, encoder_key(scheme), full)


# --------------------------------------------------------------------------- one user

def entry(scheme, hyps: list[str], clips: str, extra: dict | None = None) -> dict:
    return {"hyps": hyps, "clips": clips, "bytes": scheme.predicted_bytes,
            "formats": {p.name: p.format.name for p in scheme.layers}, **(extra or {})}


def run_user(u: str, ctx: dict, stats: dict, data: dict, args, done: dict | None = None,
             checkpoint: Path | None = None) -> dict:
    """Every model tested on user u: transcripts (per clip), sizes and formats. `done`: the user's checkpoint from
    an earlier run, whose models are kept (only the missing ones are transcribed); `checkpoint`: written after
    every budget, so a stopped run loses at most one budget's models."""
    loaded, sm, budgets = ctx["loaded"], ctx["sm"], ctx["budgets"]
    test = data[u]["test"]
    tr = Transcriber(loaded, test)
    t0 = time.perf_counter()
    with heavy_lock(args.lock):
        out = done or {"refs": [c.text for c in test], "fp32": tr(loaded.model, len(test)), "results": {},
                       "auto": {}}
        own = core_schemes(loaded, sm, stats[u], budgets)
    res, before = out["results"], dict(out.get("timings", {}))
    cache: dict = {}                      # searches and full-precision transcripts of u's clips, across budgets
    for i, b in enumerate(budgets):
        with heavy_lock(args.lock):
            budget_models(u, i, b, res.setdefault(key(b), {}), own, tr, out, cache, ctx, stats, data, args)
        out["timings"] = {"transcribe_s": round(before.get("transcribe_s", 0) + time.perf_counter() - t0, 1),
                          "encoder_passes": before.get("encoder_passes", 0) + tr.encoder_passes,
                          "decoder_passes": before.get("decoder_passes", 0) + tr.decoder_passes}
        if checkpoint is not None:
            write_json(checkpoint, out)
    return out


def budget_models(u, i, b, r, own, tr, out, cache, ctx, stats, data, args) -> None:
    """User u's models at budget b (index i), transcribed into r; models already in r (a resumed run) are kept."""
    loaded = ctx["loaded"]
    n_all, n_sub = len(data[u]["test"]), min(args.subset, len(data[u]["test"]))
    p = partners(args.partner_pool, u)[i % 2]
    schemes = {m: own[(b, m)] for m in ("uniform", "uniform-mix", "knapsack")}
    schemes.update({"knapsack-other": planned(loaded, stats[p], b, _minmax()),
                    PAPER: paper_scheme(loaded, stats[u], b), PAPER_OTHER: paper_scheme(loaded, stats[p], b)})
    for m, e in r.items():             # a resumed user: models already transcribed serve any method with that scheme
        if m in schemes and e["clips"] == "all":
            tr.done.setdefault((scheme_key(schemes[m]), n_all), e["hyps"])
    for m in CORE:
        if m not in r:
            extra = {"label": schemes[m].allocation.get("baseline")} if m.startswith("uniform") else {}
            if m.endswith("-other"):
                extra["partner"] = p
            r[m] = entry(schemes[m], tr.scheme(schemes[m], n_all), "all", extra)
    wanted = secondary_markers(u, i, args)
    if "random-s0" in wanted and "random-s0" not in r:
        for seed in RANDOM_SEEDS:
            s = random_scheme(loaded, stats[u], b, seed)
            r[f"random-s{seed}"] = entry(s, tr.scheme(s, n_sub), "subset")
    if "cal-auto" in wanted and "cal-auto" not in r:
        t = time.perf_counter()
        chosen = auto_scheme(loaded, stats[u], b, data[u]["calib"], cache)
        out["auto"][key(b)] = {**chosen.calibration, "seconds": round(time.perf_counter() - t, 1)}
        cands = candidate_schemes(loaded, stats[u], b, data[u]["calib"], cache)
        for m in CALIBRATIONS:
            if m != "minmax":
                r[f"cal-{m}"] = entry(cands[m], tr.scheme(cands[m], n_sub), "subset")
        r["cal-auto"] = entry(chosen, tr.scheme(chosen, n_sub), "subset", {"chosen": chosen.calibration["chosen"]})


def secondary_markers(u: str, i: int, args) -> list[str]:
    """The secondary method groups user u gets at budget index i, each named by the model that marks it done:
    "random-s0" (random costs) and "cal-auto" (the calibrations)."""
    if u not in args.secondary_users:
        return []
    return ((["random-s0"] if i in args.random_budgets else []) +
            (["cal-auto"] if i in args.calibration_budgets and u in args.calibration_users else []))


def missing_models(done: dict, budgets: list[float], u: str, args) -> bool:
    """Whether a checkpointed user lacks a model this run asks for: a core model at some budget (the panel's methods
    grew since), or a secondary one (random costs, calibrations) of a secondary user."""
    return any(m not in done["results"].get(key(b), {})
               for i, b in enumerate(budgets) for m in CORE + secondary_markers(u, i, args))


def _minmax():
    from myqasr.config import PlanConfig
    return PlanConfig(allocator="knapsack", calibration="minmax")


# --------------------------------------------------------------------------- the run

@contextlib.contextmanager
def heavy_lock(path: Path | None):
    """Hold the machine's heavy-job lock (flock) for one step (a user's statistics, or one budget's models), then
    give waiting jobs a turn: the panel takes hours and must neither share the 2 cores nor starve other jobs."""
    if path is None:
        yield
        return
    import fcntl
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
    time.sleep(3)


def run(args) -> dict:
    import torch

    from myqasr.models import load_model
    from myqasr.plan import compute_statistics, reachable_bytes
    from myqasr.stats import load_statistics, save_statistics

    t_start = time.perf_counter()
    users = args.users
    loaded = load_model(None)
    sm = size_model(loaded)
    z = zones(sm)
    budgets = panel_budgets(z)
    if args.quick:
        budgets = [budgets[0], budgets[3], budgets[-1]]
    print(f"budgets (MB): {', '.join(f'{b:.2f}' for b in budgets)}", flush=True)
    need = list(dict.fromkeys(users + [p for u in users for p in partners(args.partner_pool, u)]))   # + partners
    data = {u: {"calib": user_clips(args.voices_dir, u, args.calib), "test": user_clips(args.voices_dir, u, args.test)}
            for u in need}
    (args.work / "stats").mkdir(parents=True, exist_ok=True)
    (args.work / "users").mkdir(parents=True, exist_ok=True)
    stats, stats_s = {}, {}
    for u in need:                            # one statistics + cost pass per user (reused if already on disk)
        path = args.work / "stats" / f"{u}.safetensors"
        if path.exists():
            stats[u] = load_statistics(path)
            timing = path.with_suffix(".seconds.json")
            if timing.exists():
                stats_s[u] = read_json(timing)["seconds"]
            continue
        with heavy_lock(args.lock):
            t = time.perf_counter()
            stats[u] = compute_statistics(loaded, data[u]["calib"], progress=False)
            stats_s[u] = round(time.perf_counter() - t, 1)
        save_statistics(stats[u], path)
        write_json(path.with_suffix(".seconds.json"), {"seconds": stats_s[u]})
        print(f"[{time.perf_counter() - t_start:6.0f} s] {u}: statistics + costs {stats_s[u]} s", flush=True)
    ctx = {"loaded": loaded, "sm": sm, "budgets": budgets}
    per_user = {}
    for u in users:
        path = args.work / "users" / f"{u}.json"
        done = read_json(path) if path.exists() else None
        if done is not None and not missing_models(done, budgets, u, args):
            per_user[u] = done
            continue
        torch.manual_seed(0)
        per_user[u] = run_user(u, ctx, stats, data, args, done, path)      # holds the lock per budget
        write_json(path, per_user[u])
        print(f"[{time.perf_counter() - t_start:6.0f} s] {u}: {per_user[u]['timings']}", flush=True)
    smallest, largest = reachable_bytes(loaded)
    return {"users": users, "budgets_mb": budgets, "zones": zone_bounds(z), "zone_sizes": z,
            "fp32_mb": largest / 1e6, "per_user": per_user, "stats_seconds": stats_s,
            "partners": {u: partners(args.partner_pool, u) for u in users},
            "voices": {u: {"desc": V.VOICES_BY_USER[u].desc, "engine": V.VOICES_BY_USER[u].engine,
                           "args": V.VOICES_BY_USER[u].args_str(),
                           "calib_seconds": round(sum(c.seconds for c in data[u]["calib"]), 1),
                           "test_seconds": round(sum(c.seconds for c in data[u]["test"]), 1)} for u in users},
            "subset": args.subset, "random_budgets": [budgets[i] for i in args.random_budgets if i < len(budgets)],
            "calibration_budgets": [budgets[i] for i in args.calibration_budgets if i < len(budgets)],
            "calibration_users": [u for u in users if u in args.calibration_users],
            "secondary_users": [u for u in users if u in args.secondary_users],
            "costs": {u: stats[u].costs for u in users},
            "total_seconds": round(time.perf_counter() - t_start, 1)}


# --------------------------------------------------------------------------- main

def render(res: dict, out: Path) -> Path:
    from benchmarks.personalization_report import markdown, plot
    from benchmarks.harness import write_text
    figs = plot(res, out)
    write_text(out / "personalization.md", markdown(res, figs))
    return out / "personalization.md"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.personalization", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="results folder (personalization.md / .json / *.png)")
    ap.add_argument("--quick", action="store_true", help="2 users, 3 budgets, 3 calibration + 3 test clips")
    ap.add_argument("--users", default=None, help="comma-separated users (default: the 10-user panel)")
    ap.add_argument("--voices-dir", type=Path, default=DEFAULT_VOICES)
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help="per-user checkpoints (a rerun resumes)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--test-clips", type=int, default=24, help="test clips per user (sentences 8..8+N-1, N <= 32)")
    ap.add_argument("--subset", type=int, default=8, help="test clips for the secondary methods")
    ap.add_argument("--secondary-users", default="espeak_scot_f4,flite_awb,espeak_us_m3",
                    help="users with paper mode, random costs and calibrations (comma-separated)")
    ap.add_argument("--calibration-users", default="espeak_scot_f4,flite_awb",
                    help="users with the calibration comparison (comma-separated)")
    ap.add_argument("--calibration-budgets", default="0",
                    help="indices of the budgets with the calibration comparison (comma-separated; 0 = all-int4)")
    ap.add_argument("--lock", type=Path, default=None, help="a lock file to hold (flock) during each user's work")
    ap.add_argument("--render-only", action="store_true", help="re-render the report from <out>/personalization.json")
    a = ap.parse_args(argv)
    if a.out is None:
        ap.error("--out is required")
    if a.render_only:
        print(f"wrote {render(read_json(a.out / 'personalization.json'), a.out)}")
        return 0
    a.users = a.users.split(",") if a.users else (QUICK_USERS if a.quick else USERS)
    a.partner_pool = a.users if a.quick else USERS      # partners come from the whole panel, whatever --users says
    n_calib = 8
    if a.quick:
        n_calib, a.test_clips, a.subset = 3, 3, 2
    if not 1 <= a.test_clips <= 32:
        ap.error("--test-clips must be 1..32")
    a.calib, a.test = range(0, n_calib), range(8, 8 + a.test_clips)
    a.random_budgets = (1,) if a.quick else (3,)
    a.calibration_budgets = tuple(int(i) for i in a.calibration_budgets.split(",") if i)
    a.calibration_users = a.users if a.quick else a.calibration_users.split(",")
    a.secondary_users = a.users if a.quick else a.secondary_users.split(",")
    a.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    command = "python -m benchmarks.personalization " + " ".join(argv if argv is not None else sys.argv[1:])
    import torch
    torch.set_num_threads(a.threads)
    env = environment(a.threads)
    missing = [u for u in a.users if not all((a.voices_dir / u / f"{i:03d}.wav").exists() for i in (*a.calib, *a.test))]
    if missing:
        V.render_users(a.voices_dir, [V.VOICES_BY_USER[u] for u in missing], n_sentences=8 + a.test_clips)
    res = run(a)
    res.update({"env": env, "command": command, "calib_range": [a.calib.start, a.calib.stop],
                "test_range": [a.test.start, a.test.stop], "loadavg_end": os.getloadavg()})
    write_json(a.out / "personalization.json", res)
    print(f"wrote {render(res, a.out)}, {a.out / 'personalization.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
