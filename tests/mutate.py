"""Mutation check (issue 16): plant deliberate faults in a copy of the sources and run the tests that must catch them.

    python tests/mutate.py                 # every fault; exit status 1 if any fault is missed
    python tests/mutate.py --list          # the faults and the tests each one runs
    python tests/mutate.py --only gate-ops median-2x

For each fault the script copies sdk/, export/, tests/ and benchmarks/ into a temp dir, replaces one exact piece of
source text (the patch must match exactly once, so a refactor that moves the code makes the script say so instead of
silently testing nothing), and runs pytest on the selected tests with the copy first on PYTHONPATH. A fault is
CAUGHT when those tests fail, MISSED when they pass. First, once per selection, the same tests run on the unmodified
copy and must pass: otherwise "caught" would mean nothing. Test files a fault lists that do not exist yet are reported
and skipped.

Not collected by pytest (no test_ prefix). It loads models and lowers programs: 17 min on 2 cores (measured; the
baselines take half of it, test_verify.py's alone 5 min; `--no-baseline` skips them).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("sdk", "export", "tests", "benchmarks")        # test_verify renders voices with benchmarks.voices


@dataclass
class Fault:
    name: str
    what: str
    path: str                       # relative to the repository root
    old: str                        # exact source text, must occur once
    new: str
    tests: list[str] = field(default_factory=list)   # pytest arguments: files, node ids, "-k" + an expression
                                                      # (a -k applies to every file of the run: use node ids then)

    def test_files(self) -> list[str]:
        return [t.split("::")[0] for t in self.tests if t.endswith(".py") or "::" in t]


ALLOCATE = "sdk/myqasr/allocate.py"
LOWER = "export/myqasr_export/lower.py"
VERIFY = "export/myqasr_export/verify.py"
STATS = "sdk/myqasr/stats.py"
RUNGS = "    rungs = {l.name: layer_ladder(l, ladder) for l in layers}\n    level = "

FAULTS = [
    Fault("smallest-model", "the allocator returns the smallest model", ALLOCATE, RUNGS,
          "    return uniform(layers, ladder, max(len(layer_ladder(l, ladder)) for l in layers) - 1)\n" + RUNGS,
          ["tests/test_allocate.py"]),
    Fault("budget-85pct", "the allocator plans for 85 % of the budget it is given", ALLOCATE, RUNGS,
          "    budget_bytes = max(smallest, int(0.85 * budget_bytes))\n" + RUNGS,
          ["tests/test_allocate.py"]),
    Fault("knapsack-no-fill", "the knapsack takes the least cost anywhere under the budget (dead zones return)",
          ALLOCATE, "    if lo <= n_bins and np.isfinite(window).any():\n", "    if False:\n",
          ["tests/test_knapsack.py::test_knapsack_is_exact_on_small_problems",
           "tests/test_knapsack.py::test_plan_fills_fifty_budgets_from_all_int4_to_all_int8"]),
    Fault("knapsack-ignores-costs", "the knapsack ignores the user's costs", ALLOCATE,
          "        cost = rung_costs(layer, rungs[layer.name], costs)\n",
          "        cost = [0.0] * len(rungs[layer.name])\n",
          ["tests/test_knapsack.py::test_knapsack_is_exact_on_small_problems",
           "tests/test_knapsack.py::test_knapsack_trades_one_expensive_table_for_many_cheap_linears_only_when_cheaper"]),
    Fault("verify-always-passes", "verification always passes", VERIFY,
          "    def ok(self) -> bool:\n        return not self.failed_checks()\n",
          "    def ok(self) -> bool:\n        return True\n",
          ["tests/test_personalize.py::test_verification_failure_writes_nothing_under_the_requested_name",
           "tests/test_personalize.py::test_keep_failed_from_the_cli_keeps_the_pair_under_the_failed_name",
           "tests/test_verify.py"]),
    Fault("gate-ops", "the delegation gate never fires: no operator is gated", LOWER,
          'GATED_OPS = ("linear", "addmm", "convolution", "quantize_per", "dequantize_per", "choose_qparams", '
          '"dequantize_affine",\n          "quantize_affine", "_weight_int")\n',
          "GATED_OPS = ()\n",
          ["tests/test_export.py", "-k", "gate"]),
    Fault("gate-check", "the delegation gate never fires: the check always passes", LOWER,
          "def check_delegation(report: GateReport) -> None:\n    if not report.ok:\n",
          "def check_delegation(report: GateReport) -> None:\n    if False:\n",
          ["tests/test_export.py", "-k", "gate"]),
    Fault("median-2x", "the streamed median is off by 2x", STATS,
          '            "median": self.quantile(0.5),\n',
          '            "median": 2 * self.quantile(0.5),\n',
          ["tests/test_stats.py"]),
    Fault("scales-2x", "weight scales doubled in the lowering", LOWER,
          "    return quantize_weight(w, plan.format, scale), scale\n",
          "    return quantize_weight(w, plan.format, scale), 2 * scale\n",
          ["tests/test_export.py", "-k", "parity or wav2vec2"]),
]


def copy_tree(dst: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.pyc")
    for name in COPIED:
        shutil.copytree(ROOT / name, dst / name, ignore=ignore)


def present_tests(fault: Fault) -> tuple[list[str], list[str]]:
    """(pytest arguments without the test files that do not exist yet, those missing files)."""
    args, missing = [], []
    for t in fault.tests:
        if (t.endswith(".py") or "::" in t) and not (ROOT / t.split("::")[0]).is_file():
            missing.append(t)
            continue
        args.append(t)
    return args, missing


def run_pytest(copy: Path, args: list[str], stop_first: bool, log: Path, timeout: int) -> tuple[int, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(copy / "sdk"), str(copy / "export"),
                                                         os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *(["-x"] if stop_first else []), *args]
    t = time.perf_counter()
    with open(log, "w") as f:
        try:
            rc = subprocess.run(cmd, cwd=copy, env=env, stdout=f, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = -1
    return rc, time.perf_counter() - t


def check_imports_from(copy: Path) -> None:
    """The copy, not the editable install, must be what the tests import."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(copy / "sdk"), str(copy / "export")])}
    out = subprocess.run([sys.executable, "-c", "import myqasr, myqasr_export; print(myqasr.__file__); "
                          "print(myqasr_export.__file__)"], cwd=copy, env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    if not all(Path(p).resolve().is_relative_to(copy.resolve()) for p in out):
        raise SystemExit(f"mutate: the tests would import {out}, not the patched copy in {copy}")


def last_line(log: Path) -> str:
    lines = [l for l in log.read_text(errors="replace").splitlines() if l.strip()]
    return lines[-1] if lines else ""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="print the faults and their tests, run nothing")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="run these faults only")
    ap.add_argument("--no-baseline", action="store_true", help="skip the runs on the unmodified copy")
    ap.add_argument("--keep", action="store_true", help="keep the temp copies and the pytest logs")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per pytest run")
    a = ap.parse_args(argv)

    faults = [f for f in FAULTS if not a.only or f.name in a.only]
    unknown = set(a.only or ()) - {f.name for f in FAULTS}
    if unknown:
        ap.error(f"unknown fault(s) {sorted(unknown)}; choose from {[f.name for f in FAULTS]}")
    if a.list:
        for f in faults:
            args, missing = present_tests(f)
            print(f"{f.name:<22} {f.what}\n{'':<22} {f.path}; tests: {' '.join(f.tests)}"
                  + (f"  (not yet present: {', '.join(missing)})" if missing else ""))
        return 0

    work = Path(tempfile.mkdtemp(prefix="myqasr-mutate-"))
    clean = work / "clean"
    copy_tree(clean)
    check_imports_from(clean)
    results, ok = [], True
    baselines: dict[tuple, tuple[int, float]] = {}
    print(f"mutation check: {len(faults)} faults, work dir {work}", flush=True)
    for f in faults:
        args, missing = present_tests(f)
        if missing:
            print(f"  {f.name}: not yet present, skipped: {', '.join(missing)}", flush=True)
        if not args or not any(t.endswith(".py") or "::" in t for t in args):
            results.append((f, "NO TESTS", 0.0, ""))
            ok = False
            continue
        key = tuple(args)
        if not a.no_baseline and key not in baselines:
            log = work / f"baseline-{len(baselines)}.log"
            baselines[key] = run_pytest(clean, args, False, log, a.timeout)
            print(f"  baseline {' '.join(args)}: rc {baselines[key][0]} in {baselines[key][1]:.0f} s "
                  f"({last_line(log)})", flush=True)
            if baselines[key][0] != 0:
                results.append((f, "BASELINE FAILS", baselines[key][1], str(log)))
                ok = False
                continue
        mutant = work / f.name
        copy_tree(mutant)
        src = mutant / f.path
        text = src.read_text()
        if text.count(f.old) != 1:
            results.append((f, "PATCH DOES NOT APPLY", 0.0, f"{f.path}: the text occurs {text.count(f.old)} times"))
            ok = False
            continue
        src.write_text(text.replace(f.old, f.new))
        log = work / f"{f.name}.log"
        rc, seconds = run_pytest(mutant, args, True, log, a.timeout)
        verdict = {0: "MISSED", 1: "caught"}.get(rc, f"ERROR (pytest rc {rc})")
        ok &= verdict == "caught"
        results.append((f, verdict, seconds, last_line(log)))
        print(f"  {f.name}: {verdict} in {seconds:.0f} s ({last_line(log)})", flush=True)
        if not a.keep:
            shutil.rmtree(mutant, ignore_errors=True)

    print("\n| fault | what | tests run | result | s |\n|---|---|---|---|---|")
    for f, verdict, seconds, _ in results:
        print(f"| {f.name} | {f.what} | {' '.join(present_tests(f)[0])} | {verdict} | {seconds:.0f} |")
    print(f"\n{sum(r[1] == 'caught' for r in results)} of {len(results)} faults caught")
    if a.keep:
        print(f"logs and copies kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
