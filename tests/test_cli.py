"""The `myqasr` command line: the main flow on the real model (in process, on the session's tiny.en and its saved
statistics), `myqasr stats`, the rule for reusing a statistics file, and one-line errors for bad input. Two tests
start the real entry point (`python -m myqasr_export`) in a subprocess; the rest run `main()` in process."""
import json
import shutil
import subprocess
import sys

import pytest

from myqasr_export.cli import main

from conftest import copy_clips


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "myqasr_export", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def assert_one_line_error(proc, *needles):
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("myqasr: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in err[0], err[0]


class Ran:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def cli(capsys):
    """The full `myqasr` command in process: (exit status, stdout, stderr)."""
    def run(*args):
        capsys.readouterr()
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return Ran(code, out.out, out.err)
    return run


def printed_texts(eval_output: str, name_prefix: str) -> list[str]:
    """The per-clip transcripts `myqasr eval` printed for the model whose name starts with `name_prefix`."""
    return [line[2 + 24 + 1:].strip() for line in eval_output.splitlines() if line.startswith("  " + name_prefix)]


def printed_wer(eval_output: str, name_prefix: str) -> float:
    line = next(l for l in eval_output.splitlines() if l.startswith(name_prefix) and " WER " in l)
    return float(line.split(" WER ")[1].split("%")[0])


def test_plan_info_eval_with_reused_statistics(session_model, user_clips_dir, user_stats_file, held_out_dir,
                                               tmp_path, cli):
    from myqasr.evaluate import wer
    from myqasr.report import short_name

    stats = tmp_path / "stats.safetensors"
    shutil.copyfile(user_stats_file, stats)
    out = tmp_path / "scheme.json"
    ran = cli("plan", "--clips", user_clips_dir, "--stats", stats, "--budget-mb", "55", "45", "--out", out,
              "--plot", tmp_path / "bits.png")
    assert ran.returncode == 0, ran.stderr
    assert "reusing statistics" in ran.stdout and "statistics pass" not in ran.stdout   # no forward pass
    schemes = [tmp_path / "scheme-55MB.json", tmp_path / "scheme-45MB.json"]
    sizes = []
    for s, budget in zip(schemes, (55_000_000, 45_000_000)):
        d = json.loads(s.read_text())
        assert d["budget_bytes"] == budget and d["predicted_bytes"] <= budget
        assert d["clips"]["count"] == 4 and d["model"]["id"] == "embedded:whisper-tiny.en"
        assert s.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"wrote {s}" in ran.stdout
        sizes.append(d["predicted_bytes"])
    assert sizes[0] > sizes[1] > 0.97 * 45_000_000
    info = cli("info", schemes[1], "--layers")
    assert info.returncode == 0
    d = json.loads(schemes[1].read_text())
    assert f"predicted size {d['predicted_bytes'] / 1e6:.3f} MB" in info.stdout
    for layer in d["layers"]:
        assert f"{short_name(layer['name']):<34} {layer['kind']:<9}" in info.stdout
        assert layer["format"]["name"] in info.stdout
    two = copy_clips(sorted(held_out_dir.glob("*.wav"))[:2], tmp_path / "held_out")
    ev = cli("eval", "--scheme", schemes[0], "--clips", two)
    assert ev.returncode == 0, ev.stderr
    refs = [p.with_suffix(".txt").read_text().strip() for p in sorted(two.glob("*.wav"))]
    for name in ("full precision", "simulated"):
        texts = printed_texts(ev.stdout, name)
        assert len(texts) == 2 and all(texts), ev.stdout
        assert abs(100 * wer(refs, texts) - printed_wer(ev.stdout, name)) < 0.051, ev.stdout
    assert printed_wer(ev.stdout, "simulated") <= printed_wer(ev.stdout, "full precision") + 10.0


def test_stats_command_and_the_reuse_rule(session_model, user_clips_dir, tmp_path, cli):
    """`myqasr stats` writes a file that records its clip set; plan reuses it for those clips and refuses others."""
    from myqasr.adapters import adapter_for
    from myqasr.audio import clips_hash, load_clips
    from myqasr.stats import load_statistics

    two = copy_clips(sorted(user_clips_dir.glob("*.wav"))[:2], tmp_path / "two")
    stats = tmp_path / "s.safetensors"
    ran = cli("stats", "--clips", two, "--out", stats)
    assert ran.returncode == 0, ran.stderr
    assert "statistics pass: 2 clips" in ran.stdout and f"wrote {stats}" in ran.stdout
    s = load_statistics(stats)
    assert s.clips["count"] == 2 and s.clips["sha256"] == clips_hash(load_clips(two))
    assert s.weights_sha256 == session_model.weights_sha256 and s.model_id == session_model.model_id
    layers = adapter_for("whisper", session_model.processor).layers(session_model.model)
    assert set(s.layers) == {l.name for l in layers} and set(s.histograms) == set(s.layers)

    reused = cli("plan", "--clips", two, "--stats", stats, "--budget-mb", "50", "--out", tmp_path / "s50.json")
    assert reused.returncode == 0 and "reusing statistics" in reused.stdout and "statistics pass" not in reused.stdout
    assert json.loads((tmp_path / "s50.json").read_text())["clips"]["sha256"] == s.clips["sha256"]

    before = sorted(p.name for p in tmp_path.iterdir())
    for cmd in (["plan", "--budget-mb", "50", "--out", tmp_path / "other.json"],
                ["stats", "--out", tmp_path / "other.safetensors"],
                ["personalize", "--budget-mb", "50", "--out", tmp_path / "other.pte"]):
        refused = cli(*cmd, "--clips", user_clips_dir, "--stats", stats)
        assert_one_line_error(refused, "s.safetensors", "computed on another clip set (2 clips",
                              "than the 4 clips given", "delete it or give another --stats path")
    assert sorted(p.name for p in tmp_path.iterdir()) == before                 # nothing written


def test_statistics_of_another_model_are_refused_by_the_entry_point(user_clips_dir, user_stats_file, tmp_path):
    """A statistics file of tiny.en given to another model, in a fresh `myqasr` process: after the model loads, one
    stderr line (no progress bar, no traceback), nothing written."""
    from tiny_models import tiny_whisper

    other = tiny_whisper(tmp_path)
    proc = run_cli("plan", "--model", other, "--clips", user_clips_dir, "--stats", user_stats_file, "--budget-mb", "50",
                   "--out", tmp_path / "s.json")
    assert_one_line_error(proc, "user.safetensors", f"computed on other weights than model {other!r}")
    assert not (tmp_path / "s.json").exists()


@pytest.mark.parametrize("args,needles", [
    (["plan", "--budget-mb", "5", "--out", "{tmp}/s.json"], ["smallest reachable size"]),
    (["plan", "--budget-mb", "50", "--clips", "{tmp}/nope", "--out", "{tmp}/s.json"], ["nope"]),
    (["plan", "--budget-mb", "50", "--out", "{tmp}/missing/s.json"], ["does not exist"]),
    (["plan", "--budget-mb", "50", "--model", "nobody/does-not-exist-xyz", "--out", "{tmp}/s.json"],
     ["nobody/does-not-exist-xyz"]),
    (["plan", "--budget-mb", "50", "--stats", "{tmp}/garbage.json", "--out", "{tmp}/s.json"],
     ["garbage.json", "not a readable myqasr statistics file"]),
    (["info", "{tmp}/garbage.json"], ["garbage.json"]),
    (["eval", "--scheme", "{tmp}/garbage.json"], ["garbage.json"]),
    (["export", "--scheme", "{tmp}/garbage.json", "--out", "{tmp}/m.pte"], ["garbage.json"]),
    (["personalize", "--budget-mb", "50", "--out", "{tmp}/m.bin"], ["must be a .pte file"]),
    (["run", "{tmp}/nope.pte", "{tmp}/garbage.json"], ["garbage.json"]),
])
def test_bad_input_is_one_line_no_traceback_no_output(session_model, tmp_path, cli, args, needles):
    (tmp_path / "garbage.json").write_text("{oops")
    ran = cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert_one_line_error(ran, *needles)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.json"]


def test_entry_point_bad_scheme_is_one_line(tmp_path):
    """The installed command's entry point (a fresh process): one stderr line, exit 2, nothing else."""
    (tmp_path / "garbage.json").write_text("{oops")
    proc = run_cli("info", tmp_path / "garbage.json")
    assert_one_line_error(proc, "garbage.json", "invalid JSON")
    assert proc.stdout == ""


def test_corrupt_clip_is_named(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    proc = run_cli("plan", "--budget-mb", "50", "--clips", clips, "--out", tmp_path / "s.json")
    assert_one_line_error(proc, "broken.wav")
    assert not (tmp_path / "s.json").exists()
