"""End-to-end planning on the real converted Whisper tiny.en: statistics -> allocation -> calibration -> scheme."""
import math

import pytest

from myqasr.adapters import adapter_for, rest_params
from myqasr.allocate import size_range
from myqasr.audio import load_clips
from myqasr.errors import MyqasrError
from myqasr.formats import get_ladder
from myqasr.plan import PlanConfig, compute_statistics, plan
from myqasr.scheme import load_scheme, save_scheme
from myqasr.simulate import simulate
from myqasr.size import MB, PROFILES, model_bytes


@pytest.fixture(scope="module")
def clips(user_clips_dir):
    return load_clips(user_clips_dir, with_text=True)


@pytest.fixture(scope="module")
def stats(embedded, clips):
    return compute_statistics(embedded, clips, progress=False)


def test_statistics_cover_every_layer_and_exclude_padding(embedded, clips, stats):
    adapter = adapter_for("whisper", embedded.processor)
    layers = adapter.layers(embedded.model)
    names = [l.name for l in layers]
    assert set(stats.layers) == set(names)
    assert "model.decoder.embed_tokens" in names and "proj_out" in names      # tied: two layers, two statistics
    assert next(l for l in layers if l.name == "proj_out").tied_to == "model.decoder.embed_tokens"
    assert stats.layers["proj_out"]["median"] > 10 * stats.layers["model.decoder.embed_tokens"]["median"]
    assert not any("embed_positions" in n for n in names)
    enc_frames = sum(math.ceil(min(3000, len(c.audio) // 160 + 1) / 2) for c in clips)
    assert stats.layers["model.encoder.layers.0.fc1"]["count"] == enc_frames * 1536
    assert stats.layers["model.encoder.layers.0.fc1"]["count"] < len(clips) * 1500 * 1536 / 2
    assert all(s["median"] > 0 and s["abs_max"] >= s["p999"] >= s["median"] for s in stats.layers.values())
    assert stats.clips["count"] == len(clips) and len(stats.clips["sha256"]) == 64


def test_one_statistics_pass_serves_every_budget(embedded, stats):
    layers = adapter_for("whisper", embedded.processor).layers(embedded.model)
    lad, prof = get_ladder("xnnpack"), PROFILES["xnnpack"]
    smallest, largest = size_range(layers, lad, rest_params(embedded.model, layers), prof)
    prev_bits = None
    for frac in (1.0, 0.6, 0.4, 0.25, 0.1, 0.0):
        budget = (smallest + frac * (largest - smallest)) / MB
        scheme = plan(embedded, stats, budget)
        assert scheme.predicted_bytes <= round(budget * MB)
        assert scheme.predicted_bytes == model_bytes(layers, scheme.formats(), scheme.rest_params, prof)
        bits = sum(p.format.bits * p.layer.numel for p in scheme.layers)
        assert prev_bits is None or bits <= prev_bits
        prev_bits = bits
    with pytest.raises(MyqasrError, match="smallest reachable size"):
        plan(embedded, stats, smallest / MB - 0.5)
    with pytest.raises(MyqasrError, match="positive"):
        plan(embedded, stats, 0)


def test_all_int8_budget_keeps_wer_within_one_point(embedded, stats, clips):
    from myqasr.evaluate import wer
    layers = adapter_for("whisper", embedded.processor).layers(embedded.model)
    int8 = model_bytes(layers, {l.name: get_ladder("xnnpack")[l.kind][1] for l in layers},
                       rest_params(embedded.model, layers), PROFILES["xnnpack"])
    scheme = plan(embedded, stats, int8 / MB)
    assert {p.format.bits for p in scheme.layers} == {8}
    adapter = adapter_for("whisper", embedded.processor)
    audios, refs = [c.audio for c in clips], [c.text for c in clips]
    fp = wer(refs, adapter.transcribe(embedded.model, audios))
    q = wer(refs, adapter.transcribe(simulate(embedded.model, scheme), audios))
    assert q <= fp + 0.01, (fp, q)


def test_scheme_file_roundtrip_on_real_model(embedded, stats, tmp_path):
    scheme = plan(embedded, stats, 45.0, PlanConfig(order="descending"))
    back = load_scheme(save_scheme(scheme, tmp_path / "s.json"))
    assert back.formats() == scheme.formats() and back.allocation["order"] == "descending"
    convs = [p for p in back.layers if p.layer.kind == "conv1d" and p.format.quantized]
    assert convs and all(p.input_scale > 0 and p.output_scale > 0 for p in convs)


def test_research_ladder_plans_paper_widths(embedded, stats):
    scheme = plan(embedded, stats, 40.0, PlanConfig(ladder="research", bits=(8, 6, 4, 3)))
    widths = {p.format.bits for p in scheme.layers}
    assert widths <= {32, 8, 6, 4, 3} and len(widths) <= 2


def test_wav2vec2_ctc_plan_simulate_and_transcribe(tmp_path, clips):
    """Wav2Vec2ForCTC end to end on a small random-weight model (no real wav2vec2 weights are reachable offline)."""
    from tiny_models import tiny_wav2vec2
    from myqasr.models import load_model
    loaded = load_model(tiny_wav2vec2(tmp_path))
    assert loaded.arch == "wav2vec2"
    stats = compute_statistics(loaded, clips[:2], progress=False)
    layers = adapter_for("wav2vec2", loaded.processor).layers(loaded.model)
    kinds = {l.kind for l in layers}
    assert kinds == {"linear", "conv1d"} and "lm_head" in stats.layers
    assert any("pos_conv_embed" in l.name for l in layers)   # the weight-normed positional conv is quantized too
    smallest, largest = size_range(layers, get_ladder("xnnpack"), rest_params(loaded.model, layers),
                                   PROFILES["xnnpack"])
    scheme = plan(loaded, stats, (smallest + largest) / 2 / MB)
    assert scheme.predicted_bytes <= (smallest + largest) / 2 and scheme.arch == "wav2vec2"
    assert any(p.format.quantized for p in scheme.layers)
    sim = simulate(loaded.model, scheme)
    adapter = adapter_for("wav2vec2", loaded.processor)
    texts = adapter.transcribe(sim, [c.audio for c in clips[:2]])
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
    import torch
    x = adapter.inputs(clips[0].audio)
    with torch.no_grad():
        fp, q = loaded.model(x).logits, sim(x).logits
    assert fp.shape == q.shape and 0 < float((fp - q).abs().max()) < float(fp.abs().max())
