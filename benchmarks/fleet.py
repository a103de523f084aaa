"""`myqasr fleet` throughput on this machine against running `myqasr personalize` once per user.

    python -m benchmarks.fleet [--users 2] [--sequential-users 1] [--budget-mb 45] [--sentences 6]
    python -m benchmarks.fleet --render-only

Panel users are voices of `benchmarks.voices` (espeak-ng / flite, `--sentences` sentences each, clips only: the
statistics pass is part of each job). Configurations, each in a fresh process, on the same users and budget:

- sequential: `myqasr personalize --threads <cores>` once per user (a new process per user, as a script would do);
- fleet with 1 worker x <cores> threads, and with <cores> workers x 1 thread (`myqasr fleet`, local Ray);
- more workers than cores is refused by `myqasr fleet` (oversubscribed exports run many times slower), so 4 workers
  on 2 cores is not measured.

Throughput = users / wall time of the whole command (Ray start-up, model loads, every job). The cost per 1,000 users
per budget is projected from the measured per-job stage times: core-hours = 1000 x job seconds x threads per job /
3600, and hours on this machine = 1000 / (jobs per hour of the best configuration).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import ROOT, header, machine_meta, read_json, table, write_json, write_text

RESULTS = ROOT / "benchmarks" / "results"
PANEL = ["flite_slt", "espeak_us_m3", "flite_rms", "espeak_gb_f2", "flite_awb", "espeak_us_f3"]


def make_users(root: Path, n: int, sentences: int) -> Path:
    """<root>/users/<voice>/clips/*.wav for the first n panel voices."""
    from benchmarks.voices import VOICES_BY_USER, render_users

    rendered = root / "voices"
    render_users(rendered, [VOICES_BY_USER[u] for u in PANEL[:n]], n_sentences=sentences)
    users = root / "users"
    for u in PANEL[:n]:
        (users / u).mkdir(parents=True)
        shutil.copytree(rendered / u, users / u / "clips")
    return users


def run_sequential(users: Path, out: Path, budget_mb: float, threads: int) -> dict:
    jobs = []
    t0 = time.perf_counter()
    for user in sorted(p.name for p in users.iterdir()):
        (out / user).mkdir(parents=True)
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "myqasr_export", "personalize", "--clips", str(users / user / "clips"),
                            "--budget-mb", str(budget_mb), "--out", str(out / user / "model.pte"), "--threads",
                            str(threads)], cwd=ROOT, capture_output=True, text=True)
        report = (out / user / "model.report.md")
        timings = {}
        if report.is_file():
            line = next((ln for ln in report.read_text().splitlines() if ln.startswith("- timings: ")), "")
            for part in line[len("- timings: "):].split(", "):
                if part:
                    k, v, _ = part.split()
                    timings[k] = float(v)
        jobs.append({"user": user, "ok": r.returncode == 0, "process_s": time.perf_counter() - t, **timings,
                     "error": None if r.returncode == 0 else r.stderr.strip().splitlines()[-1:]})
    wall = time.perf_counter() - t0
    done = sum(j["ok"] for j in jobs)
    return {"config": f"sequential personalize, {threads} threads", "workers": 1, "threads": threads,
            "users": len(jobs), "done": done, "wall_s": wall, "users_per_hour": done / wall * 3600, "jobs": jobs}


def run_fleet(users: Path, out: Path, budget_mb: float, workers: int, threads: int) -> dict:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "myqasr_export", "fleet", "--users", str(users), "--budget-mb",
                        str(budget_mb), "--out", str(out), "--workers", str(workers), "--threads-per-worker",
                        str(threads), "--no-progress"], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t
    summary = read_json(out / "summary.json") if (out / "summary.json").is_file() else {}
    rows = [json.loads(ln) for ln in (out / "results.jsonl").read_text().splitlines()] \
        if (out / "results.jsonl").is_file() else []
    done = sum(r_["status"] == "ok" for r_ in rows)
    return {"config": f"fleet, {workers} worker{'s' if workers > 1 else ''} x {threads} thread"
                      f"{'s' if threads > 1 else ''}", "workers": workers, "threads": threads, "users": len(rows),
            "done": done, "wall_s": wall, "users_per_hour": done / wall * 3600 if done else 0.0,
            "fleet_wall_s": summary.get("wall_s"), "model_load_s": summary.get("model_load_s"),
            "stage_means_s": summary.get("stage_means_s"), "exit": r.returncode,
            "stdout": r.stdout.strip().splitlines()[-8:],
            "jobs": [{k: x.get(k) for k in ("user", "status", "bytes", "verify", "statistics_s", "plan_s", "export_s",
                                            "verify_s", "job_s", "error")} for x in rows]}


def projected_cost(run: dict) -> dict:
    """Per 1,000 users per budget, from the run's mean job time and threads per job."""
    jobs = [j for j in run["jobs"] if j.get("status", "ok" if j.get("ok") else None) == "ok"]
    if not jobs:
        return {}
    def job_s(j):                     # the same stages on both sides: statistics pass, plan, export, verify
        return sum(j.get(k) or 0 for k in ("statistics_s", "plan_s", "export_s", "verify_s"))
    mean = sum(job_s(j) for j in jobs) / len(jobs)
    return {"job_s": mean, "core_hours_per_1000": 1000 * mean * run["threads"] / 3600,
            "hours_here_per_1000": 1000 / run["users_per_hour"] if run["users_per_hour"] else None}


def render(data: dict, out_dir: Path) -> str:
    meta = data["meta"]
    lines = [header("myqasr fleet: throughput on this machine", data["command"], meta),
             f"Sizes: {data['n_users']} panel users ({', '.join(data['panel'])}; {data['sentences']} clips each, "
             f"clips only, so each job includes the statistics pass) x 1 budget ({data['budget_mb']:g} MB, "
             f"embedded Whisper tiny.en); the sequential baseline on the first {data['n_sequential']}. The issue asks "
             "for 10 users x 2 budgets and 1 / 2 / 4 workers: that is ~2 core-hours of exports, more than this "
             "session's CPU time on a shared 2-core box, so the numbers below are small samples; treat them as "
             "such. 4 workers on 2 cores is refused by `myqasr fleet` (oversubscription), so it is not measured.", "",
             table(["configuration", "users done", "wall s", "users / hour", "mean job s", "statistics s", "export s",
                    "verify s", "model loads s"],
                   [[r["config"], f"{r['done']}/{r['users']}", f"{r['wall_s']:.0f}", f"{r['users_per_hour']:.1f}",
                     f"{projected_cost(r).get('job_s', 0):.0f}",
                     *[f"{mean_of(r, k):.1f}" for k in ("statistics_s", "export_s", "verify_s")],
                     ", ".join(f"{x:.1f}" for x in (r.get("model_load_s") or [])) or "per process"]
                    for r in data["runs"]]), "",
             "Projected cost per 1,000 users per budget (mean job time of each configuration x its threads; "
             "statistics once per user, shared by the user's budgets in `fleet`):", "",
             table(["configuration", "core-hours / 1000 users", "hours on this 2-core machine / 1000 users"],
                   [[r["config"], f"{projected_cost(r).get('core_hours_per_1000', 0):.1f}",
                     f"{projected_cost(r).get('hours_here_per_1000') or 0:.1f}"] for r in data["runs"]]), "",
             "## Reading it", ""]
    lines += data.get("notes", [])
    text = "\n".join(lines) + "\n"
    write_text(out_dir / "fleet.md", text)
    return text


def mean_of(run: dict, key: str) -> float:
    values = [j.get(key) for j in run["jobs"] if isinstance(j.get(key), (int, float))]
    return sum(values) / len(values) if values else 0.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.fleet", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=2, help="panel users per fleet configuration (default 2)")
    ap.add_argument("--sequential-users", type=int, default=1, help="users of the sequential baseline (default 1)")
    ap.add_argument("--budget-mb", type=float, default=45.0)
    ap.add_argument("--sentences", type=int, default=6, help="clips per user (default 6)")
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--render-only", action="store_true")
    a = ap.parse_args(argv)
    out_dir = Path(a.out)
    if a.render_only:
        print(render(read_json(out_dir / "fleet.json"), out_dir))
        return 0
    cores = os.cpu_count() or 1
    data = {"command": "python -m benchmarks.fleet " + " ".join(argv if argv is not None else sys.argv[1:]),
            "meta": machine_meta(), "n_users": a.users, "n_sequential": a.sequential_users,
            "panel": PANEL[:a.users], "sentences": a.sentences, "budget_mb": a.budget_mb, "runs": []}
    with tempfile.TemporaryDirectory(prefix="myqasr-bench-fleet-") as tmp:
        tmp = Path(tmp)
        users = make_users(tmp, a.users, a.sentences)
        seq_users = tmp / "seq_users"
        seq_users.mkdir()
        for u in sorted(users.iterdir())[:a.sequential_users]:
            shutil.copytree(u, seq_users / u.name)
        configs = [("seq", None, cores), ("fleet", 1, cores), ("fleet", cores, 1)]
        for kind, workers, threads in configs:
            out = tmp / f"out-{kind}-{workers}-{threads}"
            print(f"benchmarks.fleet: {kind} workers={workers} threads={threads}", flush=True)
            run = (run_sequential(seq_users, out, a.budget_mb, threads) if kind == "seq"
                   else run_fleet(users, out, a.budget_mb, workers, threads))
            data["runs"].append(run)
            write_json(out_dir / "fleet.json", data)
            print(json.dumps({k: run[k] for k in ("config", "done", "users", "wall_s", "users_per_hour")}), flush=True)
    write_json(out_dir / "fleet.json", data)
    print(render(data, out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
