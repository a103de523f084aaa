"""Core numbers of the SDK on the embedded Whisper tiny.en and the bundled sample user.

    python -m benchmarks.core [--out benchmarks/results]

1. Size model: fp32 / all-int8 / all-int4 sizes (XNNPACK ladder) and the reachable range.
2. Statistics pass: time and peak RSS for 4 vs 16 clips, each in a fresh process, next to one plain
   full-precision forward pass (generate + teacher-forced forward) over the same clips.
3. WER of the simulated model at three budgets (all-int8 size, midway, all-int4 size) on the sample user's test
   clips, for both sensitivity orders (ascending = the paper's Algorithm 1, descending = the authors' script).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import header, table, write_text

THREADS = 2


def _measure_stats_pass(n_clips: int) -> dict:
    """Run in a child process: load, then time (a) one FP forward per clip, (b) the statistics pass."""
    import resource
    import torch
    torch.set_num_threads(THREADS)
    from myqasr.adapters import adapter_for
    from myqasr.audio import SAMPLE_USER_DIR, load_clips
    from myqasr.models import load_model
    from myqasr.plan import compute_statistics

    clips = (load_clips(SAMPLE_USER_DIR / "calib") + load_clips(SAMPLE_USER_DIR / "test"))[:n_clips]
    loaded = load_model(None)
    adapter = adapter_for("whisper", loaded.processor)
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    compute_statistics(loaded, clips[:1], progress=False)            # warm-up (lazy imports, allocator)
    t = time.perf_counter()
    for c in clips:                                                  # the plain FP work: transcribe + one forward
        ids = adapter.generate_ids(loaded.model, [c.audio])[0]
        adapter.stats_forward(loaded.model, c.audio, ids)
    plain = time.perf_counter() - t
    t = time.perf_counter()
    compute_statistics(loaded, clips, progress=False)
    stats = time.perf_counter() - t
    return {"clips": n_clips, "seconds_audio": round(sum(c.seconds for c in clips), 1),
            "plain_forward_s": plain, "stats_pass_s": stats, "ratio": stats / plain,
            "rss_after_load_mb": rss_loaded, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def stats_pass_rows() -> list[dict]:
    rows = []
    for n in (4, 16):
        out = subprocess.run([sys.executable, "-m", "benchmarks.core", "--child-stats", str(n)], capture_output=True,
                             text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


def budgets_and_wer() -> tuple[dict, list[list]]:
    import torch
    torch.set_num_threads(THREADS)
    from myqasr.adapters import adapter_for, rest_params
    from myqasr.audio import SAMPLE_USER_DIR, load_clips
    from myqasr.evaluate import transcribe, wer
    from myqasr.formats import get_ladder
    from myqasr.models import load_model
    from myqasr.plan import PlanConfig, compute_statistics, plan
    from myqasr.simulate import simulate
    from myqasr.size import MB, PROFILES, model_bytes
    from myqasr.allocate import uniform

    loaded = load_model(None)
    layers = adapter_for("whisper", loaded.processor).layers(loaded.model)
    ladder, prof, rest = get_ladder("xnnpack"), PROFILES["xnnpack"], rest_params(loaded.model, layers)
    sizes = {name: model_bytes(layers, uniform(layers, ladder, rung), rest, prof) / MB
             for rung, name in enumerate(("fp32", "all-int8", "all-int4"))}
    calib = load_clips(SAMPLE_USER_DIR / "calib")
    test = load_clips(SAMPLE_USER_DIR / "test", with_text=True)
    refs = [c.text for c in test]
    stats = compute_statistics(loaded, calib, progress=False)
    fp_wer = wer(refs, transcribe(loaded, loaded.model, test))
    budgets = [sizes["all-int8"], (sizes["all-int8"] + sizes["all-int4"]) / 2, sizes["all-int4"]]
    rows = [["full precision", f"{sizes['fp32']:.2f}", "-", "-", f"{100 * fp_wer:.1f}"]]
    for order in ("ascending", "descending"):
        for b in budgets:
            scheme = plan(loaded, stats, b, PlanConfig(order=order), progress=False)
            w = wer(refs, transcribe(loaded, simulate(loaded.model, scheme), test))
            rows.append([f"myQASR {order}", f"{b:.2f}", f"{scheme.predicted_bytes / MB:.2f}",
                         _mix(scheme), f"{100 * w:.1f}"])
    return sizes, rows


def _mix(scheme) -> str:
    from collections import Counter
    c = Counter(p.format.bits for p in scheme.layers)
    return " ".join(f"{c[b]}x{b}b" for b in sorted(c, reverse=True))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--child-stats", type=int, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child_stats:
        print(json.dumps(_measure_stats_pass(a.child_stats)))
        return 0
    from tqdm import tqdm
    steps = tqdm(total=2, desc="core benchmark")
    stats_rows = stats_pass_rows()
    steps.update()
    sizes, wer_rows = budgets_and_wer()
    steps.update()
    steps.close()
    md = [header("Core SDK: size model, statistics pass, WER vs budget (embedded Whisper tiny.en)",
                 "python -m benchmarks.core --out benchmarks/results", THREADS),
          "## Size model (XNNPACK ladder, MB = 10^6 bytes)", "",
          table(["scheme", "MB"], [[k, f"{v:.2f}"] for k, v in sizes.items()]), "",
          "## Statistics pass vs one plain full-precision pass (sample user clips, fresh process each)", "",
          "The plain pass is the work the statistics pass cannot avoid: greedy transcription plus one "
          "teacher-forced forward per clip, without hooks.", "",
          table(["clips", "audio s", "plain FP pass s", "statistics pass s", "ratio", "RSS after load MB",
                 "peak RSS MB"],
                [[r["clips"], r["seconds_audio"], f"{r['plain_forward_s']:.1f}", f"{r['stats_pass_s']:.1f}",
                  f"{r['ratio']:.2f}", f"{r['rss_after_load_mb']:.0f}", f"{r['peak_rss_mb']:.0f}"]
                 for r in stats_rows]), "",
          "## WER of the simulated model vs budget (sample user: 8 calibration clips, 8 disjoint test clips)", "",
          table(["method", "budget MB", "predicted MB", "bits (layers)", "WER %"], wer_rows), ""]
    os.makedirs(a.out, exist_ok=True)
    write_text(Path(a.out) / "core.md", "\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
