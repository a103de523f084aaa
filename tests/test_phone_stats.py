"""On-phone personalization: the statistics program, the phone's aggregation (Java), and the host flow after it.

Two fixture sets go through the app's Java aggregation (PhoneStatsTest, run here by the JUnit script), which writes
the statistics file the phone would send; Python reads it with `myqasr.stats.load_statistics` and compares it with
the HOST statistics pass:
  - tiny.en: the committed set (the ExecuTorch runtime ran `stats.pte` on the sample user's first 2 clips;
    tests/phone_stats_fixtures.py), against the host pass recomputed here on the same clips;
  - a tiny random Whisper, live: `myqasr export-stats` -> the host runtime runs the program on clips, standing in
    for the phone (`myqasr_export.phonestats`) -> fixtures -> Java -> file -> `myqasr personalize --stats`.
Tolerances (the contract): median within 1 %; abs_max, input_abs_max (the static activation ranges min-max
calibration reads), mean and std within 1e-3; identical allocations of the default plan at 5 budgets.
"""
from __future__ import annotations

import contextlib
import io
import os
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from phone_stats_fixtures import COMMITTED, SAMPLE_CLIPS, budgets_mb, default_allocations, host_pass, write_set

ROOT = Path(__file__).resolve().parents[1]
UNIT_TESTS = ROOT / "android_demo" / "scripts" / "run_unit_tests.sh"
MEDIAN_TOL, RANGE_TOL = 0.01, 1e-3


def _write_wav(path: Path, audio: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())


def _worst(phone, host, key: str) -> tuple[float, str]:
    return max((abs(phone.layers[n][key] - host.layers[n][key]) / max(abs(host.layers[n][key]), 1e-12), n)
               for n in host.layers)


def _check_close(phone, host) -> dict:
    assert set(phone.layers) == set(host.layers)
    worst = {k: _worst(phone, host, k) for k in ("median", "abs_max", "input_abs_max", "mean", "std")}
    assert worst["median"][0] <= MEDIAN_TOL, worst
    assert all(worst[k][0] <= RANGE_TOL for k in ("abs_max", "input_abs_max", "mean", "std")), worst
    return worst


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny random Whisper, its statistics program (`myqasr export-stats`), clips as WAV files, the host pass."""
    from myqasr.audio import load_clips
    from myqasr.models import load_model
    from myqasr_export.cli import main
    from tiny_models import tiny_whisper

    tmp = tmp_path_factory.mktemp("phone_tiny")
    model_dir = tiny_whisper(tmp)
    clips_dir = tmp / "clips"
    clips_dir.mkdir()
    rng = np.random.default_rng(3)
    for i, seconds in enumerate((2.3, 4.1)):
        t = np.arange(int(16000 * seconds)) / 16000
        _write_wav(clips_dir / f"c{i}.wav", 0.05 * rng.standard_normal(t.size) + 0.3 * np.sin(2 * np.pi * 220 * (i + 1) * t))
    pte = tmp / "stats.pte"
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["export-stats", "--model", model_dir, "--out", str(pte)]) == 0
    assert pte.is_file() and pte.with_name("stats.layers.json").is_file() and "wrote" in out.getvalue()
    loaded = load_model(model_dir)
    clips = load_clips(clips_dir)
    return dict(dir=tmp, model_dir=model_dir, clips_dir=clips_dir, pte=pte, loaded=loaded, clips=clips,
                host=host_pass(loaded, clips))


@pytest.fixture(scope="module")
def tiny_set(tiny):
    """The live fixture set: the host runtime runs the program on the tiny model's clips (the phone's part)."""
    out = tiny["dir"] / "tinyset"
    twin = write_set(tiny["pte"], tiny["clips"], tiny["host"], out)
    return out, twin


@pytest.fixture(scope="module")
def java_files(tiny_set, tmp_path_factory):
    """PhoneStatsTest aggregates both sets in Java and writes <set>.stats here (the app's code path)."""
    out = tmp_path_factory.mktemp("java_stats")
    env = {**os.environ, "MYQASR_PHONE_STATS_OUT": str(out), "MYQASR_PHONE_STATS_FIXTURES": str(tiny_set[0])}
    r = subprocess.run(["bash", str(UNIT_TESTS)], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    return {"tinyen": out / "phonestats.stats", "tiny": out / "tinyset.stats"}


def test_java_file_from_tiny_en_runtime_outputs_matches_the_host_pass(embedded, java_files, tmp_path, capsys):
    """tiny.en: the runtime's outputs (committed), aggregated by the app's Java, vs the host pass on the same clips."""
    from myqasr.audio import SAMPLE_USER_DIR, load_clips
    from myqasr.stats import load_statistics

    host = host_pass(embedded, load_clips(SAMPLE_USER_DIR / "calib")[:SAMPLE_CLIPS])
    phone = load_statistics(java_files["tinyen"])
    assert phone.provenance["computed_on"] == "phone" and "sha256" not in phone.clips
    assert phone.weights_sha256 == embedded.weights_sha256 and phone.clips["count"] == SAMPLE_CLIPS
    assert phone.costs == {}
    _check_close(phone, host)
    budgets = budgets_mb(embedded)
    assert default_allocations(embedded, phone, budgets) == default_allocations(embedded, host, budgets)
    # the committed host numbers are still what the host pass computes (else refresh the fixtures)
    committed = __import__("json").loads((COMMITTED / "host.json").read_text())["layers"]
    assert max(abs(committed[n]["median"] - host.layers[n]["median"]) / host.layers[n]["median"]
               for n in committed) < MEDIAN_TOL / 10


def test_plan_reads_the_phone_file_without_clips(embedded, session_model, java_files, tmp_path, capsys):
    from myqasr.cli import main
    from myqasr.scheme import load_scheme

    out = tmp_path / "scheme.json"
    budget = budgets_mb(embedded)[2]
    assert main(["plan", "--stats", str(java_files["tinyen"]), "--budget-mb", str(budget), "--out", str(out)]) == 0
    assert "computed on a phone" in capsys.readouterr().out
    scheme = load_scheme(out)
    assert scheme.predicted_bytes <= budget * 1e6 and scheme.allocation["allocator"] == "myqasr"   # auto: no costs
    code = main(["plan", "--stats", str(java_files["tinyen"]), "--budget-mb", str(budget), "--out", str(out),
                 "--allocator", "knapsack"])
    err = capsys.readouterr().err
    assert code == 2 and "compute costs on the host" in err and err.count("\n") == 1, err


def test_live_program_java_and_host_flow_on_a_tiny_whisper(tiny, tiny_set, java_files, tmp_path, capsys):
    """export-stats -> the host runtime runs it (the phone's part) -> Java writes the file -> personalize."""
    import json

    from myqasr.stats import load_statistics
    from myqasr_export.cli import main

    phone = load_statistics(java_files["tiny"])
    twin = tiny_set[1]
    # the Java aggregation and its Python twin agree to the last bits of a double sum
    assert all(phone.layers[n]["median"] == twin.layers[n]["median"] for n in twin.layers)
    _check_close(phone, tiny["host"])
    _check_close(twin, tiny["host"])
    loaded = tiny["loaded"]
    budgets = budgets_mb(loaded)
    host_alloc = default_allocations(loaded, tiny["host"], budgets)
    assert default_allocations(loaded, phone, budgets) == host_alloc
    assert len({tuple(sorted(a.items())) for a in host_alloc}) > 2, "the budgets must give different allocations"
    # the host flow after the phone: personalize from the phone's file, verified .pte
    out = tmp_path / "model.pte"
    code = main(["personalize", "--model", tiny["model_dir"], "--clips", str(tiny["clips_dir"]), "--stats",
                 str(java_files["tiny"]), "--budget-mb", str(budgets[2]), "--out", str(out), "--threads", "2"])
    captured = capsys.readouterr()
    assert code == 0 and out.is_file(), captured.err[-2000:]
    scheme = json.loads(out.with_name("model.scheme.json").read_text())
    formats = {p["name"]: p["format"]["name"] for p in scheme["layers"]}
    assert formats == host_alloc[2]


def test_statistics_program_refuses_bad_input(tiny, tmp_path):
    from myqasr.errors import MyqasrError
    from myqasr_export.phonestats import StatsRunner

    bad = tmp_path / "x.pte"
    bad.write_bytes(tiny["pte"].read_bytes())
    with pytest.raises(MyqasrError, match="x.layers.json: not found"):
        StatsRunner(bad)
    (tmp_path / "x.layers.json").write_text('{"format": "myqasr-stats-program", "version": "0"}')
    with pytest.raises(MyqasrError, match="not a myqasr-stats-program version 1"):
        StatsRunner(bad)
