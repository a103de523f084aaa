"""One entry point for the benchmark suite.

    python -m benchmarks all [--out benchmarks/results] [--quick]     # perf (~30 min, 2 cores)
    python -m benchmarks all --full                                   # + budgets (~10 min) + the 10-user panel (~80 min)
    python -m benchmarks all --render-only [--out DIR]                # every report + plot again, from its JSON
    python -m benchmarks perf [ARGS...]                               # one benchmark (its own arguments)
    python -m benchmarks --list

Each benchmark runs in its own process (`python -m benchmarks.<name>`), so each is also runnable alone. `all` shows
one progress bar over the benchmarks, keeps going when one fails, and says which failed at the end. With
`--quick`, results go to a scratch folder (default /tmp/myqasr-bench-quick) so the committed results stay as they
are. The personalization panel (WER of 11 methods x 4 budgets on 10 voice users, every quantized model transcribing
every user's test clips) is the one long benchmark: `all` runs it only when asked.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

# name -> (description, arguments added by `all`, arguments added by `all --quick`)
BENCHMARKS = {
    "perf": ("personalization cost, runtime against peers, size truth", [], ["--quick"]),
    "budgets": ("`myqasr personalize` at the all-int8 size, midway and the all-int4 size", [], ["--quick"]),
    "personalization": ("myQASR on a panel of synthetic voices, ladder of budgets (long)", [], ["--quick"]),
    "verification": ("verification of correct vs deliberately broken exports, 10 users x 8 budgets (long)", [],
                     ["--quick"]),
    "fleet": ("`myqasr fleet` on Ray (1 and N workers) vs sequential `personalize`", [], ["--users", "1"]),
    "personalize_job": ("the personalize job's stage times (statistics, plan, export, verification)", [], []),
    "activation_ranges": ("static activation ranges: own min-max vs a margin vs another user's (after the panel)",
                          [], ["--users", "flite_slt", "--margins", "1.5"]),
}
DEFAULT_ALL = ("perf",)
ROOT = Path(__file__).resolve().parent.parent


def run_one(name: str, args: list[str]) -> int:
    return subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *args], cwd=ROOT).returncode


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "--list"):
        print(__doc__.strip().split("\n\n")[0] + "\n")
        for name, (desc, _, _) in BENCHMARKS.items():
            print(f"  {name:16s} {desc}")
        print("  all              perf (--full: perf, budgets, personalization)")
        return 0
    name, rest = argv[0], argv[1:]
    if name in BENCHMARKS:
        return run_one(name, rest)
    if name != "all":
        print(f"unknown benchmark {name!r}; choose from all, {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    ap = argparse.ArgumentParser(prog="python -m benchmarks all")
    ap.add_argument("--out", default=None, help="results folder (default benchmarks/results; quick: a scratch dir)")
    ap.add_argument("--quick", action="store_true", help="small settings for every benchmark that has them")
    ap.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    ap.add_argument("--full", action="store_true", help="also `myqasr personalize` at three budgets and the panel")
    ap.add_argument("--render-only", action="store_true", help="measure nothing: rewrite every report from its JSON")
    a = ap.parse_args(rest)
    out = a.out or ("/tmp/myqasr-bench-quick" if a.quick else "benchmarks/results")
    Path(out).mkdir(parents=True, exist_ok=True)
    names = a.only.split(",") if a.only else (list(BENCHMARKS) if a.full or a.render_only else list(DEFAULT_ALL))
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        ap.error(f"unknown benchmark(s) {unknown}")
    from tqdm import tqdm

    failed, times = [], {}
    with tqdm(total=len(names), desc="benchmarks", unit="benchmark", position=0) as bar:
        for n in names:
            bar.set_postfix_str(n)
            _, extra, quick = BENCHMARKS[n]
            t = time.perf_counter()
            args = ["--render-only"] if a.render_only else [*extra, *(quick if a.quick else [])]
            rc = run_one(n, ["--out", out, *args])
            times[n] = time.perf_counter() - t
            if rc:
                failed.append(n)
                bar.write(f"benchmarks.{n} failed (exit {rc})")
            bar.update()
    for n, s in times.items():
        print(f"{n:16s} {s / 60:6.1f} min  {'FAILED' if n in failed else 'ok'}")
    print(f"results in {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
