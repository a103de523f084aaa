"""`myqasr personalize` end to end at three budgets: the all-int8 size, midway, the all-int4 size.

    python -m benchmarks.budgets [--out benchmarks/results]

The embedded Whisper tiny.en, the bundled sample user (8 calibration clips; 8 held-out test clips with
transcripts), the default settings of the CLI (phone ladder, median, ascending, min-max). One statistics pass
serves the three budgets. Each run plans, exports, checks the real file against the budget, verifies the `.pte`
(delegation gate, numeric parity, transcripts vs the simulated model) and transcribes the test clips with the
full-precision model, the simulated model and the `.pte` in the ExecuTorch runtime (1 thread).
Writes `<out>/budgets.md` and `budgets.json`; the `.pte` files and reports go to `--work`.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks.common import header, table, write_text

DEFAULT_WORK = Path.home() / ".cache" / "myqasr" / "budgets"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.budgets")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="the all-int4 budget only")
    a = ap.parse_args(argv)
    import torch
    torch.set_num_threads(a.threads)
    from tqdm import tqdm

    from myqasr.audio import load_clips
    from myqasr.models import load_model
    from myqasr.plan import compute_statistics, reachable_bytes
    from myqasr.personalize import personalize
    from myqasr.size import MB

    loaded = load_model(None)
    import myqasr
    user = Path(myqasr.__file__).parent / "data" / "sample_user"
    calib = load_clips(user / "calib")
    test = load_clips(user / "test", with_text=True)
    lo, _ = reachable_bytes(loaded)
    from myqasr.adapters import adapter_for, rest_params
    from myqasr.allocate import uniform
    from myqasr.formats import get_ladder
    from myqasr.size import PROFILES, model_bytes
    layers = adapter_for(loaded.arch, loaded.processor).layers(loaded.model)
    int8 = model_bytes(layers, uniform(layers, get_ladder("xnnpack"), 1), rest_params(loaded.model, layers),
                       PROFILES["xnnpack"])
    points = [("all-int8 size", int8), ("midway", (int8 + lo) / 2), ("all-int4 size", lo)]
    if a.quick:
        points = points[-1:]
    a.work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    stats = compute_statistics(loaded, calib, progress=False)
    rows = []
    for label, b in tqdm(points, desc="personalize", unit="budget"):
        budget_mb = round(b / MB + 0.0000005, 6)       # rounded up to a whole byte: the budget is reachable
        r = personalize(loaded, calib, budget_mb, a.work / f"{label.split()[0]}.pte", stats=stats,
                        eval_clips=test, threads=a.threads, progress=False)
        ev = {e["model"]: e for e in r.eval_rows}
        rows.append({"point": label, "budget_mb": budget_mb, "predicted_mb": r.predicted_bytes / MB,
                     "real_mb": r.real_bytes / MB, "under_budget_pct": 100 * (1 - r.real_bytes / r.budget_bytes),
                     "tries": r.tries, "verify": r.verify.summary(),
                     "wer_fp32": ev["full precision"]["wer"], "wer_sim": ev["simulated"]["wer"],
                     "wer_pte": ev[".pte (ExecuTorch)"]["wer"],
                     "pte_s_per_clip": ev[".pte (ExecuTorch)"]["median_s_per_clip"],
                     "pte_rtf": ev[".pte (ExecuTorch)"]["rtf"], "report": r.report_path})
    total = time.perf_counter() - t0
    cmd = "python -m benchmarks.budgets --out " + str(a.out) + (" --quick" if a.quick else "")
    md = header("`myqasr personalize` at three budgets (embedded Whisper tiny.en, sample user)", cmd, a.threads)
    md = md.split("\n") + ["", f"8 calibration clips, {len(test)} held-out test clips, default settings; total {total / 60:.1f} min.",
           "Every file is at most its budget; 'under' is how much of the budget is left unused.", "",
           table(["point", "budget MB", "predicted MB", "real .pte MB", "under %", "WER fp32 %", "WER sim %",
                  "WER .pte %", ".pte s/clip (1 thr)", "RTF"],
                 [[r["point"], f"{r['budget_mb']:.3f}", f"{r['predicted_mb']:.3f}", f"{r['real_mb']:.3f}",
                   f"{r['under_budget_pct']:.2f}", f"{100 * r['wer_fp32']:.1f}", f"{100 * r['wer_sim']:.1f}",
                   f"{100 * r['wer_pte']:.1f}", f"{r['pte_s_per_clip']:.3f}", f"{r['pte_rtf']:.3f}"] for r in rows]),
           "", "Verification:", ""] + [f"- {r['point']}: {r['verify']}" for r in rows]
    write_text(a.out / "budgets.md", "\n".join(md) + "\n")
    write_text(a.out / "budgets.json", json.dumps({"command": cmd, "rows": rows, "seconds": total}, indent=1))
    print(f"wrote {a.out / 'budgets.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
