"""Bad values, from the command line or the Python API, end in one `myqasr: error:` line (a MyqasrError), before
any work is done; a scheme is checked against what its backend runs before anything uses it."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from myqasr.config import Allocator, Calibration, Ladder, Metric, Order, PlanConfig
from myqasr.errors import MyqasrError
from myqasr.formats import Format, get_ladder, runs_on, xnnpack_ladder

sys.path.insert(0, str(Path(__file__).parent))
from schemes import ladder_formats, uniform_scheme  # noqa: E402
from tiny_models import tiny_whisper  # noqa: E402


class Ran:
    def __init__(self, returncode, stderr):
        self.returncode, self.stderr = returncode, stderr


@pytest.fixture
def cli(capsys):
    """Run the full `myqasr` command in-process (one subprocess test in test_cli covers the real entry point)."""
    from myqasr_export.cli import main

    def run(*args):
        capsys.readouterr()
        rc = main([str(a) for a in args])
        return Ran(rc, capsys.readouterr().err)
    return run


def one_line(proc, *needles):
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1 and err[0].startswith("myqasr: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in err[0], err[0]
    return err[0]


PLAN = ["plan", "--budget-mb", "40", "--out"]


@pytest.mark.parametrize("extra,needles", [
    (["--metric", "loudness"], ["metric", "loudness", "median"]),
    (["--order", "sideways"], ["order", "sideways", "ascending"]),
    (["--ladder", "fpga"], ["ladder", "fpga", "xnnpack"]),
    (["--calibration", "magic"], ["calibration", "magic", "cosine"]),
    (["--ladder", "research", "--bits", "8,x"], ["bits", "8,x"]),
    (["--ladder", "research", "--bits", "8,1"], ["bits", "between 2 and 8"]),
    (["--bits", "8,4"], ["bits", "research"]),
    (["--group-size", "0"], ["group_size", "0"]),
    (["--group-size", "x"], ["group-size", "x"]),
    (["--threads", "-1"], ["threads", "-1"]),
    (["--seed", "1.5"], ["seed"]),
    (["--frobnicate"], ["frobnicate"]),
])
def test_bad_plan_flags_are_one_line_and_write_nothing(cli, tmp_path, extra, needles):
    one_line(cli(*PLAN, tmp_path / "s.json", *extra), *needles)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("budget", ["inf", "nan", "-3", "0", "forty"])
def test_bad_budgets_are_one_line(cli, tmp_path, budget):
    for cmd in (["plan", "--budget-mb", budget, "--out", tmp_path / "s.json"],
                ["personalize", "--budget-mb", budget, "--out", tmp_path / "m.pte"]):
        one_line(cli(*cmd), "budget-mb", budget)
    assert list(tmp_path.iterdir()) == []


def test_a_clip_of_10_ms_is_refused_by_name(cli, tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    rng = np.random.default_rng(0)
    sf.write(clips / "blip.wav", (0.1 * rng.standard_normal(160)).astype(np.float32), 16000)
    one_line(cli(*PLAN, tmp_path / "s.json", "--clips", clips), "blip.wav", "too short")
    assert not (tmp_path / "s.json").exists()


def test_the_reported_floor_is_accepted_when_typed_back(embedded):
    from myqasr.plan import check_budgets

    with pytest.raises(MyqasrError, match="smallest reachable size") as e:
        check_budgets(embedded, [20.0])
    floor = float(str(e.value).split("smallest reachable size ")[1].split()[0])
    check_budgets(embedded, [floor])                              # no error: the printed floor is reachable
    with pytest.raises(MyqasrError):
        check_budgets(embedded, [floor - 0.002])


@pytest.mark.parametrize("kwargs,needle", [
    ({"metric": "loud"}, "metric"), ({"order": 3}, "order"), ({"ladder": None}, "ladder"),
    ({"calibration": "x"}, "calibration"), ({"group_size": -32}, "group_size"), ({"group_size": 8.0}, "group_size"),
    ({"bits": "9"}, "bits"), ({"seed": "0"}, "seed"), ({"target": "phone"}, "target"),
])
def test_plan_config_checks_every_field(kwargs, needle):
    with pytest.raises(MyqasrError, match=needle):
        PlanConfig(**kwargs)


def test_plan_config_parses_strings_into_choices_and_back():
    c = PlanConfig(allocator="myqasr", metric="p99", order="descending", ladder="research", bits="8,4",
                   calibration="cosine")
    assert (c.allocator, c.metric, c.order, c.ladder, c.calibration, c.bits) == \
        (Allocator.myqasr, Metric.p99, Order.descending, Ladder.research, Calibration.cosine, (8, 4))
    assert json.loads(json.dumps(c.to_dict())) == {"allocator": "myqasr", "metric": "p99", "order": "descending", "ladder": "research",
                                                   "bits": [8, 4], "group_size": 32, "calibration": "cosine",
                                                   "seed": 0, "target": "module"}


def test_api_entry_points_raise_myqasr_error_not_value_error(embedded):
    from myqasr.allocate import visit_order
    from myqasr.plan import plan
    from myqasr.stats import Statistics

    stats = Statistics(embedded.model_id, embedded.weights_sha256, {}, {})
    for call in (lambda: get_ladder("fpga"), lambda: visit_order([], {}, "sideways"),
                 lambda: stats.metric("loudness"), lambda: plan(embedded, stats, float("inf")),
                 lambda: plan(embedded, stats, 40, config="ascending")):
        with pytest.raises(MyqasrError):
            call()


@pytest.mark.parametrize("d,needle", [
    ({"name": "int8_pc_sa8", "bits": 3, "granularity": "per_channel", "group_size": None,
      "activation": "static_int8"}, "int3_pc_sa8"),
    ({"name": "int4_g32_da8", "bits": 4, "granularity": "per_channel", "group_size": 32,
      "activation": "dynamic_int8"}, "group size"),
    ({"name": "int8_pc", "bits": 8, "granularity": "none", "group_size": None, "activation": "none"}, "granularity"),
    ({"name": "fp32", "bits": 32, "granularity": "per_channel", "group_size": None, "activation": "none"}, "fp32"),
    ({"name": "int8_pc", "bits": 8, "granularity": "diagonal", "group_size": None, "activation": "none"},
     "granularity"),
    ({"name": "int8_pc_xx", "bits": 8, "granularity": "per_channel", "group_size": None, "activation": "psychic"},
     "activation"),
    ({"name": "int9_pc", "bits": 9, "granularity": "per_channel"}, "bits"),
    ({"name": "int4_g0", "bits": 4, "granularity": "per_group", "group_size": 0}, "group_size"),
    ({"name": "int8_pc", "bits": 8, "colour": "red"}, "fields"),
    ({"bits": 8}, "fields"),
])
def test_format_from_dict_refuses_unknown_or_contradictory_fields(d, needle):
    with pytest.raises(MyqasrError, match=needle):
        Format.from_dict(d)


def test_every_ladder_format_round_trips_and_runs_on_its_backend():
    for kind, rungs in xnnpack_ladder().items():
        for fmt in rungs:
            assert Format.from_dict(json.loads(json.dumps(fmt.to_dict()))) == fmt
            assert runs_on(fmt, kind, "xnnpack") is None
    int4 = get_ladder("xnnpack")["linear"][2]
    assert runs_on(int4, "conv1d", "xnnpack") and runs_on(get_ladder("research")["linear"][3], "linear", "xnnpack")


@pytest.fixture(scope="module")
def tiny_scheme_file(tmp_path_factory):
    """A real scheme file of a tiny random Whisper (all-int8)."""
    from transformers import WhisperForConditionalGeneration

    from myqasr.scheme import save_scheme

    d = tmp_path_factory.mktemp("tiny")
    model = WhisperForConditionalGeneration.from_pretrained(tiny_whisper(d)).eval()
    path = d / "scheme.json"
    save_scheme(uniform_scheme(model, "whisper", ladder_formats("int8")), path)
    return path


def test_a_hand_edited_format_is_refused_by_info_eval_and_export(cli, tiny_scheme_file, tmp_path):
    d = json.loads(tiny_scheme_file.read_text())
    conv = next(l for l in d["layers"] if l["kind"] == "conv1d")
    conv["format"]["bits"] = 3                   # its name still says int8
    bad = tiny_scheme_file.parent / "bad.json"
    bad.write_text(json.dumps(d))
    for cmd in (["info", bad], ["eval", "--scheme", bad], ["export", "--scheme", bad, "--out", tmp_path / "m.pte"]):
        one_line(cli(*cmd), "bad.json", conv["name"], "int3")
    assert list(tmp_path.iterdir()) == []


def test_a_format_off_the_backend_ladder_is_refused(tiny_scheme_file):
    from myqasr.scheme import load_scheme

    d = json.loads(tiny_scheme_file.read_text())
    conv = next(l for l in d["layers"] if l["kind"] == "conv1d")
    conv["format"] = {"name": "int4_pc_sa8", "bits": 4, "granularity": "per_channel", "group_size": None,
                      "activation": "static_int8"}      # consistent fields, but XNNPACK runs no 4-bit conv
    bad = tiny_scheme_file.parent / "offladder.json"
    bad.write_text(json.dumps(d))
    with pytest.raises(MyqasrError, match="not on the xnnpack ladder for a conv1d layer"):
        load_scheme(bad)
    assert load_scheme(tiny_scheme_file).layers                  # the untouched file loads
