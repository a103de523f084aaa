"""What every benchmark study shares: memory probes, stage timing, the child-process runner, a progress bar that
checkpoints, the machine / versions / busy-process report, the size model's reference points, the sample user's
clips, and the results writer (atomic Markdown + JSON; a header naming command, date, machine and versions).

A study is a small module of plain functions. A measurement that needs a fresh interpreter (one per clip count,
engine or calibration strategy, so no process carries another's memory or caches) is a function `fn(spec) -> dict`
of plain JSON data, run by `run_child(fn, spec, threads)` as

    python -m benchmarks.harness --child benchmarks.<module>:<fn> --threads N --spec '<json>'

which sets the torch / OpenMP threads, calls the function and prints its result as the last stdout line.
"""
from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSIONED = ("torch", "transformers", "torchao", "executorch", "ctranslate2")   # named in every report header


# ---------------------------------------------------------------------------------------------------------------------
# Memory probes (Linux: VmHWM can be reset, so one process measures several stages)
# ---------------------------------------------------------------------------------------------------------------------

def proc_status_mb(key: str) -> float | None:
    """A `/proc/self/status` field (VmRSS, VmHWM, ...) in MiB, or None where there is no /proc."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def lifetime_peak_rss_mb() -> float:
    """The process's peak RSS since it started (getrusage; never reset)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    rss = proc_status_mb("VmRSS")
    return float("nan") if rss is None else rss


def peak_rss_mb() -> float:
    """Peak RSS since the last `reset_peak()` (VmHWM), else since the process started."""
    peak = proc_status_mb("VmHWM")
    return lifetime_peak_rss_mb() if peak is None else peak


def reset_peak() -> bool:
    """Reset VmHWM (the process's peak RSS) to the current RSS (Linux: write 5 to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Stage:
    """with Stage() as s: ... -> s.seconds, s.peak_mb (peak RSS during the block), s.rss_before_mb.

    Every stage starts from a trimmed heap (what an earlier stage freed goes back to the OS first, see
    `myqasr.stats.release_freed_memory`), and its peak is its own (VmHWM reset at the start)."""

    def __enter__(self):
        from myqasr.stats import release_freed_memory
        gc.collect()
        release_freed_memory()
        self.rss_before_mb = rss_mb()
        self.peak_reset = reset_peak()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self.peak_mb = peak_rss_mb()
        return False

    def row(self, prefix: str) -> dict:
        return {f"{prefix}_s": self.seconds, f"{prefix}_peak_mb": self.peak_mb,
                f"{prefix}_growth_mb": self.peak_mb - self.rss_before_mb}


# ---------------------------------------------------------------------------------------------------------------------
# Child processes
# ---------------------------------------------------------------------------------------------------------------------

def function_path(fn) -> str:
    """'benchmarks.<module>:<name>' of a module-level function (also when its module runs as `python -m`)."""
    module = fn.__module__
    if module == "__main__":
        module = sys.modules["__main__"].__spec__.name
    return f"{module}:{fn.__name__}"


def run_child(fn, spec: dict, threads: int, timeout: float | None = None, code_root: Path | None = None) -> dict:
    """fn(spec) in a fresh interpreter with `threads` torch / OpenMP threads. Returns its dict plus `process_s`;
    a failure (exit status, signal, timeout) comes back as {"error": ..., "task": fn's name}.
    `code_root`: another checkout whose `myqasr` / `myqasr_export` the child imports (fn itself comes from here),
    to measure an earlier version of the SDK in the same run."""
    task = fn.__name__
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    if code_root is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(code_root / "sdk"), str(code_root / "export"), str(ROOT)])
    cmd = [sys.executable, "-m", "benchmarks.harness", "--child", function_path(fn), "--threads", str(threads),
           "--spec", json.dumps(spec)]
    t = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "task": task}
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode < 0:
        return {"error": f"stopped by signal {-r.returncode}", "task": task}
    if r.returncode != 0 or not lines:
        err = (r.stderr or r.stdout).strip().splitlines()
        return {"error": " | ".join(err[-3:])[-600:] if err else f"exit {r.returncode}", "task": task}
    out = json.loads(lines[-1])
    out["process_s"] = time.perf_counter() - t
    return out


def child_main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.harness", description="run one benchmark child")
    ap.add_argument("--child", required=True, help="benchmarks.<module>:<function>")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--spec", required=True, help="the function's argument, a JSON object")
    a = ap.parse_args(argv)
    import torch
    torch.set_num_threads(a.threads)
    module, name = a.child.split(":")
    fn = getattr(importlib.import_module(module), name)
    print(json.dumps(fn(json.loads(a.spec)), default=str))
    return 0


# ---------------------------------------------------------------------------------------------------------------------
# Machine, versions, load
# ---------------------------------------------------------------------------------------------------------------------

def utc_now(seconds: float | None = None) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), platform.machine())
    except OSError:
        return platform.processor() or platform.machine()


def package_versions(names=VERSIONED) -> str:
    out = []
    for n in names:
        try:
            out.append(f"{n} {metadata.version(n)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(out)


def first_output_line(cmd: list[str]) -> str:
    """The first line a tool prints (e.g. its version), or "unknown"."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def git_commit() -> str:
    return first_output_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])


def machine_meta(threads: int | None = None) -> dict:
    """What a report's header says about the run: date, machine, software (kept in the JSON, rendered by header)."""
    return {"date": utc_now(),
            "machine": f"{cpu_name()}, {os.cpu_count()} cores" + (f", torch threads {threads}" if threads else ""),
            "software": f"python {platform.python_version()}; " + package_versions()}


def busy_processes(min_cpu: float = 20.0) -> list[str]:
    """Other processes using the CPU right now (`ps`), e.g. other benchmarks sharing the machine."""
    try:
        r = subprocess.run(["ps", "-eo", "pid,pcpu,rss,args", "--sort=-pcpu"], capture_output=True, text=True)
    except OSError:
        return []
    out = []
    for line in r.stdout.splitlines()[1:]:
        parts = line.split(None, 3)
        if len(parts) == 4 and float(parts[1]) >= min_cpu and int(parts[0]) != os.getpid():
            out.append(f"{parts[1]}% {' '.join(parts[3].split()[:4])[:90]}")
    return out


class Progress:
    """A run's progress bar. Every finished step also saves the results so far to `partial` (JSON), so a run that
    is cut short keeps what it measured."""

    def __init__(self, total: int, desc: str, results: dict, partial: Path):
        from tqdm import tqdm
        self.bar = tqdm(total=total, desc=desc, unit="step")
        self.results, self.partial = results, partial

    def doing(self, what: str) -> None:
        self.bar.set_postfix_str(what)

    def done(self, steps: int = 1) -> None:
        self.bar.update(steps)
        try:
            write_json(self.partial, {**self.results, "command": "partial"})
        except (OSError, TypeError, ValueError):
            pass

    def log(self, message: str) -> None:
        self.bar.write(message)

    def close(self) -> None:
        self.bar.close()


# ---------------------------------------------------------------------------------------------------------------------
# Model facts shared by the studies
# ---------------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SizeModel:
    """The phone (XNNPACK) ladder and size model of one loaded model, as `allocate` and the uniform baselines use it."""
    layers: list
    ladder: dict
    profile: object
    rest: int

    def bytes(self, formats: dict) -> int:
        from myqasr.size import model_bytes
        return model_bytes(self.layers, formats, self.rest, self.profile)


def size_model(loaded) -> SizeModel:
    from myqasr.plan import model_parts
    layers, ladder, rest, profile = model_parts(loaded)
    return SizeModel(layers, ladder, profile, rest)


def reference_bytes(loaded, config=None) -> dict:
    """Predicted bytes on the phone ladder: {"fp32": largest, "int8": all-int8, "int4": smallest (convs int8)}
    (for the config's target: one `.pte` by default, `.pte` + `.ptd` for asr-runner)."""
    from myqasr.plan import PlanConfig, reachable_bytes, uniform_bytes
    config = config or PlanConfig()
    smallest, largest = reachable_bytes(loaded, config)
    return {"fp32": largest, "int8": uniform_bytes(loaded, 1, config), "int4": smallest}


def budget_ladder(high: int, low: int, k: int) -> list[int]:
    """k budgets (bytes) evenly spaced from `high` down to `low` (both included)."""
    if k == 1:
        return [high]
    return [round(high - (high - low) * i / (k - 1)) for i in range(k)]


def sample_user_clips(split: str, n: int | None = None, with_text: bool = False):
    """The bundled sample user's "calib" or "test" clips (the first n)."""
    from myqasr.audio import SAMPLE_USER_DIR, load_clips
    return load_clips(SAMPLE_USER_DIR / split, with_text=with_text)[:n]


# ---------------------------------------------------------------------------------------------------------------------
# Results: Markdown, JSON, plots
# ---------------------------------------------------------------------------------------------------------------------

def header(title: str, command: str, meta: dict) -> str:
    """The first lines of every report: title, command, date, machine, versions (`meta` from machine_meta)."""
    return "\n".join([f"# {title}", "", f"- command: `{command}`", f"- date: {meta['date']}",
                      f"- machine: {meta['machine']}", f"- {meta['software']}", ""])


def table(headers: list[str], rows: list[list]) -> str:
    def fmt(x):
        return f"{x:.3f}" if isinstance(x, float) else str(x)
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(fmt(x) for x in r) + " |" for r in rows]
    return "\n".join(out)


def fmt_or_dash(x, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def write_text(path, text: str) -> None:
    """Write through a temporary file and a rename, so a report is never half written."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json(path, data: dict) -> None:
    write_text(path, json.dumps(data, indent=1, default=str))


def read_json(path) -> dict:
    return json.loads(Path(path).read_text())


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path: Path, dpi: int) -> str:
    """Lay out, save and close `fig`; returns the file name (for the report's image links)."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return Path(path).name


if __name__ == "__main__":
    sys.exit(child_main())
