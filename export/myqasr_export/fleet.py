"""Many users x budgets -> verified `.pte` files, on Ray.

    myqasr fleet --users USERS/ --budget-mb 40 30 --out OUT/ [--workers 2] [--threads-per-worker 1]
    myqasr fleet --users users.jsonl --budget-mb 40 --out OUT/ --address ray://head:10001     # an existing cluster

Input: a folder with one sub-folder per user, holding `stats.safetensors` (the statistics file a phone sends) and/or
the user's clips (a `clips/` folder, a `clips.jsonl` manifest, or audio files directly in the user's folder); or a
`.jsonl` manifest of `{"user": name, "stats": path, "clips": path}` rows (paths relative to the manifest). With clips,
the statistics are computed from them (or read from the statistics file when it belongs to those clips) and
verification runs on the user's own clips; with a statistics file alone, verification runs on the bundled sample
user's clips (verification checks the export against the simulated model, which any speech does).

Output, for each user x budget: `<out>/<user>/<budget>MB/` with `model.pte`, `model.vocab.json`, `model.scheme.json`
(+ `model.scheme.scales.safetensors`), `model.report.md` and `result.json`; `<out>/results.jsonl` has one line per
user x budget (user, budget, bytes, verification, stage times, error) and `<out>/summary.json` the run's totals.

The engine is Ray: without `address`, Ray starts on this machine inside the command and stops with it. Each worker is
a Ray actor that reserves `threads_per_worker` CPUs and `memory_gb_per_worker` of memory, sets torch to that many
threads, and loads the full-precision model once; a user's job (all of its budgets) runs on one worker, so the clips,
the statistics pass and the scheme-independent setup are shared by the user's budgets. Faults: a failed job (bad
statistics file, verification failure, a killed worker) is one line in the results, and the batch goes on; a killed
worker is replaced. A job is done when `<budget>MB/result.json` says so for the same inputs (statistics / clips bytes,
model, budget, planning options): a rerun skips it and retries everything else. A budget folder appears complete or
not at all: the job writes into `<out>/.fleet/staging/` and renames the finished folder into the user's folder.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path

from myqasr.errors import MyqasrError
from myqasr.fileio import write_atomic

STATS_FILE = "stats.safetensors"
RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
RESULT_FILE = "result.json"
MODEL_FILE = "model.pte"
WORK_DIR = ".fleet"                          # <out>/.fleet/{staging,running}: the batch's own scratch space
FLEET_VERSION = 1                            # part of every job key: a new layout redoes the jobs
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
STAGES = ("load_s", "statistics_s", "plan_s", "export_s", "verify_s", "job_s")


@dataclass
class UserInput:
    """One user's inputs: a statistics file and/or clips (paths as given), and what is wrong with them, if known."""
    user: str
    stats: str | None = None
    clips: str | None = None
    problem: str | None = None


@dataclass
class UserJob:
    """What a worker does for one user: the budgets still to do (each with its job key) and where to write."""
    user: UserInput
    budgets: list[tuple[float, str]]
    out: str
    config: dict
    threads: int


@dataclass
class FleetResult:
    records: list[dict]
    summary: dict
    results_path: str
    summary_path: str

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.records if r["status"] == "failed"]


# --------------------------------------------------------------------------------------------------- users and keys

def check_user_name(name, where: str) -> str:
    if not isinstance(name, str) or not USER_NAME.match(name):
        raise MyqasrError(f"{where}: user name {name!r} must be letters, digits, '.', '_', '-', '@' or '+' "
                          "(not starting with a dot; it names the user's output folder)")
    return name


def user_from_folder(folder: Path) -> UserInput:
    """A user's folder -> its statistics file and clips (a clips/ folder, clips.jsonl, or audio files in it)."""
    from myqasr.audio import AUDIO_EXTENSIONS

    stats = folder / STATS_FILE
    clips = None
    if (folder / "clips").is_dir():
        clips = folder / "clips"
    elif (folder / "clips.jsonl").is_file():
        clips = folder / "clips.jsonl"
    elif any(p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".") for p in folder.iterdir()):
        clips = folder
    user = UserInput(folder.name, str(stats) if stats.exists() else None, str(clips) if clips else None)
    if user.stats is None and user.clips is None:
        user.problem = f"{folder}: no statistics file ({STATS_FILE}) and no clips (clips/, clips.jsonl or audio files)"
    return user


def users_from_manifest(manifest: Path) -> list[UserInput]:
    users = []
    try:
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        raise MyqasrError(f"{manifest}: cannot read the users manifest (expected UTF-8 JSON lines)") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{manifest}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise MyqasrError(f"{where}: not valid JSON") from None
        if not isinstance(row, dict):
            raise MyqasrError(f'{where}: expected an object {{"user": ..., "stats": ..., "clips": ...}}')
        name = check_user_name(row.get("user"), where)
        paths = {}
        for key in ("stats", "clips"):
            value = row.get(key)
            if value is not None and (not isinstance(value, str) or not value):
                raise MyqasrError(f'{where}: "{key}" must be a path string')
            paths[key] = str(manifest.parent / value) if value else None
        user = UserInput(name, paths["stats"], paths["clips"])
        if user.stats is None and user.clips is None:
            user.problem = f'{where}: user {name} has neither "stats" nor "clips"'
        users.append(user)
    return users


def find_users(users) -> list[UserInput]:
    """The users of a folder (one sub-folder each, sorted by name; dot-folders skipped) or of a `.jsonl` manifest."""
    src = Path(users)
    if src.is_dir():
        found = [user_from_folder(d) for d in sorted(src.iterdir()) if d.is_dir() and not d.name.startswith(".")]
        for u in found:
            check_user_name(u.user, str(src / u.user))
    elif src.is_file() and src.suffix.lower() == ".jsonl":
        found = users_from_manifest(src)
    elif src.exists():
        raise MyqasrError(f"{src}: expected a folder of users or a .jsonl manifest")
    else:
        raise MyqasrError(f"{src}: no such file or directory")
    if not found:
        raise MyqasrError(f"{src}: no users found")
    seen = Counter(u.user for u in found)
    twice = [n for n, k in seen.items() if k > 1]
    if twice:
        raise MyqasrError(f"{src}: user {twice[0]!r} is listed more than once")
    return found


def budget_folder(budget_mb: float) -> str:
    return f"{budget_mb:g}MB"


def input_files(user: UserInput) -> list[Path]:
    """The files a user's result depends on: the statistics file and the clip files (and a clips manifest)."""
    files = []
    if user.stats and Path(user.stats).is_file():
        files.append(Path(user.stats))
    if user.clips:
        c = Path(user.clips)
        if c.is_dir():
            from myqasr.audio import AUDIO_EXTENSIONS
            files += sorted(p for p in c.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
                            and not p.name.startswith("."))
        elif c.is_file():
            files.append(c)
            if c.suffix.lower() == ".jsonl":
                from myqasr.audio import read_manifest
                try:
                    files += [p for p, _ in read_manifest(c) if p.is_file()]
                except MyqasrError:
                    pass                              # the job reports the bad manifest
    return files


def inputs_sha256(user: UserInput) -> str:
    """sha256 over the names and bytes of the user's input files: the same inputs give the same key."""
    h = hashlib.sha256()
    for kind, path in (("stats", user.stats), ("clips", user.clips)):
        h.update(f"{kind}={'-' if path is None else 'given'};".encode())
    for p in input_files(user):
        h.update(p.name.encode() + b"\0")
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def job_key(inputs: str, budget_mb: float, model: str | None, config: dict) -> str:
    """What makes a job's output what it is: inputs, budget, model, planning options, this layout's version."""
    spec = {"inputs": inputs, "budget_mb": float(budget_mb), "model": model, "config": config,
            "fleet_version": FLEET_VERSION}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def read_done(out: Path, user: str, budget_mb: float, key: str) -> dict | None:
    """The earlier result of this job if it is complete and for the same key, else None."""
    folder = out / user / budget_folder(budget_mb)
    try:
        record = json.loads((folder / RESULT_FILE).read_text())
    except (OSError, ValueError):
        return None
    if record.get("status") == "ok" and record.get("key") == key and (folder / MODEL_FILE).is_file():
        return record
    return None


# --------------------------------------------------------------------------------------------------- the worker side

def one_line(e: BaseException) -> str:
    """A job's error as one line: a MyqasrError's own message, else the exception type and message."""
    text = str(e) if isinstance(e, MyqasrError) else f"{type(e).__name__}: {e}"
    return " ".join(text.split())[:500]


def failure_reason(stage: str, error: str) -> str:
    """The summary's failure category of a job that failed at `stage` with `error`."""
    if stage == "personalize":
        if "verification failed" in error:
            return "verification failed"
        if "exceeds the budget" in error or "budget-mb" in error:
            return "budget"
        return "plan/export"
    return {"inputs": "bad input", "statistics": "bad statistics", "worker": "worker died"}.get(stage, stage)


def failed_record(user: str, budget_mb: float, key: str, stage: str, error: str, **extra) -> dict:
    return {"user": user, "budget_mb": budget_mb, "status": "failed", "stage": stage,
            "reason": failure_reason(stage, error), "error": error, "key": key, **extra}


def move_into_place(staging: Path, final: Path) -> None:
    """Rename a finished budget folder into the user's folder, replacing an older one (kept until the rename)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    try:
        os.replace(staging, final)
    except BaseException:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def point_vocab_at(vocab_path: Path, scheme_path: Path) -> None:
    """The vocabulary file names its scheme: the final path, not the staging one (so reruns write the same bytes)."""
    vocab = json.loads(vocab_path.read_text(encoding="utf-8"))
    vocab["scheme"] = str(scheme_path)
    write_atomic(vocab_path, (json.dumps(vocab, ensure_ascii=False) + "\n").encode("utf-8"))


class FleetWorker:
    """A Ray actor's state: the full-precision model (loaded once) and the fallback verification clips.

    `run_user` does one user's budgets and returns one record per budget; it never raises for a user's fault."""

    def __init__(self, model: str | None, threads: int):
        from myqasr.cli import quiet_libraries, set_threads
        from myqasr.models import load_model

        quiet_libraries()
        set_threads(threads)
        t = time.perf_counter()
        self.loaded = load_model(model)
        self.load_s = time.perf_counter() - t
        self.threads = threads
        self.sample_clips = None

    def ready(self) -> dict:
        import torch
        return {"pid": os.getpid(), "host": socket.gethostname(), "model_load_s": self.load_s,
                "torch_threads": torch.get_num_threads()}

    def verification_clips(self):
        """The bundled sample user's clips: what a statistics-only user is verified on (loaded once)."""
        from myqasr.audio import SAMPLE_USER_DIR, load_clips
        from myqasr_export.verify import VERIFY_CLIPS

        if self.sample_clips is None:
            self.sample_clips = load_clips(SAMPLE_USER_DIR / "calib")[:VERIFY_CLIPS]
        return self.sample_clips

    def user_inputs(self, user: UserInput, out: Path):
        """(clips, statistics, statistics_s, source) of a user; raises MyqasrError with the stage in `.stage`."""
        from myqasr.audio import load_clips
        from myqasr.plan import statistics_for
        from myqasr.stats import load_statistics

        stage = "inputs"
        try:
            clips = load_clips(user.clips) if user.clips else None
            stage = "statistics"
            t = time.perf_counter()
            if clips is None:
                stats = load_statistics(user.stats)
                if stats.weights_sha256 and stats.weights_sha256 != self.loaded.weights_sha256:
                    raise MyqasrError(f"{user.stats}: computed on other weights than model "
                                      f"{self.loaded.model_id!r}")
                return self.verification_clips(), stats, time.perf_counter() - t, "statistics file"
            if user.stats:                           # the user's own file must belong to these clips
                return clips, statistics_for(self.loaded, clips, user.stats, progress=False), \
                    time.perf_counter() - t, "clips"
            kept = out / user.user / STATS_FILE      # computed once and kept for reruns; redone if the clips changed
            kept.parent.mkdir(parents=True, exist_ok=True)
            try:
                stats = statistics_for(self.loaded, clips, str(kept), progress=False)
            except MyqasrError:
                kept.unlink(missing_ok=True)
                stats = statistics_for(self.loaded, clips, str(kept), progress=False)
            return clips, stats, time.perf_counter() - t, "clips"
        except MyqasrError as e:
            e.stage = stage
            raise

    def run_user(self, job: UserJob) -> list[dict]:
        import io

        from myqasr.config import PlanConfig

        out = Path(job.out)
        running = out / WORK_DIR / "running" / f"{job.user.user}.json"
        running.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(running, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                          "started": time.time()}).encode())
        records = []
        try:
            t = time.perf_counter()
            common = {"pid": os.getpid(), "host": socket.gethostname()}
            try:
                config = PlanConfig(**job.config)
                if not job.user.clips:           # only a statistics file: the clips at hand are the verification
                    if config.calibration.value == "auto":                   # set, not this user's: no guard
                        config = dataclasses.replace(config, calibration="minmax")
                    elif config.calibration.value != "minmax":
                        raise MyqasrError(f"calibration: {config.calibration.value} needs the user's clips; user "
                                          f"{job.user.user} has only a statistics file")
                with contextlib.redirect_stdout(io.StringIO()):
                    clips, stats, stats_s, source = self.user_inputs(job.user, out)
            except MyqasrError as e:
                return [failed_record(job.user.user, b, k, getattr(e, "stage", "inputs"), one_line(e), **common)
                        for b, k in job.budgets]
            load_s = time.perf_counter() - t - stats_s
            user_facts = {**common, "source": source, "load_s": load_s, "statistics_s": stats_s,
                          "statistics_shared_by": len(job.budgets)}
            for budget_mb, key in job.budgets:
                records.append(self.run_budget(job, out, clips, stats, config, budget_mb, key, user_facts))
            return records
        finally:
            running.unlink(missing_ok=True)

    def run_budget(self, job: UserJob, out: Path, clips, stats, config, budget_mb: float, key: str,
                   user_facts: dict) -> dict:
        from myqasr_export.personalize import personalize

        user = job.user.user
        final = out / user / budget_folder(budget_mb)
        staging = out / WORK_DIR / "staging" / f"{user}.{budget_folder(budget_mb)}.{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        t = time.perf_counter()
        try:
            import io
            with contextlib.redirect_stdout(io.StringIO()):
                result = personalize(self.loaded, clips, budget_mb, staging / MODEL_FILE, config=config,
                                     stats=stats, threads=job.threads, progress=False)
            point_vocab_at(staging / "model.vocab.json", final / "model.scheme.json")
            record = {"user": user, "budget_mb": budget_mb, "status": "ok", "stage": None, "reason": None,
                      "error": None, "key": key, "bytes": result.real_bytes, "predicted_bytes":
                      result.predicted_bytes, "budget_bytes": result.budget_bytes, "exports": result.tries,
                      "verify": "PASS" if result.verify.ok else "FAIL", "verify_summary": result.verify.summary(),
                      "folder": str(final), "job_s": time.perf_counter() - t,
                      **{k: v for k, v in result.timings.items() if k != "statistics_s"}, **user_facts}
            write_atomic(staging / RESULT_FILE, (json.dumps(record, indent=1) + "\n").encode())
            move_into_place(staging, final)
            return record
        except Exception as e:       # noqa: BLE001  (one user's failure, whatever it is, must not stop the batch)
            return failed_record(user, budget_mb, key, "personalize", one_line(e), job_s=time.perf_counter() - t,
                                 **user_facts)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


# --------------------------------------------------------------------------------------------------- the driver side

def start_ray(address: str | None, workers: int, threads_per_worker: int, memory_gb_per_worker: float,
              object_store_mb: int):
    """Join the cluster at `address`, or start Ray on this machine sized to the workers. Returns the ray module."""
    try:
        import ray
    except ImportError:
        raise MyqasrError("fleet: needs Ray (pip install 'myqasr[fleet]' or pip install ray)") from None
    import logging
    logging.getLogger("ray").setLevel(logging.ERROR)      # Ray's notices (e.g. token auth on) stay off the terminal
    kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level="error", configure_logging=False)
    if address:
        try:
            ray.init(address=address, **kwargs)
        except Exception as e:       # noqa: BLE001  (connection errors come in several types)
            raise MyqasrError(f"address: cannot join the Ray cluster at {address} ({one_line(e)})") from None
    else:
        cores = os.cpu_count() or 1
        if workers * threads_per_worker > cores:
            raise MyqasrError(f"workers: {workers} workers x {threads_per_worker} threads need "
                              f"{workers * threads_per_worker} cores, this machine has {cores} "
                              "(oversubscribed jobs run many times slower; lower --workers)")
        ray.init(num_cpus=workers * threads_per_worker, object_store_memory=object_store_mb * 2**20, **kwargs)
    have = ray.cluster_resources()
    need_cpu, need_mem = workers * threads_per_worker, workers * memory_gb_per_worker * 1e9
    if have.get("CPU", 0) < need_cpu or have.get("memory", 0) < need_mem:
        ray.shutdown()
        raise MyqasrError(f"workers: {workers} workers need {need_cpu} CPUs and {need_mem / 1e9:g} GB, the cluster "
                          f"has {have.get('CPU', 0):g} CPUs and {have.get('memory', 0) / 1e9:.1f} GB")
    return ray


def summarize(records: list[dict], wall_s: float, workers: int, threads_per_worker: int, worker_info: list[dict],
              deaths: int) -> dict:
    """The run's totals: users and jobs done / failed / skipped, throughput, mean stage times, failures by reason."""
    done = [r for r in records if r["status"] == "ok"]
    failed = [r for r in records if r["status"] == "failed"]
    skipped = [r for r in records if r["status"] == "skipped"]
    users = {}
    for r in records:
        users.setdefault(r["user"], set()).add(r["status"])
    users_failed = sorted(u for u, s in users.items() if "failed" in s)
    users_done = sorted(u for u, s in users.items() if s == {"ok"} or s == {"ok", "skipped"})
    stages = {}
    for k in STAGES:
        values = [r[k] / (r.get("statistics_shared_by") or 1) if k == "statistics_s" else r[k]
                  for r in done if isinstance(r.get(k), (int, float))]
        stages[k] = sum(values) / len(values) if values else None
    reasons = Counter(r["reason"] for r in failed)
    examples = {reason: next(r["error"] for r in failed if r["reason"] == reason) for reason in reasons}
    return {"users": len(users), "users_done": len(users_done), "users_failed": len(users_failed),
            "users_skipped": sum(1 for s in users.values() if s == {"skipped"}),
            "jobs": len(records), "jobs_done": len(done), "jobs_failed": len(failed), "jobs_skipped": len(skipped),
            "wall_s": wall_s, "workers": workers, "threads_per_worker": threads_per_worker,
            "users_per_hour": len(users_done) / wall_s * 3600 if wall_s > 0 and users_done else 0.0,
            "jobs_per_hour": len(done) / wall_s * 3600 if wall_s > 0 and done else 0.0,
            "stage_means_s": stages, "model_load_s": [w["model_load_s"] for w in worker_info],
            "workers_replaced": deaths, "failures_by_reason": dict(reasons), "failure_examples": examples,
            "failed_users": users_failed}


def format_summary(s: dict) -> str:
    stage = ", ".join(f"{k[:-2]} {v:.1f} s" for k, v in s["stage_means_s"].items() if v is not None)
    lines = [f"fleet: {s['users']} users, {s['jobs']} user x budget jobs: {s['jobs_done']} done, "
             f"{s['jobs_failed']} failed, {s['jobs_skipped']} already done (skipped) in {s['wall_s']:.1f} s "
             f"on {s['workers']} workers x {s['threads_per_worker']} threads",
             f"  throughput: {s['users_per_hour']:.1f} users/hour, {s['jobs_per_hour']:.1f} jobs/hour "
             f"(users whose every budget was done in this run)",
             f"  mean stage times per job: {stage or '-'} (statistics shared by a user's budgets); "
             f"model loads {', '.join(f'{x:.1f}' for x in s['model_load_s'])} s"]
    if s["workers_replaced"]:
        lines.append(f"  workers replaced after dying: {s['workers_replaced']}")
    for reason, n in sorted(s["failures_by_reason"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  failed ({reason}): {n} job(s), e.g. {s['failure_examples'][reason]}")
    return "\n".join(lines)


def write_results(out: Path, records: list[dict]) -> Path:
    order = sorted(records, key=lambda r: (r["user"], -r["budget_mb"]))
    return write_atomic(out / RESULTS_FILE, "".join(json.dumps(r, sort_keys=True) + "\n" for r in order).encode())


def clean_scratch(out: Path) -> None:
    """Staging folders and running markers of an earlier run (killed workers cannot clean up after themselves)."""
    shutil.rmtree(out / WORK_DIR, ignore_errors=True)


def fleet(users, budget_mb, out, *, model: str | None = None, config=None, workers: int | None = None,
          threads_per_worker: int = 1, memory_gb_per_worker: float = 3.0, address: str | None = None,
          object_store_mb: int = 128, progress: bool = True) -> FleetResult:
    """Personalize every user of `users` for every budget in `budget_mb` into `out`; see the module docstring."""
    from myqasr.config import PlanConfig, positive_finite, positive_int

    config = config or PlanConfig()
    budgets = sorted({positive_finite(b, "budget-mb") for b in budget_mb}, reverse=True)
    threads_per_worker = positive_int(threads_per_worker, "threads-per-worker")
    memory_gb_per_worker = float(memory_gb_per_worker)
    if not memory_gb_per_worker >= 0:
        raise MyqasrError(f"memory-gb-per-worker: {memory_gb_per_worker!r} must be a number >= 0")
    if workers is None:
        workers = max(1, (os.cpu_count() or 1) // threads_per_worker) if not address else 1
    workers = positive_int(workers, "workers")
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MyqasrError(f"{out}: cannot create the output folder ({e.strerror or e})") from None
    user_list = find_users(users)
    with exclusive_out(out):
        return run_batch(user_list, budgets, out, model, config.to_dict(), workers, threads_per_worker,
                         memory_gb_per_worker, address, object_store_mb, progress)


@contextlib.contextmanager
def exclusive_out(out: Path):
    """One fleet at a time per output folder (a second one would clean the first one's staging folders)."""
    import fcntl

    with open(out / ".fleet.lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise MyqasrError(f"{out}: another `myqasr fleet` is writing into this folder") from None
        yield


def run_batch(user_list: list[UserInput], budgets: list[float], out: Path, model, config_dict: dict, workers: int,
              threads_per_worker: int, memory_gb_per_worker: float, address, object_store_mb: int,
              progress: bool) -> FleetResult:
    """Skip the jobs already done, run the others, write the results and the summary."""
    records, todo, failed_now = [], [], 0
    for u in user_list:
        inputs = inputs_sha256(u)
        keys = [(b, job_key(inputs, b, model, config_dict)) for b in budgets]
        left = []
        for b, k in keys:
            earlier = read_done(out, u.user, b, k)
            if earlier:
                records.append({**earlier, "status": "skipped"})
            else:
                left.append((b, k))
        if left and u.problem:                   # nothing to send to a worker: the inputs are missing
            records += [failed_record(u.user, b, k, "inputs", u.problem) for b, k in left]
            failed_now += 1
        elif left:
            todo.append(UserJob(u, left, str(out), config_dict, threads_per_worker))
    clean_scratch(out)
    t0 = time.perf_counter()
    info, deaths = [], 0
    if todo:
        workers = min(workers, len(todo))
        info, deaths = run_jobs(todo, records, out, model, workers, threads_per_worker, memory_gb_per_worker,
                                address, object_store_mb, progress, len(user_list) - len(todo) - failed_now,
                                failed_now)
    else:
        workers = 0
    clean_scratch(out)
    summary = summarize(records, time.perf_counter() - t0, workers, threads_per_worker, info, deaths)
    results = write_results(out, records)
    summary_path = write_atomic(out / SUMMARY_FILE, (json.dumps(summary, indent=1) + "\n").encode())
    return FleetResult(records, summary, str(results), str(summary_path))


def run_jobs(todo: list[UserJob], records: list[dict], out: Path, model, workers: int, threads: int,
             memory_gb: float, address, object_store_mb: int, progress: bool, done_before: int, failed_before: int):
    """Run the jobs on `workers` Ray actors, one job in flight per actor; a dead actor's job is recorded as failed
    and the actor replaced. Appends to `records`; returns (worker infos, number of workers replaced)."""
    from tqdm import tqdm

    ray = start_ray(address, workers, threads, memory_gb, object_store_mb)
    from ray.exceptions import RayActorError, RayError

    actor_class = ray.remote(FleetWorker).options(num_cpus=threads, memory=int(memory_gb * 1e9) or None,
                                                  max_restarts=0, max_task_retries=0)

    def new_worker():
        w = actor_class.remote(model, threads)
        try:
            return w, ray.get(w.ready.remote())
        except RayError as e:
            cause = getattr(e, "cause", None) or getattr(getattr(e, "error_msg", None), "cause", None)
            raise MyqasrError(f"model: the worker could not load it ({one_line(cause or e)})") from None

    pending = deque(todo)
    bar = tqdm(total=len(todo) + done_before + failed_before, initial=done_before + failed_before, unit="user",
               desc="fleet", file=sys.stderr, disable=not progress, dynamic_ncols=True)
    counts = Counter(done=done_before, failed=failed_before)
    deaths, info, in_flight, pool, pids = 0, [], {}, [], []
    last_write = time.monotonic()
    try:
        for _ in range(workers):
            w, i = new_worker()
            pool.append(w)
            pids.append(i["pid"])
            info.append(i)

        def submit(slot: int) -> None:
            if pending:
                job = pending.popleft()
                in_flight[pool[slot].run_user.remote(job)] = (slot, job)

        for slot in range(workers):
            submit(slot)
        while in_flight:
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            slot, job = in_flight.pop(ready[0])
            try:
                got = ray.get(ready[0])
            except RayActorError as e:
                deaths += 1
                got = [failed_record(job.user.user, b, k, "worker", f"worker process {pids[slot]} died while "
                                     f"personalizing this user ({type(e).__name__})") for b, k in job.budgets]
                (out / WORK_DIR / "running" / f"{job.user.user}.json").unlink(missing_ok=True)
                ray.kill(pool[slot], no_restart=True)
                pool[slot], i = new_worker()
                pids[slot] = i["pid"]
                info.append(i)
            except RayError as e:               # a bug in the job itself: its own exception, in one line
                got = [failed_record(job.user.user, b, k, "job", one_line(getattr(e, "cause", None) or e))
                       for b, k in job.budgets]
            records.extend(got)
            counts["failed" if any(r["status"] == "failed" for r in got) else "done"] += 1
            bar.set_postfix_str(f"done {counts['done']} failed {counts['failed']} "
                                f"remaining {len(pending) + len(in_flight)}", refresh=False)
            bar.update()
            if time.monotonic() - last_write > 5:       # the results so far, for a batch cut short
                write_results(out, records)
                last_write = time.monotonic()
            submit(slot)
    finally:
        bar.close()
        for w in pool:
            ray.kill(w)
        ray.shutdown()                 # stops the local Ray this command started; disconnects from a cluster
    return info, deaths
