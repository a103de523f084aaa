"""`myqasr personalize` end to end at three budgets: the all-int8 size, midway, the all-int4 size.

    python -m benchmarks.budgets [--out benchmarks/results]
    python -m benchmarks.budgets --render-only                    # rewrite budgets.md from <out>/budgets.json

The embedded Whisper tiny.en, the bundled sample user (8 calibration clips; 8 held-out test clips with
transcripts), the default settings of the CLI (phone ladder, median, ascending, min-max). One statistics pass
serves the three budgets. Each run plans, exports, checks the real file against the budget, verifies the `.pte`
(delegation gate, numeric parity, transcripts vs the simulated model) and transcribes the test clips with the
full-precision model, the simulated model and the `.pte` in the ExecuTorch runtime (1 thread).
Writes `<out>/budgets.md` and `budgets.json`; the `.pte` files and reports go to `--work`.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.harness import (header, machine_meta, read_json, reference_bytes, sample_user_clips, table,
                                write_json, write_text)

TITLE = "`myqasr personalize` at three budgets (embedded Whisper tiny.en, sample user)"
DEFAULT_WORK = Path.home() / ".cache" / "myqasr" / "budgets"


def budget_points(ref: dict) -> list[tuple[str, float]]:
    """(label, bytes): the all-int8 size, midway, the all-int4 size."""
    return [("all-int8 size", ref["int8"]), ("midway", (ref["int8"] + ref["int4"]) / 2), ("all-int4 size", ref["int4"])]


def result_row(label: str, budget_mb: float, r) -> dict:
    """One budget's row from a PersonalizeResult."""
    from myqasr.size import MB
    ev = {e["model"]: e for e in r.eval_rows}
    return {"point": label, "budget_mb": budget_mb, "predicted_mb": r.predicted_bytes / MB,
            "real_mb": r.real_bytes / MB, "under_budget_pct": 100 * (1 - r.real_bytes / r.budget_bytes),
            "tries": r.tries, "verify": r.verify.summary(),
            "wer_fp32": ev["full precision"]["wer"], "wer_sim": ev["simulated"]["wer"],
            "wer_pte": ev[".pte (ExecuTorch)"]["wer"],
            "pte_s_per_clip": ev[".pte (ExecuTorch)"]["median_s_per_clip"],
            "pte_rtf": ev[".pte (ExecuTorch)"]["rtf"], "report": r.report_path}


def measure(a) -> dict:
    import torch
    torch.set_num_threads(a.threads)
    from tqdm import tqdm

    from myqasr.models import load_model
    from myqasr.plan import compute_statistics
    from myqasr.size import MB
    from myqasr_export.personalize import personalize

    loaded = load_model(None)
    calib = sample_user_clips("calib")
    test = sample_user_clips("test", with_text=True)
    points = budget_points(reference_bytes(loaded))
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
        rows.append(result_row(label, budget_mb, r))
    return {"rows": rows, "seconds": time.perf_counter() - t0, "calib_clips": len(calib), "test_clips": len(test)}


def report(res: dict) -> str:
    rows = res["rows"]
    md = header(TITLE, res["command"], res["meta"]).split("\n") + [
        "", f"{res['calib_clips']} calibration clips, {res['test_clips']} held-out test clips, default settings; "
        f"total {res['seconds'] / 60:.1f} min.",
        "Every file is at most its budget; 'under' is how much of the budget is left unused.", "",
        table(["point", "budget MB", "predicted MB", "real .pte MB", "under %", "WER fp32 %", "WER sim %",
               "WER .pte %", ".pte s/clip (1 thr)", "RTF"],
              [[r["point"], f"{r['budget_mb']:.3f}", f"{r['predicted_mb']:.3f}", f"{r['real_mb']:.3f}",
                f"{r['under_budget_pct']:.2f}", f"{100 * r['wer_fp32']:.1f}", f"{100 * r['wer_sim']:.1f}",
                f"{100 * r['wer_pte']:.1f}", f"{r['pte_s_per_clip']:.3f}", f"{r['pte_rtf']:.3f}"] for r in rows]),
        "", "Verification:", ""] + [f"- {r['point']}: {r['verify']}" for r in rows]
    return "\n".join(md) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.budgets")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="the all-int4 budget only")
    ap.add_argument("--render-only", action="store_true", help="only rewrite budgets.md from <out>/budgets.json")
    a = ap.parse_args(argv)
    if a.render_only:
        res = read_json(a.out / "budgets.json")
    else:
        cmd = "python -m benchmarks.budgets --out " + str(a.out) + (" --quick" if a.quick else "")
        res = {"command": cmd, **measure(a), "meta": machine_meta(a.threads)}
        write_json(a.out / "budgets.json", res)
    write_text(a.out / "budgets.md", report(res))
    print(f"wrote {a.out / 'budgets.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
