"""`myqasr fleet` (the command, in a subprocess, as a user runs it) on a real local Ray cluster started by the command,
with real ExecuTorch exports and verification of a tiny random Whisper on 2 workers.

Three users: `alice` has clips only, `bob` a damaged statistics file (the injected failure), `carol` a statistics file
only. The first run does alice, records bob's one-line error, and has carol's worker killed in the middle of her job
(SIGKILL, as the OOM killer would); the batch goes on. The rerun skips alice (her files stay as they were), retries
carol (done) and bob (the same one-line error: his file is still damaged). Each export of the tiny model costs ~45 s
on 2 cores, so one scenario (two runs, 2 exports) serves the tests below.
"""
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from myqasr.size import MB

from conftest import copy_clips

ROOT = Path(__file__).resolve().parent.parent


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def results(out: Path) -> dict:
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return {(r["user"], r["budget_mb"]): r for r in rows}


def files_under(folder: Path) -> dict:
    """Every file under a folder -> (sha256, mtime_ns): what a rerun must leave alone."""
    return {p.relative_to(folder).as_posix(): (sha256(p), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


class Scenario:
    """A tiny random Whisper, a folder of three users, and the three runs of `myqasr fleet` over them."""

    def __init__(self, root: Path, user_clips):
        from myqasr.models import load_model
        from myqasr.plan import compute_statistics, uniform_bytes
        from myqasr.stats import save_statistics
        from tiny_models import tiny_whisper

        self.model = tiny_whisper(root)
        loaded = load_model(self.model)
        self.users = root / "users"
        copy_clips([c.path for c in user_clips[:2]], self.users / "alice" / "clips")
        (self.users / "bob").mkdir(parents=True)
        (self.users / "bob" / "stats.safetensors").write_bytes(b"not a statistics file")
        (self.users / "carol").mkdir(parents=True)
        self.good_stats = root / "good.safetensors"
        save_statistics(compute_statistics(loaded, user_clips[2:4], progress=False), self.good_stats)
        (self.users / "carol" / "stats.safetensors").write_bytes(self.good_stats.read_bytes())
        self.budget = math.ceil(uniform_bytes(loaded, 1) / MB * 1000) / 1000      # the all-int8 size
        self.out = root / "out"
        self.folder = f"{self.budget:g}MB"

    def argv(self, out: Path | None = None, users: Path | None = None, budget="") -> list[str]:
        return [sys.executable, "-m", "myqasr_export", "fleet", "--users", str(users or self.users), "--budget-mb",
                str(budget or self.budget), "--out", str(out or self.out), "--model", self.model, "--workers", "2",
                "--threads-per-worker", "1", "--memory-gb-per-worker", "0.5", "--no-progress"]

    def first_run(self):
        """Run 1, killing the worker that does carol once her job has started writing its staging folder."""
        proc = subprocess.Popen(self.argv(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        marker = self.out / ".fleet" / "running" / "carol.json"
        staging = self.out / ".fleet" / "staging"
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline and not (
                marker.is_file() and any(p.name.startswith("carol.") for p in staging.glob("*"))):
            time.sleep(0.05)
        assert marker.is_file(), proc.communicate()
        time.sleep(1.0)                                             # carol's export is under way
        self.killed_pid = json.loads(marker.read_text())["pid"]
        os.kill(self.killed_pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=400)
        return proc.returncode, stdout, stderr


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, user_clips):
    s = Scenario(tmp_path_factory.mktemp("fleet"), user_clips)
    s.run1 = s.first_run()
    s.rows1, s.summary1 = results(s.out), json.loads((s.out / "summary.json").read_text())
    s.listing1 = sorted(p.name for p in s.out.iterdir() if p.name != ".fleet.lock")   # the one-fleet-per-folder lock
    s.alice_files = files_under(s.out / "alice")
    s.run2 = subprocess.run(s.argv(), cwd=ROOT, capture_output=True, text=True, timeout=400)
    s.rows2 = results(s.out)
    return s


def test_fleet_records_the_injected_failure_and_goes_on(scenario):
    from myqasr.scheme import load_scheme
    from myqasr_export.verify import file_gate

    code, stdout, stderr = scenario.run1
    assert code == 1, (stdout, stderr)                                   # 1: some jobs failed
    rows, b = scenario.rows1, scenario.budget
    assert sorted(rows) == [("alice", b), ("bob", b), ("carol", b)]
    r = rows["alice", b]
    assert r["status"] == "ok" and r["verify"] == "PASS" and r["error"] is None and r["source"] == "clips", r
    folder = scenario.out / "alice" / scenario.folder
    assert sorted(p.name for p in folder.iterdir()) == [
        "model.pte", "model.report.md", "model.scheme.json", "model.scheme.scales.safetensors", "model.vocab.json",
        "result.json"]
    pte = folder / "model.pte"
    assert r["bytes"] == pte.stat().st_size <= round(b * MB)
    assert not any(file_gate(pte).values())                              # a real, delegated ExecuTorch program
    scheme = load_scheme(folder / "model.scheme.json")
    assert scheme.budget_bytes == round(b * MB) and "int8_pc_da8" in {p.format.name for p in scheme.layers}
    assert scheme.calibration["method"] == "auto" and scheme.allocation["allocator"] == "knapsack"   # the defaults
    vocab = json.loads((folder / "model.vocab.json").read_text())
    assert vocab["pte_sha256"] == sha256(pte) and vocab["scheme"] == str(folder / "model.scheme.json")
    assert all(r[k] > 0 for k in ("export_s", "verify_s", "job_s")), r
    assert (scenario.out / "alice" / "stats.safetensors").is_file()     # computed once from her clips, kept
    # the injected failure: one line naming the file, its stage and reason, and no folder for bob
    r = rows["bob", b]
    assert r["status"] == "failed" and r["stage"] == "statistics" and r["reason"] == "bad statistics"
    assert "\n" not in r["error"] and r["error"].startswith(str(scenario.users / "bob" / "stats.safetensors"))
    assert "not a readable myqasr statistics file" in r["error"]
    assert scenario.listing1 == ["alice", "results.jsonl", "summary.json"]    # no bob, no carol, no scratch
    s = scenario.summary1
    assert (s["jobs_done"], s["jobs_failed"], s["users_done"], s["failed_users"]) == (1, 2, 1, ["bob", "carol"])
    assert s["failures_by_reason"] == {"bad statistics": 1, "worker died": 1}
    assert s["users_per_hour"] > 0 and s["stage_means_s"]["export_s"] > 0
    assert "1 done, 2 failed, 0 already done" in stdout and "failed (bad statistics): 1 job(s)" in stdout


def test_a_worker_killed_mid_job_is_one_failed_user_and_leaves_no_partial_file(scenario):
    code, stdout, _ = scenario.run1
    r = scenario.rows1["carol", scenario.budget]
    assert r["status"] == "failed" and r["reason"] == "worker died", r
    assert r["error"] == f"worker process {scenario.killed_pid} died while personalizing this user (ActorDiedError)"
    assert "carol" not in scenario.listing1                              # no half-written model, no folder at all
    assert "workers replaced after dying: 1" in stdout and "failed (worker died): 1 job(s)" in stdout
    assert scenario.summary1["workers_replaced"] == 1


def test_a_rerun_skips_what_is_done_and_retries_what_failed(scenario):
    code, stdout, stderr = scenario.run2.returncode, scenario.run2.stdout, scenario.run2.stderr
    assert code == 1, (stdout, stderr)
    b = scenario.budget
    rows = scenario.rows2
    assert {k: r["status"] for k, r in rows.items()} == {("alice", b): "skipped", ("bob", b): "failed",
                                                          ("carol", b): "ok"}
    assert rows["bob", b]["error"] == scenario.rows1["bob", b]["error"]     # retried: the same one-line error
    assert files_under(scenario.out / "alice") == scenario.alice_files     # not rewritten
    assert "1 done, 1 failed, 1 already done" in stdout
    r = rows["carol", b]
    assert r["verify"] == "PASS" and r["source"] == "statistics file"     # verified on the bundled sample clips
    assert (scenario.out / "carol" / scenario.folder / "model.pte").stat().st_size == r["bytes"]
    from myqasr.scheme import load_scheme
    carol = load_scheme(scenario.out / "carol" / scenario.folder / "model.scheme.json")
    assert carol.calibration["method"] == "minmax"            # auto without her clips: no guard on the sample clips


def test_bad_fleet_input_is_one_line_before_any_work(tmp_path):
    from myqasr.audio import SAMPLE_USER_DIR

    manifest = tmp_path / "users.jsonl"
    manifest.write_text('{"user": "../escape", "clips": "x"}\n')
    copy_clips(sorted(SAMPLE_USER_DIR.glob("calib/*.wav"))[:1], tmp_path / "users" / "dan")

    def argv(users, budget="40"):
        return [sys.executable, "-m", "myqasr_export", "fleet", "--users", str(users), "--budget-mb", budget,
                "--out", str(tmp_path / "o"), "--no-progress"]
    for cmd, expected in (
            (argv(manifest), f"myqasr: error: {manifest}:1: user name '../escape'"),
            (argv(tmp_path / "users", budget="-3"), "myqasr: error: budget-mb: "),
            (argv(tmp_path / "nobody"), f"myqasr: error: {tmp_path / 'nobody'}: no such file or directory"),
            (argv(tmp_path / "users") + ["--threads-per-worker", "512"], "myqasr: error: workers: 1 workers x 512 "
                                                                         "threads need 512 cores")):
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
        err = [line for line in r.stderr.splitlines() if line.strip()]
        assert r.returncode == 2 and len(err) == 1 and err[0].startswith(expected), (cmd, r.stderr)
    assert not (tmp_path / "o" / "results.jsonl").exists()


def test_a_user_without_inputs_is_recorded_without_starting_ray(tmp_path):
    (tmp_path / "users" / "dan").mkdir(parents=True)
    (tmp_path / "users" / "dan" / "notes.txt").write_text("no clips here")
    r = subprocess.run([sys.executable, "-m", "myqasr_export", "fleet", "--users", str(tmp_path / "users"),
                        "--budget-mb", "40", "30", "--out", str(tmp_path / "o"), "--no-progress"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    rows = results(tmp_path / "o")
    assert sorted(rows) == [("dan", 30.0), ("dan", 40.0)]
    for row in rows.values():
        assert row["status"] == "failed" and row["reason"] == "bad input"
        assert row["error"] == f"{tmp_path / 'users' / 'dan'}: no statistics file (stats.safetensors) and no clips " \
                               "(clips/, clips.jsonl or audio files)"
    assert "0 done, 2 failed" in r.stdout and "on 0 workers" in r.stdout
