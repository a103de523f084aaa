"""End-to-end planning on the real converted Whisper tiny.en: statistics -> allocation -> calibration -> scheme.

The statistics pass is the session's (`user_stats`, conftest.py): one pass serves every test here."""
import math

import pytest
import torch

from myqasr.adapters import adapter_for, rest_params
from myqasr.allocate import allocate_round_robin, size_range, smallest_step, uniform
from myqasr.errors import MyqasrError
from myqasr.evaluate import wer
from myqasr.formats import get_ladder
from myqasr.plan import PlanConfig, compute_statistics, plan
from myqasr.scheme import load_scheme, save_scheme
from myqasr.simulate import simulate
from myqasr.size import MB, PROFILES, model_bytes

from optimality import check_allocation

XNN = get_ladder("xnnpack")


@pytest.fixture(scope="module")
def parts(embedded):
    layers = adapter_for("whisper", embedded.processor).layers(embedded.model)
    return layers, rest_params(embedded.model, layers)


@pytest.fixture(scope="module")
def fp_texts(embedded, user_clips):
    """The full-precision model's transcripts of the user's clips."""
    return adapter_for("whisper", embedded.processor).transcribe(embedded.model, [c.audio for c in user_clips])


def test_statistics_cover_every_layer_and_exclude_padding(embedded, user_clips, user_stats):
    stats, clips = user_stats, user_clips
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
    from myqasr.audio import clips_hash
    assert stats.clips["count"] == len(clips) and stats.clips["sha256"] == clips_hash(clips)
    assert stats.weights_sha256 == embedded.weights_sha256


def test_allocation_on_tiny_en_fits_and_is_maximal_over_a_budget_sweep(user_stats, parts):
    """The real layer list and sensitivities, every order: each plan fits, keeps the uniformity constraint, and no
    layer could step up within it and still fit."""
    layers, rest = parts
    prof = PROFILES["xnnpack"]
    smallest, largest = size_range(layers, XNN, rest, prof)
    sens = user_stats.metric("median")
    for order in ("ascending", "descending"):
        for k in range(0, 31):
            budget = smallest + (largest - smallest) * k // 30
            check_allocation(layers, XNN, allocate_round_robin(layers, sens, budget, XNN, rest, prof, order), budget, rest, prof)


def test_one_statistics_pass_serves_every_budget(embedded, user_stats, parts, monkeypatch):
    """plan() never runs a forward pass; smaller budgets give strictly smaller maximal plans (the paper's walk;
    the knapsack's sweep is in test_knapsack)."""
    import myqasr.plan as plan_module

    def no_pass(*a, **k):
        raise AssertionError("plan() ran a statistics pass")
    monkeypatch.setattr(plan_module, "collect_statistics", no_pass)
    layers, rest = parts
    prof = PROFILES["xnnpack"]
    smallest, largest = size_range(layers, XNN, rest, prof)
    prev = None
    for frac in (1.0, 0.6, 0.4, 0.25, 0.1, 0.0):
        budget_mb = (smallest + frac * (largest - smallest)) / MB
        scheme = plan(embedded, user_stats, budget_mb, PlanConfig(allocator="myqasr"))
        budget = round(budget_mb * MB)
        assert scheme.budget_bytes == budget and scheme.clips == user_stats.clips
        check_allocation(layers, XNN, scheme.formats(), budget, rest, prof)
        assert prev is None or scheme.predicted_bytes < prev
        prev = scheme.predicted_bytes
        assert set(scheme.weight_scales) == {p.weight_scale_key for p in scheme.layers if p.format.quantized}
    with pytest.raises(MyqasrError, match="smallest reachable size"):
        plan(embedded, user_stats, smallest / MB - 0.5)
    with pytest.raises(MyqasrError, match="positive"):
        plan(embedded, user_stats, 0)


def test_statistics_of_other_weights_are_refused(embedded, user_stats):
    import dataclasses
    other = dataclasses.replace(user_stats, weights_sha256="f" * 64)
    with pytest.raises(MyqasrError, match="computed on other weights than model 'embedded:whisper-tiny.en'"):
        plan(embedded, other, 45.0)
    partial = dataclasses.replace(user_stats, layers={k: v for k, v in user_stats.layers.items() if k != "proj_out"})
    with pytest.raises(MyqasrError, match="lack 1 layer"):
        plan(embedded, partial, 45.0)


def test_all_int8_budget_keeps_wer_within_one_point(embedded, user_stats, user_clips, parts, fp_texts):
    layers, rest = parts
    int8 = model_bytes(layers, uniform(layers, XNN, 1), rest, PROFILES["xnnpack"])
    scheme = plan(embedded, user_stats, int8 / MB, PlanConfig(allocator="myqasr"))
    assert {p.format.bits for p in scheme.layers} == {8}
    adapter = adapter_for("whisper", embedded.processor)
    refs = [c.text for c in user_clips]
    fp = wer(refs, fp_texts)
    sim_texts = adapter.transcribe(simulate(embedded.model, scheme), [c.audio for c in user_clips])
    q = wer(refs, sim_texts)
    assert fp <= 0.15, fp_texts                                        # the fp32 model hears these sentences
    assert q <= fp + 0.01, (fp, q, sim_texts)


def test_scheme_file_roundtrip_on_real_model(embedded, user_stats, tmp_path):
    scheme = plan(embedded, user_stats, 45.0, PlanConfig(order="descending"))
    back = load_scheme(save_scheme(scheme, tmp_path / "s.json"))
    assert back.formats() == scheme.formats() and back.allocation["order"] == "descending"
    assert back.predicted_bytes == scheme.predicted_bytes and back.budget_bytes == 45_000_000
    assert all(torch.equal(back.weight_scales[k], v) for k, v in scheme.weight_scales.items())
    convs = [p for p in back.layers if p.layer.kind == "conv1d" and p.format.quantized]
    assert convs and all(p.input_scale > 0 and p.output_scale > 0 for p in convs)


def test_research_ladder_plans_neighbouring_widths_that_transcribe(embedded, user_stats, user_clips, parts,
                                                                  fp_texts):
    """The paper's ladder, 8/6/4/3 bits, at 40 MB of the paper's accounting: a maximal plan on the two rungs whose
    uniform sizes enclose the budget, whose simulated model still transcribes the user's sentences."""
    layers, rest = parts
    config = PlanConfig(allocator="myqasr", ladder="research", bits=(8, 6, 4, 3))
    scheme = plan(embedded, user_stats, 40.0, config)
    lad = get_ladder("research", bits=(8, 6, 4, 3))
    check_allocation(layers, lad, scheme.formats(), 40_000_000, rest, PROFILES["research"])
    widths = sorted({p.format.bits for p in scheme.layers})
    uniform_sizes = [model_bytes(layers, uniform(layers, lad, r), rest, PROFILES["research"]) for r in range(5)]
    r = next(r for r in range(4) if uniform_sizes[r + 1] <= 40_000_000 < uniform_sizes[r])
    assert widths == sorted({(32, 8, 6, 4, 3)[r], (32, 8, 6, 4, 3)[r + 1]}), (widths, uniform_sizes)
    assert scheme.backend == "research" and scheme.allocation["bits"] == [8, 6, 4, 3]
    refs = [c.text for c in user_clips]
    texts = adapter_for("whisper", embedded.processor).transcribe(simulate(embedded.model, scheme),
                                                                   [c.audio for c in user_clips])
    assert wer(refs, texts) <= wer(refs, fp_texts) + 0.05, texts


def _ctc_greedy_words(logits: torch.Tensor, vocab: dict[int, str]) -> list[str]:
    """Greedy CTC written out here: argmax per frame, collapse repeats, drop <pad> (the blank), '|' splits words."""
    out, prev = [], None
    for i in logits.argmax(-1).tolist():
        if i != prev and i != 0:
            out.append(" " if vocab[i] == "|" else vocab[i])
        prev = i
    return "".join(out).split()


def test_wav2vec2_ctc_plan_simulate_and_transcribe(tmp_path, user_clips):
    """Wav2Vec2ForCTC end to end on a small random-weight model (no real wav2vec2 weights are reachable offline)."""
    from tiny_models import WAV2VEC2_VOCAB, tiny_wav2vec2
    from myqasr.models import load_model
    loaded = load_model(tiny_wav2vec2(tmp_path))
    clips = user_clips[:2]
    assert loaded.arch == "wav2vec2"
    stats = compute_statistics(loaded, clips, progress=False)
    layers = adapter_for("wav2vec2", loaded.processor).layers(loaded.model)
    kinds = {l.kind for l in layers}
    assert kinds == {"linear", "conv1d"} and "lm_head" in stats.layers
    assert any("pos_conv_embed" in l.name for l in layers)   # the weight-normed positional conv is quantized too
    rest = rest_params(loaded.model, layers)
    smallest, largest = size_range(layers, XNN, rest, PROFILES["xnnpack"])
    budget = (smallest + largest) // 2
    scheme = plan(loaded, stats, budget / MB, PlanConfig(allocator="knapsack"))
    assert set(stats.costs) == {l.name for l in layers} and all(v > 0 for c in stats.costs.values() for v in c.values())
    size = model_bytes(layers, scheme.formats(), rest, PROFILES["xnnpack"])
    assert budget - smallest_step(layers, XNN, PROFILES["xnnpack"]) < size <= budget
    paper = plan(loaded, stats, budget / MB, PlanConfig(allocator="myqasr"))
    check_allocation(layers, XNN, paper.formats(), round(budget / MB * MB), rest, PROFILES["xnnpack"])
    assert scheme.arch == "wav2vec2" and any(p.format.quantized for p in scheme.layers)
    sim = simulate(loaded.model, scheme)
    adapter = adapter_for("wav2vec2", loaded.processor)
    texts = adapter.transcribe(sim, [c.audio for c in clips])
    vocab = dict(enumerate(WAV2VEC2_VOCAB))
    with torch.no_grad():
        for clip, text in zip(clips, texts):
            x = adapter.inputs(clip.audio)
            fp, q = loaded.model(x).logits, sim(x).logits
            assert fp.shape == q.shape and 0 < float((fp - q).abs().max()) < float(fp.abs().max())
            assert text.split() == _ctc_greedy_words(q[0], vocab)     # the simulated model's own CTC decode
            assert text, "the random model emits some characters on speech"
