"""The whole job. On the real embedded Whisper tiny.en: `myqasr personalize` at a budget midway between the all-int8
and all-int4 sizes gives a verified mixed int8/int4 .pte (the session fixture `mixed_pte`) that the real ExecuTorch
runtime runs on held-out speech. On a tiny random Whisper: every way the job can fail (verification fails, the file
overshoots the budget, the final rename fails), and what is left on disk then."""
import hashlib
import json
import re
from pathlib import Path

import pytest

from myqasr.errors import MyqasrError
from myqasr.evaluate import normalize_text, wer
from myqasr.size import MB

from conftest import copy_clips, lowering_once
from optimality import check_allocation


def listing(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def report_rows(report: str) -> dict[str, list[str]]:
    """The report's markdown table rows, keyed by their first cell."""
    rows = {}
    for line in report.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


# ------------------------------------------------------------------------------------ the mixed tiny.en .pte

def test_personalize_mixed_budget_end_to_end(mixed_pte, embedded):
    """Exit 0, verification PASSED, every sidecar written, a really mixed scheme that fits and fills the budget."""
    from myqasr.adapters import adapter_for, rest_params
    from myqasr.formats import get_ladder
    from myqasr.scheme import load_scheme
    from myqasr.size import PROFILES

    text = mixed_pte.stdout
    assert mixed_pte.exit_code == 0
    assert re.search(r"^verify: PASS;", text, re.M), text
    assert "delegation gate ok" in text
    for suffix in (".vocab.json", ".scheme.json", ".scheme.scales.safetensors", ".report.md"):
        assert mixed_pte.sidecar(suffix).is_file(), suffix
    assert not [n for n in listing(mixed_pte.pte.parent) if n.startswith(".")], "temp files left behind"
    scheme = load_scheme(mixed_pte.sidecar(".scheme.json"))
    budget = round(mixed_pte.budget_mb * MB)
    assert scheme.budget_bytes == budget and mixed_pte.int4_bytes < budget < mixed_pte.int8_bytes
    linear = {p.format.name for p in scheme.layers if p.layer.kind == "linear"}
    assert {"int8_pc_da8", "int4_g32_da8"} <= linear, linear                     # mixed int8 / int4
    layers = adapter_for("whisper", embedded.processor).layers(embedded.model)
    check_allocation(layers, get_ladder("xnnpack"), scheme.formats(), budget, rest_params(embedded.model, layers),
                     PROFILES["xnnpack"])                                # planned once (1 export): for the budget
    report = mixed_pte.sidecar(".report.md").read_text()
    assert "verify: PASS" in report and "fits, 1 export)" in report


def test_mixed_pte_size_fits_and_matches_the_size_model(mixed_pte):
    from myqasr.scheme import load_scheme

    real = mixed_pte.pte.stat().st_size
    budget = round(mixed_pte.budget_mb * MB)
    predicted = load_scheme(mixed_pte.sidecar(".scheme.json")).predicted_bytes
    assert real <= budget and real >= 0.98 * budget, (real, budget)              # fits, and fills the budget
    assert 0 <= predicted - real <= 0.005 * real, (predicted, real)              # the size model: never below
    assert f"({real / MB:.3f} MB on disk" in mixed_pte.stdout


def test_mixed_pte_passes_the_file_gate_and_its_vocabulary_names_it(mixed_pte):
    from myqasr_export.verify import file_gate

    gate = file_gate(mixed_pte.pte)
    assert set(gate) == {"preprocessor", "encoder", "text_decoder"} and not any(gate.values()), gate
    vocab = json.loads(mixed_pte.sidecar(".vocab.json").read_text())
    assert vocab["pte_sha256"] == sha256(mixed_pte.pte) and vocab["arch"] == "whisper"
    assert len(vocab["tokens"]) == 51864 and vocab["scheme"] == str(mixed_pte.sidecar(".scheme.json"))


def test_mixed_pte_transcribes_held_out_speech(mixed_pte, held_out_dir):
    """The report's evaluation: the .pte hears the held-out sentences about as well as full precision does."""
    report = mixed_pte.sidecar(".report.md").read_text()
    rows = report_rows(report)
    fp, sim, pte = (float(rows[k][0]) for k in ("full precision", "simulated", ".pte (ExecuTorch)"))
    assert fp <= 25.0 and pte <= fp + 10.0 and sim <= fp + 10.0, (fp, sim, pte)
    refs, heard = [], []
    for wav in sorted(held_out_dir.glob("*.wav")):
        reference, transcript = rows[wav.name]
        assert reference == wav.with_suffix(".txt").read_text().strip()
        refs.append(reference)
        heard.append(transcript)
        spoken, got = normalize_text(reference).split(), set(normalize_text(transcript).split())
        assert sum(w in got for w in spoken) >= 0.6 * len(spoken), (reference, transcript)
    assert abs(100 * wer(refs, heard) - pte) < 0.051                              # the table's WER is these texts'


def test_run_command_on_the_mixed_pte(mixed_pte, held_out_dir, capsys):
    """`myqasr run`: the same transcripts as the report's .pte run (the runtime is deterministic), with timings."""
    from myqasr_export.cli import main

    rows = report_rows(mixed_pte.sidecar(".report.md").read_text())
    wavs = sorted(held_out_dir.glob("*.wav"))[:2]
    capsys.readouterr()
    assert main(["run", str(mixed_pte.pte), *map(str, wavs), "--threads", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for wav, line in zip(wavs, lines):
        assert line.startswith(f"{wav}: {rows[wav.name][1]!r} |"), line
        assert "RTF" in line and "encode" in line and "threads 1" in line
    assert lines[2].startswith("2 clips, load ")


# ------------------------------------------------------------------------------------ failure paths (tiny Whisper)

class Tiny:
    """A tiny random Whisper, two clips, their statistics, and a budget above the model's fp32 size: every plan of
    these tests (the replans below the budget included) is the same scheme, lowered once (conftest.ProgramCache);
    each personalize run still writes, verifies, renames and cleans up for real."""

    def __init__(self, root: Path, user_clips, cache):
        from myqasr.models import load_model
        from myqasr.plan import compute_statistics, uniform_bytes
        from myqasr.stats import save_statistics
        from tiny_models import tiny_whisper

        self.dir = tiny_whisper(root)
        self.loaded = load_model(self.dir)
        self.clips = user_clips[:2]
        self.clips_dir = copy_clips([c.path for c in self.clips], root / "clips")
        self.stats = compute_statistics(self.loaded, self.clips, progress=False)
        self.stats_file = root / "stats.safetensors"
        save_statistics(self.stats, self.stats_file)
        self.fp32 = uniform_bytes(self.loaded, 0)
        self.budget_mb = round((self.fp32 + 300_000) / MB, 3)    # replans 3 x 50 kB lower are still all fp32
        self.cache = cache

    def personalize(self, out, **kw):
        from myqasr_export.personalize import personalize
        with lowering_once(self.cache):
            return personalize(self.loaded, self.clips, self.budget_mb, out, stats=self.stats, progress=False,
                               threads=1, **kw)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, user_clips, program_cache):
    return Tiny(tmp_path_factory.mktemp("tiny_personalize"), user_clips, program_cache)


def failing_verification(monkeypatch, calls: list):
    """verify_pte returns a real report whose delegation gate found an op outside XNNPACK."""
    from myqasr_export import verify
    from myqasr_export.verify import VerifyReport

    def fake(pte_path, scheme, loaded, clips, **kw):
        calls.append(Path(pte_path))
        assert Path(pte_path).is_file()
        return VerifyReport(gate_offending={"encoder": {"aten::linear.out": 1}, "text_decoder": {}})
    monkeypatch.setattr(verify, "verify_pte", fake)


def old_pair(out: Path) -> None:
    out.write_bytes(b"the user's old, working model")
    out.with_name(out.name[:-4] + ".vocab.json").write_bytes(b"its vocabulary")


def assert_old_pair(out: Path) -> None:
    assert out.read_bytes() == b"the user's old, working model"
    assert out.with_name(out.name[:-4] + ".vocab.json").read_bytes() == b"its vocabulary"


def test_verification_failure_writes_nothing_under_the_requested_name(tiny, tmp_path, monkeypatch):
    out = tmp_path / "model.pte"
    old_pair(out)
    calls = []
    failing_verification(monkeypatch, calls)
    with pytest.raises(MyqasrError) as e:
        tiny.personalize(out)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{out}: verification failed (ops outside the XNNPACK delegate")
    assert "aten::linear.out" in msg and "nothing written" in msg and "model.scheme.json" in msg
    assert calls == [tmp_path / ".model.unverified.pte"]                # verified under a hidden temp name
    assert_old_pair(out)                                                # the user's model is untouched
    assert listing(tmp_path) == ["model.pte", "model.scheme.json", "model.scheme.scales.safetensors",
                                 "model.vocab.json"]                    # no candidate, no report


def test_keep_failed_from_the_cli_keeps_the_pair_under_the_failed_name(tiny, tmp_path, monkeypatch, capsys):
    from myqasr_export.cli import main

    out = tmp_path / "model.pte"
    calls = []
    failing_verification(monkeypatch, calls)
    capsys.readouterr()
    with lowering_once(tiny.cache):
        code = main(["personalize", "--model", tiny.dir, "--clips", str(tiny.clips_dir), "--stats",
                     str(tiny.stats_file), "--budget-mb", str(tiny.budget_mb), "--out", str(out), "--keep-failed",
                     "--threads", "1"])
    err = [l for l in capsys.readouterr().err.strip().splitlines() if l.startswith("myqasr")]
    assert code == 2 and len(err) == 1 and err[0].startswith("myqasr: error: ") and "verification failed" in err[0]
    failed = tmp_path / "model.failed.pte"
    assert f"kept as {failed}" in err[0] and len(calls) == 1
    assert listing(tmp_path) == ["model.failed.pte", "model.failed.vocab.json", "model.scheme.json",
                                 "model.scheme.scales.safetensors"]
    vocab = json.loads((tmp_path / "model.failed.vocab.json").read_text())
    assert vocab["pte_sha256"] == sha256(failed)                        # the kept pair belongs together


class Sizes:
    """pte_bytes with an overshoot: the first `times` measurements report `budget + over` bytes."""

    def __init__(self, monkeypatch, budget: int, over: int, times: int):
        from myqasr_export import size

        self.real, self.budget, self.over, self.times, self.calls = size.pte_bytes, budget, over, times, 0
        monkeypatch.setattr(size, "pte_bytes", self)

    def __call__(self, path):
        self.calls += 1
        return self.budget + self.over if self.calls <= self.times else self.real(path)


def record_plans(monkeypatch) -> list:
    import myqasr.plan as plan_module

    real, targets = plan_module.plan, []

    def plan(loaded, stats, budget_mb, *a, **k):
        targets.append(round(budget_mb * MB))
        return real(loaded, stats, budget_mb, *a, **k)
    monkeypatch.setattr(plan_module, "plan", plan)
    return targets


def test_overshoot_replans_below_the_overshoot(tiny, tmp_path, monkeypatch):
    out = tmp_path / "model.pte"
    budget = round(tiny.budget_mb * MB)
    sizes = Sizes(monkeypatch, budget, over=30_000, times=1)
    targets = record_plans(monkeypatch)
    result = tiny.personalize(out)
    assert result.tries == 2 and sizes.calls == 2
    assert targets[0] == budget and targets[1] <= budget - 30_000, targets   # the second plan is below the overshoot
    assert result.predicted_bytes <= targets[1] and result.real_bytes == out.stat().st_size <= budget
    assert result.verify.ok
    assert "fits, 2 exports)" in Path(result.report_path).read_text()
    assert listing(tmp_path) == ["model.pte", "model.report.md", "model.scheme.json",
                                 "model.scheme.scales.safetensors", "model.vocab.json"]


def test_overshoot_on_every_try_is_an_error_after_3_tries(tiny, tmp_path, monkeypatch):
    out = tmp_path / "model.pte"
    old_pair(out)
    budget = round(tiny.budget_mb * MB)
    Sizes(monkeypatch, budget, over=30_000, times=99)
    targets = record_plans(monkeypatch)
    with pytest.raises(MyqasrError) as e:
        tiny.personalize(out)
    msg = str(e.value)
    assert "\n" not in msg and "exceeds the budget" in msg and "after 3 tries" in msg and "0.03 MB lower" in msg
    assert len(targets) == 3 and targets[0] > targets[1] > targets[2], targets
    assert_old_pair(out)
    assert listing(tmp_path) == ["model.pte", "model.scheme.json", "model.scheme.scales.safetensors",
                                 "model.vocab.json"]


def test_a_failed_final_rename_keeps_the_users_old_pair(tiny, tmp_path, monkeypatch):
    """Verification passed, the .pte is renamed into place, then the vocabulary rename fails: the old pair is back."""
    import errno
    import os

    from myqasr import fileio

    out = tmp_path / "model.pte"
    old_pair(out)
    real = os.replace

    def replace(src, dst):
        if Path(dst) == tmp_path / "model.vocab.json":
            raise OSError(errno.EIO, "Input/output error")
        return real(src, dst)
    monkeypatch.setattr(fileio.os, "replace", replace)
    with pytest.raises(MyqasrError, match="model.vocab.json: cannot write output"):
        tiny.personalize(out)
    assert_old_pair(out)
    assert not [n for n in listing(tmp_path) if n.startswith(".")], listing(tmp_path)
