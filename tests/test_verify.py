"""Verification tells rounding noise from a broken export (the verification issue's regression cases).

The real case: flite slt reading 16 sentences outside the panel's, personalized at 40 MB. The old criterion (largest
single element of the encoder's K/V over the largest reference value <= 0.10) deleted this correct model (0.118);
it must pass, under the requested name, and nothing else may be left behind. Then the same real `.pte` is checked
against references that compute other numbers than it does, as a broken export would (one layer's weights doubled,
one int4 layer's group scales in reversed order, one layer's output dropped): each must fail.
"""
import sys
from pathlib import Path

import pytest

from myqasr.audio import load_clips
from myqasr.quant import dequantize_weight, quantize_weight
from myqasr.simulate import simulate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="module")
def slt_other_clips(tmp_path_factory):
    """flite slt reading sentences 16-31 of the benchmark list (the panel reads 0-15), rendered offline."""
    from benchmarks.voices import VOICES_BY_USER, render

    out = tmp_path_factory.mktemp("slt_other")
    render(out, [(VOICES_BY_USER["flite_slt"], i, out / "slt" / f"{i:03d}.wav") for i in range(16, 32)])
    return load_clips(out / "slt")


@pytest.fixture(scope="module")
def slt40(embedded, slt_other_clips, tmp_path_factory):
    from myqasr_export.personalize import personalize

    out = tmp_path_factory.mktemp("slt40") / "m40.pte"
    result = personalize(embedded, slt_other_clips, 40.0, out, threads=2, progress=False)
    return result, out


def test_a_correct_model_of_an_ordinary_user_passes_and_keeps_its_name(slt40):
    result, out = slt40
    rep = result.verify
    assert rep.ok and rep.failed_checks() == [], rep.summary()
    assert rep.summary().startswith("verify: PASS") and "FAIL" not in rep.summary()
    assert rep.n_clips == 8 and rep.n_tokens > 8 * 5 and rep.n_real_disagreements == 0
    assert out.is_file() and out.with_name("m40.vocab.json").is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["m40.pte", "m40.report.md", "m40.scheme.json",
                                                            "m40.scheme.scales.safetensors", "m40.vocab.json"]
    assert out.stat().st_size <= 40_000_000


def _doubled(sim, scheme, layer):
    sim.get_submodule(layer).weight.data *= 2.0


def _groups_reversed(sim, scheme, layer):
    plan = scheme.plan(layer)
    scale = scheme.weight_scales[plan.weight_scale_key]
    w = sim.get_submodule(layer).weight.data
    q = quantize_weight(w, plan.format, scale)
    w.copy_(dequantize_weight(q, plan.format, scale.flip(-1)))


def _output_dropped(sim, scheme, layer):
    sim.get_submodule(layer).weight.data.zero_()


def _first(scheme, kind: str, format_prefix: str, where: str) -> str:
    return next(p.name for p in scheme.layers
                if p.layer.kind == kind and p.format.name.startswith(format_prefix) and where in p.name)


@pytest.mark.parametrize("fault,kind,fmt,where", [
    (_doubled, "linear", "int8", "encoder.layers.0"),
    (_groups_reversed, "linear", "int4", "layers"),
    (_output_dropped, "linear", "int8", "decoder.layers"),
])
def test_a_pte_that_computes_other_numbers_fails(embedded, slt40, slt_other_clips, fault, kind, fmt, where):
    from myqasr.scheme import load_scheme
    from myqasr_export.verify import verify_pte

    result, out = slt40
    scheme = load_scheme(result.scheme_path)
    layer = _first(scheme, kind, fmt, where)
    sim = simulate(embedded.model, scheme)
    fault(sim, scheme, layer)
    rep = verify_pte(out, scheme, embedded, slt_other_clips[:2], sim_model=sim, threads=2)
    assert not rep.ok and rep.failed_checks(), (layer, rep.summary())
    assert rep.summary().startswith("verify: FAIL")


def test_scores_are_comparable_across_clips_and_models(embedded, slt40, slt_other_clips):
    """The per-clip numbers behind the verdict: worst-clip RMS errors are the max over the clips, and a correct
    export scores the simulated transcript about as well as the simulation itself."""
    result, _ = slt40
    rep = result.verify
    assert rep.diffs["encoder"]["rms_rel"] == pytest.approx(max(c["encoder"] for c in rep.per_clip))
    assert rep.diffs["logits"]["rms_rel"] == pytest.approx(max(c["logits"] for c in rep.per_clip))
    assert abs(rep.logprob_pte - rep.logprob_sim) < 0.1
