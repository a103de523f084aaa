"""On-phone statistics, measured on the host: the statistics program (`myqasr export-stats`) run by the host's
ExecuTorch runtime on the sample user's 8 calibration clips, side by side with the host's Python statistics pass.

    python -m benchmarks.phone_stats [--pte stats.pte]      # exports one if not given (~4 min); ~3 min more

Reports: the program's size, its load time and time per clip (2 threads), the host pass's time per clip (its own
greedy transcripts + the forward-only statistics pass, no cost pass), the statistics file's size for 8 clips (and
gzipped), and how far the phone's numbers are from the host's (worst layer per statistic), with the allocations of
the default plan at 5 budgets. Results: benchmarks/results/phone_stats.{md,json}.
"""
from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
from pathlib import Path

from . import harness

RESULTS = Path(__file__).parent / "results"
CLIPS = 8
THREADS = 2
KEYS = ("median", "mean", "std", "abs_max", "input_abs_max", "p90", "p99")


def measure(pte: str | None) -> dict:
    import torch

    from myqasr.audio import SAMPLE_USER_DIR, load_clips
    from myqasr.models import load_model
    from myqasr.stats import save_statistics
    from myqasr_export.phonestats import StatsRunner, phone_statistics
    from myqasr_export.statsprogram import export_statistics_program

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from phone_stats_fixtures import budgets_mb, default_allocations, host_pass

    torch.set_num_threads(THREADS)
    loaded = load_model()
    clips = load_clips(SAMPLE_USER_DIR / "calib")[:CLIPS]
    tmp = Path(tempfile.mkdtemp())
    out: dict = {"meta": harness.machine_meta(THREADS), "clips": CLIPS,
                 "audio_s": round(sum(len(c.audio) for c in clips) / 16000, 2)}
    if pte is None:
        pte = str(tmp / "stats.pte")
        out["export_s"] = export_statistics_program(loaded, pte).export_s
    out["pte_mb"] = Path(pte).stat().st_size / 1e6
    t = time.perf_counter()
    StatsRunner(pte, THREADS)
    out["load_s"] = time.perf_counter() - t
    per_clip: list[float] = []
    last = [time.perf_counter()]

    def tick(i, calls):
        now = time.perf_counter()
        per_clip.append(now - last[0])
        last[0] = now
        out.setdefault("decoder_calls", []).append(len(calls) - 1)

    t = time.perf_counter()
    phone = phone_statistics(pte, clips, threads=THREADS, progress=False,
                             on_clip=tick)
    total = time.perf_counter() - t
    out["phone_total_s"] = total
    out["phone_per_clip_s"] = statistics.median(per_clip[1:])     # the first clip also loads the program
    t = time.perf_counter()
    host = host_pass(loaded, clips)
    out["host_per_clip_s"] = (time.perf_counter() - t) / CLIPS
    path = tmp / "phone.stats"
    save_statistics(phone, path)
    out["file_bytes"] = path.stat().st_size
    out["file_gz_bytes"] = len(gzip.compress(path.read_bytes()))
    out["worst"] = {k: max((abs(phone.layers[n][k] - host.layers[n][k]) / max(abs(host.layers[n][k]), 1e-12), n)
                           for n in host.layers) for k in KEYS}
    out["counts_equal"] = sum(phone.layers[n]["count"] == host.layers[n]["count"] for n in host.layers)
    out["layers"] = len(host.layers)
    budgets = budgets_mb(loaded)
    a, b = default_allocations(loaded, phone, budgets), default_allocations(loaded, host, budgets)
    out["budgets_mb"] = budgets
    out["identical_allocations"] = sum(x == y for x, y in zip(a, b))
    return out


def render(r: dict) -> str:
    rows = [["statistics program (`stats.pte`)", f"{r['pte_mb']:.2f} MB"
             + (f", export {r['export_s']:.0f} s" if r.get("export_s") else "")],
            ["program load (host runtime)", f"{r['load_s']:.2f} s"],
            ["per clip, statistics program on the host runtime (median of clips 2-8)", f"{r['phone_per_clip_s']:.2f} s"],
            ["per clip, host Python pass (greedy transcript + statistics, no cost pass)", f"{r['host_per_clip_s']:.2f} s"],
            ["ratio program / host pass", f"{r['phone_per_clip_s'] / r['host_per_clip_s']:.2f} x"],
            [f"statistics file, tiny.en, {r['clips']} clips ({r['audio_s']} s)",
             f"{r['file_bytes'] / 1e6:.2f} MB ({r['file_gz_bytes'] / 1e3:.0f} kB gzipped)"],
            ["layers with the same element count as the host (same transcripts)", f"{r['counts_equal']} of {r['layers']}"],
            ["identical allocations of the default plan", f"{r['identical_allocations']} of {len(r['budgets_mb'])} budgets "
             f"({', '.join(f'{b:g}' for b in r['budgets_mb'])} MB)"]]
    rows += [[f"worst relative difference, {k}", f"{v[0]:.2e} ({v[1]})"] for k, v in r["worst"].items()]
    return (harness.header("On-phone statistics: the statistics program vs the host pass",
                           "python -m benchmarks.phone_stats", r["meta"])
            + "\n" + harness.table(["what", "number"], rows) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pte", default=None, help="an existing statistics program (default: export one)")
    a = ap.parse_args(argv)
    r = measure(a.pte)
    harness.write_json(RESULTS / "phone_stats.json", r)
    harness.write_text(RESULTS / "phone_stats.md", render(r))
    print(render(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
