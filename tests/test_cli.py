"""The `myqasr` command line: the main flow on the real model, and one-line errors for bad input."""
import json
import subprocess
import sys

import pytest

from myqasr.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "myqasr.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def assert_one_line_error(proc, *needles):
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("myqasr: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in err[0], err[0]


def test_plan_info_eval_on_the_sample_user(tmp_path, embedded, capsys):
    out = tmp_path / "scheme.json"
    assert main(["plan", "--budget-mb", "55", "45", "--out", str(out), "--plot", str(tmp_path / "bits.png"),
                 "--stats", str(tmp_path / "stats.safetensors")]) == 0
    schemes = [tmp_path / "scheme-55MB.json", tmp_path / "scheme-45MB.json"]
    for s in schemes:
        d = json.loads(s.read_text())
        assert d["predicted_bytes"] <= d["budget_bytes"] and d["clips"]["count"] == 8
        assert s.with_suffix(".png").stat().st_size > 10_000
    assert (tmp_path / "stats.safetensors").is_file()
    capsys.readouterr()
    # a second plan reuses the statistics file: no forward pass
    assert main(["plan", "--budget-mb", "50", "--out", str(tmp_path / "s50.json"),
                 "--stats", str(tmp_path / "stats.safetensors")]) == 0
    assert "reusing statistics" in capsys.readouterr().out
    assert main(["info", str(schemes[1]), "--layers"]) == 0
    text = capsys.readouterr().out
    assert "predicted size" in text and "model.decoder.embed_tokens".replace("model.", "") in text
    assert main(["eval", "--scheme", str(schemes[0])]) == 0
    text = capsys.readouterr().out
    assert "full precision" in text and "simulated" in text and text.count("WER") == 2


@pytest.mark.parametrize("args,needles", [
    (["plan", "--budget-mb", "0", "--out", "{tmp}/s.json"], ["positive"]),
    (["plan", "--budget-mb", "5", "--out", "{tmp}/s.json"], ["smallest reachable size"]),
    (["plan", "--budget-mb", "50", "--clips", "{tmp}/nope", "--out", "{tmp}/s.json"], ["nope"]),
    (["plan", "--budget-mb", "50", "--out", "{tmp}/missing/s.json"], ["does not exist"]),
    (["plan", "--budget-mb", "50", "--model", "nobody/does-not-exist-xyz", "--out", "{tmp}/s.json"],
     ["nobody/does-not-exist-xyz"]),
    (["info", "{tmp}/garbage.json"], ["garbage.json"]),
    (["eval", "--scheme", "{tmp}/garbage.json"], ["garbage.json"]),
])
def test_bad_input_is_one_line_no_traceback_no_output(tmp_path, args, needles):
    (tmp_path / "garbage.json").write_text("{oops")
    proc = run_cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert_one_line_error(proc, *needles)
    assert not (tmp_path / "s.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.json"]


def test_corrupt_clip_is_named(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    proc = run_cli("plan", "--budget-mb", "50", "--clips", clips, "--out", tmp_path / "s.json")
    assert_one_line_error(proc, "broken.wav")
    assert not (tmp_path / "s.json").exists()
