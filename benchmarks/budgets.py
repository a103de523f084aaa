"""`myqasr personalize` end to end at three budgets: the all-int8 size, midway, the all-int4 size.

    python -m benchmarks.budgets [--out benchmarks/results]
    python -m benchmarks.budgets --render-only                    # rewrite budgets.md from <out>/budgets.json
    python -m benchmarks.budgets --target asr-runner              # .pte + .ptd, the token table once:
                                                                  # budgets-asr-runner.md / .json

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

from benchmarks.harness import (fmt_or_dash, header, machine_meta, read_json, reference_bytes, sample_user_clips,
                                table, write_json, write_text)

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
    from myqasr.plan import PlanConfig, compute_statistics
    from myqasr.size import MB
    from myqasr_export.personalize import personalize

    loaded = load_model(None)
    config = PlanConfig(target=a.target)
    calib = sample_user_clips("calib")
    test = sample_user_clips("test", with_text=True)
    points = budget_points(reference_bytes(loaded, config))
    if a.quick:
        points = points[-1:]
    if a.point:
        points = [p for p in points if p[0].split()[0] == a.point]
    a.work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    stats = compute_statistics(loaded, calib, progress=False)
    rows = []
    for label, b in tqdm(points, desc="personalize", unit="budget"):
        budget_mb = round(b / MB + 0.0000005, 6)       # rounded up to a whole byte: the budget is reachable
        r = personalize(loaded, calib, budget_mb, a.work / f"{label.split()[0]}{suffix(a.target)}.pte",
                        config=config, stats=stats, eval_clips=test, threads=a.threads, progress=False)
        rows.append({**result_row(label, budget_mb, r), "decoder_ms_per_step": decoder_ms_per_step(r),
                     "program_mb": program_bytes(Path(r.pte_path)) / MB})
    return {"rows": rows, "seconds": time.perf_counter() - t0, "calib_clips": len(calib), "test_clips": len(test)}


def suffix(target: str) -> str:
    """Result and work file names: budgets.md for one `.pte` (module), budgets-asr-runner.md for `.pte` + `.ptd`."""
    return "" if target == "module" else f"-{target}"


def program_bytes(pte: Path) -> int:
    """The program's own bytes: the `.pte` and its `.ptd` (without the asr-runner's preprocessor and tokenizer)."""
    return sum(p.stat().st_size for p in (pte, pte.with_suffix(".ptd")) if p.is_file())


def decoder_ms_per_step(r) -> float | None:
    """Median over the held-out clips of the `.pte`'s decode time per decoder call, in ms."""
    return next((e for e in r.eval_rows if e["model"] == ".pte (ExecuTorch)"), {}).get("decoder_ms_per_step")


def report(res: dict) -> str:
    rows = res["rows"]
    md = header(TITLE, res["command"], res["meta"]).split("\n") + [
        "", f"{res['calib_clips']} calibration clips, {res['test_clips']} held-out test clips, default settings; "
        f"total {res['seconds'] / 60:.1f} min.",
        f"Target {res.get('target', 'module')}: real = " + (
            "every file ExecuTorch's ASR runner loads: `.pte` + `.ptd` (the token table once) + preprocessor.pte + "
            "tokenizer.json; program = `.pte` + `.ptd`." if res.get("target", "module") != "module" else
            "the one `.pte`'s bytes (the token table twice)."),
        "Every file is at most its budget; 'under' is how much of the budget is left unused.", "",
        table(["point", "budget MB", "predicted MB", "real MB", "program MB", "under %", "WER fp32 %", "WER sim %",
               "WER .pte %", ".pte s/clip", "RTF", "decoder ms/step"],
              [[r["point"], f"{r['budget_mb']:.3f}", f"{r['predicted_mb']:.3f}", f"{r['real_mb']:.3f}",
                fmt_or_dash(r.get("program_mb"), 3),
                f"{r['under_budget_pct']:.2f}", f"{100 * r['wer_fp32']:.1f}", f"{100 * r['wer_sim']:.1f}",
                f"{100 * r['wer_pte']:.1f}", f"{r['pte_s_per_clip']:.3f}", f"{r['pte_rtf']:.3f}",
                fmt_or_dash(r.get("decoder_ms_per_step"))] for r in rows]),
        "", "Verification:", ""] + [f"- {r['point']}: {r['verify']}" for r in rows]
    return "\n".join(md) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.budgets")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="the all-int4 budget only")
    ap.add_argument("--point", choices=["all-int8", "midway", "all-int4"], default=None,
                    help="measure this point only and merge it into <out>/budgets*.json (each run stays short)")
    ap.add_argument("--target", default="module", choices=["module", "asr-runner"],
                    help="one .pte (default), or .pte + .ptd with the token table once")
    ap.add_argument("--render-only", action="store_true", help="only rewrite budgets.md from <out>/budgets.json")
    a = ap.parse_args(argv)
    name = f"budgets{suffix(a.target)}"
    if a.render_only:
        res = read_json(a.out / f"{name}.json")
    else:
        cmd = "python -m benchmarks.budgets --out " + str(a.out) + (" --quick" if a.quick else "") + \
              ("" if a.target == "module" else f" --target {a.target}") + (f" --point {a.point}" if a.point else "")
        res = {"command": cmd, "target": a.target, **measure(a), "meta": machine_meta(a.threads)}
        if a.point and (a.out / f"{name}.json").is_file():         # one point: keep the others already measured
            old = read_json(a.out / f"{name}.json")
            order = [p for p, _ in budget_points({"int8": 2, "int4": 0})]
            rows = {r["point"]: r for r in old["rows"] + res["rows"]}
            res["rows"] = [rows[p] for p in order if p in rows]
            res["seconds"] += old["seconds"]
            res["command"] = " and ".join(sorted({old["command"], cmd}))
        write_json(a.out / f"{name}.json", res)
    write_text(a.out / f"{name}.md", report(res))
    print(f"wrote {a.out / f'{name}.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
