"""Performance of myqasr on the embedded Whisper tiny.en: personalization cost, runtime against peers, size truth.

    python -m benchmarks.perf [--out benchmarks/results]          # full run (~30 min on 2 cores)
    python -m benchmarks.perf --quick --out /tmp/perf             # smoke test (small settings, ~6 min)
    python -m benchmarks.perf --render-only                       # rewrite perf.md + plots from <out>/perf.json

1. Personalization cost (`perf_cost`; 4 / 16 / 64 clips, `torch` 2 threads, a fresh process per configuration):
   time and peak RSS of the statistics pass, the allocation (10 budgets from one statistics pass), `plan()` with
   min-max calibration (10 budgets) and with the cosine search (1 budget), next to
   (a) a store-every-activation baseline (what the reference implementation does, reimplemented minimally here:
       hooks keep every layer's output tensors for all clips, then the exact median of |y| per layer), and
   (b) one plain full-precision pass over the same clips (the same greedy transcription in batches of
       `CALIBRATION_TRANSCRIBE_BATCH` and the same teacher-forced forward per clip as the statistics pass, without
       hooks).
   Peak RSS of a stage is read from VmHWM after resetting it (`/proc/self/clear_refs`) at the start of the stage,
   which also hands the heap memory freed by earlier stages back to the OS (`myqasr.stats.release_freed_memory`).
   Clips: two flite voices (rms, slt) reading the first 32 sentences of `benchmarks.voices`, rendered once.
2. Runtime against peers (`perf_runtime`) on the sample user's 8 test clips, threads 1 and 2, every engine in its
   own process, end to end audio -> text, per-utterance time = median over repeats (after one warm-up pass):
   our `.pte` at three budgets (all-int8 size, midway, all-int4 size) in the ExecuTorch runtime
   (`myqasr_export.runner`), eager PyTorch fp32 (HF generate), the eager simulated model (midway scheme), and
   ctranslate2 on the bundled tiny.en at int8 and float32 (the same log-mel features and prompt, greedy). An ETDump
   profile of the all-int8-size `.pte` (`perf_profile`) says where its time goes, next to the issue-14 "before".
3. Size truth (`perf_size`): five budgets from the all-int8 to the all-int4 size: budget, predicted bytes, real
   `.pte` (+ `.ptd`) bytes, WER of the `.pte`.

Results: `<out>/perf.md`, `perf.json`, `perf_runtime.png`, `perf_cost.png`, `perf_size.png`. Schemes, `.pte` files
and rendered clips live in `--work` (default ~/.cache/myqasr/perf).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks import perf_cost, perf_profile, perf_runtime, perf_size
from benchmarks.harness import (Progress, busy_processes, header, machine_meta, pyplot, read_json, utc_now,
                                write_json, write_text)

TITLE = "Performance: personalization cost, runtime against peers, size truth (embedded Whisper tiny.en)"
DEFAULT_WORK = Path.home() / ".cache" / "myqasr" / "perf"
COST_THREADS = 2
PARTS = ("cost", "runtime", "size")


@dataclass
class Settings:
    counts: tuple = (4, 8, 16, 64)     # clips for the cost part
    cosine: bool = True                # time the cosine search (1 budget) in the cost part
    threads: tuple = (1, 2)            # runtime part
    repeats: int = 3                   # timed passes over the clips per engine (after one warm-up pass)
    n_test: int = 8                    # sample user test clips
    size_points: int = 5               # budgets of the size table (includes the three runtime budgets)
    alloc_budgets: int = 10            # budgets planned from one statistics pass in the cost part
    cost_threads: int = COST_THREADS   # torch threads of the cost part
    cosine_max: int = 64               # time the cosine search only up to this many clips
    auto_max: int = 8                  # time plan(calibration="auto") only up to this many clips
    profile: bool = True               # ETDump profile of our all-int8-size .pte (where the encoder's time goes)

    @staticmethod
    def quick() -> "Settings":
        return Settings(counts=(2, 4), threads=(1,), repeats=1, n_test=2, size_points=2, alloc_budgets=3)


def n_steps(parts: list[str], st: Settings) -> int:
    n = 0
    if "cost" in parts:
        n += 2 * len(st.counts)
    if {"runtime", "size"} & set(parts):
        n += 1
    if "runtime" in parts:
        n += perf_runtime.N_ENGINES * len(st.threads) + 1
    if "size" in parts:
        n += 1
    return n


def run(parts: list[str], st: Settings, work: Path, reuse: bool, progress: Progress) -> None:
    """Every part of the study, each measurement in its own process; results go into progress.results."""
    res = progress.results
    if "cost" in parts:
        res["cost"] = perf_cost.measure(st, work, progress)
    if {"runtime", "size"} & set(parts):
        prep = res["prepare"] = perf_size.prepare(st, work, reuse, progress)
        if "error" in prep:
            return
        points = {p["label"]: p for p in prep["points"]}
        if "runtime" in parts:
            res["runtime"] = perf_runtime.measure(st, points, progress)
            if st.profile:
                target = points.get("int8-size", prep["points"][0])
                res["profile"] = perf_profile.measure(target["pte"], progress)
            progress.done()
        if "size" in parts:
            res["size_wer"] = perf_size.measure_wer(st, prep, progress)


def measure(a, st: Settings, command: str) -> dict:
    res: dict = {"settings": asdict(st), "loadavg_start": os.getloadavg(), "started": time.time(),
                 "busy_start": busy_processes()}
    progress = Progress(n_steps(a.parts, st), "perf benchmark", res, a.out / "perf.partial.json")
    try:
        run(a.parts, st, a.work, a.reuse, progress)
    finally:
        progress.close()
    res["loadavg_end"] = os.getloadavg()
    res["busy_end"] = busy_processes()
    res["wall_s"] = time.time() - res["started"]
    res["command"] = command
    res["notes"] = a.note
    res["meta"] = machine_meta()
    return res


# ---------------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------------

def run_lines(res: dict) -> list[str]:
    """Load, busy processes and settings of the run, under the header."""
    la0, la1 = res["loadavg_start"], res["loadavg_end"]
    return [f"- load average (1/5/15 min) at start {la0[0]:.2f}/{la0[1]:.2f}/{la0[2]:.2f}, at end "
            f"{la1[0]:.2f}/{la1[1]:.2f}/{la1[2]:.2f}; wall time {res['wall_s'] / 60:.1f} min",
            f"- run started {utc_now(res['started'])}; other busy "
            f"processes at start: {'; '.join(res.get('busy_start') or ['none'])}; at end: "
            f"{'; '.join(res.get('busy_end') or ['none'])}",
            f"- settings: {json.dumps(res['settings'])}", ""]


def plots(res: dict, out: Path) -> list[str]:
    plt = pyplot()
    return (perf_runtime.plot(res, out, plt) + perf_cost.plot(res, out, plt) + perf_size.plot(res, out, plt))


def report(res: dict, figs: list[str], findings: list[str]) -> str:
    notes = [f"- note: {n}" for n in res.get("notes", [])] + ([""] if res.get("notes") else [])
    md = [header(TITLE, res["command"], res["meta"])] + run_lines(res) + notes
    md += perf_cost.section(res) + perf_runtime.section(res)
    md += perf_profile.section({**res, "profile_findings": findings}) + perf_size.section(res)
    if figs:
        md += ["## Plots", ""] + [f"![{f}]({f})" for f in figs] + [""]
    return "\n".join(md)


def render(res: dict, out: Path, findings_path: Path | None) -> list[Path]:
    """perf.json, the plots and perf.md in `out` from the results `res`."""
    write_json(out / "perf.json", res)
    figs = plots(res, out)
    if findings_path is None and (out / "perf_findings.md").is_file():   # the hand-written reading of the profile
        findings_path = out / "perf_findings.md"
    findings = ["", findings_path.read_text().strip(), ""] if findings_path and findings_path.is_file() else []
    write_text(out / "perf.md", report(res, figs, findings))
    return [out / "perf.md", out / "perf.json"] + [out / f for f in figs]


PART_KEYS = {"cost": ("cost",), "runtime": ("runtime", "profile", "prepare"), "size": ("size_wer", "prepare")}


def merge_parts(old: dict, new: dict, parts: list[str]) -> dict:
    """A run of some parts on top of an earlier full run: the earlier results of the other parts are kept, and a
    note says which part was measured when, with which command."""
    merged = dict(new)
    for part in PARTS:
        if part not in parts:
            for k in PART_KEYS[part]:
                if k in old and k not in merged:
                    merged[k] = old[k]
    kept = [p for p in PARTS if p not in parts]
    merged["notes"] = new.get("notes", []) + [
        f"parts {', '.join(parts)} measured {utc_now(new['started'])} by `{new['command']}`; parts {', '.join(kept)} "
        f"from the run of {utc_now(old['started'])} (`{old['command']}`)"]
    merged["settings"] = {**old.get("settings", {}), **{k: v for k, v in new["settings"].items()}}
    if "profile_before" in old:                       # the ETDump "before" of issue 14 stays beside every new profile
        merged.setdefault("profile_before", old["profile_before"])
    return merged


def settings_from(a) -> Settings:
    st = Settings.quick() if a.quick else Settings()
    if a.repeats:
        st.repeats = a.repeats
    if a.counts:
        st.counts = tuple(int(x) for x in a.counts.split(","))
    if a.threads:
        st.threads = tuple(int(x) for x in a.threads.split(","))
    if a.no_cosine:
        st.cosine = False
    if a.cosine_max is not None:
        st.cosine_max = a.cosine_max
    if a.cost_threads:
        st.cost_threads = a.cost_threads
    return st


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.perf", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="results folder")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help="schemes, .pte files and rendered clips")
    ap.add_argument("--quick", action="store_true", help="small settings (smoke test)")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    ap.add_argument("--repeats", type=int, default=None, help="timed passes per engine (default 3, quick 1)")
    ap.add_argument("--counts", default=None, help="clip counts of the cost part (default 4,16,64)")
    ap.add_argument("--threads", default=None, help="runtime threads (default 1,2)")
    ap.add_argument("--no-cosine", action="store_true", help="skip the cosine calibration timing")
    ap.add_argument("--cosine-max", type=int, default=None, help="time the cosine search up to this many clips")
    ap.add_argument("--cost-threads", type=int, default=None, help=f"torch threads, cost part (default {COST_THREADS})")
    ap.add_argument("--findings", type=Path, default=None,
                    help="markdown added after the profile (default: <out>/perf_findings.md if present)")
    ap.add_argument("--reuse", action="store_true", help="reuse .pte files already exported for the same scheme")
    ap.add_argument("--note", action="append", default=[], help="a line added to the report (e.g. machine load)")
    ap.add_argument("--from-json", type=Path, default=None, help="only rewrite the report from a perf.json")
    ap.add_argument("--render-only", action="store_true", help="only rewrite the report from <out>/perf.json")
    a = ap.parse_args(argv)
    st = settings_from(a)
    a.parts = [p for p in a.parts.split(",") if p]
    bad = [p for p in a.parts if p not in PARTS]
    if bad:
        ap.error(f"unknown part(s) {bad}; choose from {PARTS}")
    a.out.mkdir(parents=True, exist_ok=True)
    source = a.from_json or (a.out / "perf.json" if a.render_only else None)
    if source:
        res = read_json(source)
        res["notes"] = res.get("notes", []) + [n for n in a.note if n not in res.get("notes", [])]
    else:
        a.work.mkdir(parents=True, exist_ok=True)
        command = "python -m benchmarks.perf " + " ".join(argv if argv is not None else sys.argv[1:])
        res = measure(a, st, command)
        if set(a.parts) != set(PARTS) and (a.out / "perf.json").is_file():
            res = merge_parts(read_json(a.out / "perf.json"), res, a.parts)
    print("wrote " + ", ".join(str(p) for p in render(res, a.out, a.findings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
