"""Searched calibration (cosine, hessian) on the real embedded Whisper tiny.en.

The searched scales are judged on *held-out* clips (the sample user's test sentences, never seen by the search)
and with the SDK's own simulator: the layer modules that `simulate` builds from a scheme are fed the fp32 model's
inputs of that layer, and their outputs are compared with the fp32 layer's outputs.
"""
import os
import sys

import pytest
import torch
import torch.nn.functional as F

from myqasr import search
from myqasr.adapters import own_transcripts
from myqasr.adapters import adapter_for
from myqasr.audio import SAMPLE_USER_DIR, load_clips
from myqasr.calibrate import calibrate_minmax
from myqasr.formats import get_ladder
from myqasr.scheme import load_scheme
from myqasr.simulate import simulate

sys.path.insert(0, os.path.dirname(__file__))

LAYERS = ("model.encoder.conv1", "model.encoder.layers.1.fc1", "model.decoder.layers.2.fc2")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread here: on a shared 2-core machine two OpenMP threads spin-wait on each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def setup(embedded, user_clips, user_stats):
    adapter = adapter_for("whisper", embedded.processor)
    layers = [l for l in adapter.layers(embedded.model) if l.name in LAYERS]
    ladder = get_ladder("xnnpack")
    # the lowest rung of the phone ladder: int8 conv (static activations), int4 per-group linears
    formats = {l.name: ladder[l.kind][-1] for l in layers}
    clips, stats = user_clips, user_stats           # the session's statistics pass (conftest.py)
    held_out = load_clips(SAMPLE_USER_DIR / "test")[:4]
    return adapter, layers, formats, clips, stats, held_out


@pytest.fixture(scope="module")
def held_out_io(embedded, setup):
    """fp32 (input, output) of every test layer on the held-out clips, padding dropped."""
    adapter, layers, formats, clips, stats, held_out = setup
    audios = [c.audio for c in held_out]
    ids = own_transcripts(embedded.model, adapter, audios, batch_size=8)
    io = {l.name: [] for l in layers}
    ctx, handles = {}, []
    for l in layers:
        def hook(module, inputs, output, l=l):
            io[l.name].append((inputs[0].detach().clone(), output.detach().clone(), dict(ctx)))
        handles.append(embedded.model.get_submodule(l.name).register_forward_hook(hook))
    try:
        for audio, seq in zip(audios, ids):
            ctx.clear()
            ctx.update(adapter.stats_context(audio))
            adapter.stats_forward(embedded.model, audio, seq)
    finally:
        for h in handles:
            h.remove()
    return io


def sim_scheme(loaded, layers, formats, weight_scales, act_scales):
    from myqasr.scheme import LayerPlan, Scheme
    plans = [LayerPlan(l, formats[l.name], 0.0, {}, *act_scales.get(l.name, (None, None))) for l in layers]
    return Scheme(loaded.model_id, loaded.arch, loaded.weights_sha256, "xnnpack", plans, weight_scales, 0, 0)


def held_out_errors(embedded, setup, io, scales):
    """Per layer: mean cosine similarity per row (token / frame, across channels) and MSE, on held-out clips."""
    adapter, layers, formats, _, _, _ = setup
    weight_scales, act_scales = scales
    sim = simulate(embedded.model, sim_scheme(embedded, layers, formats, weight_scales, act_scales))
    out = {}
    with torch.no_grad():
        for l in layers:
            module = sim.get_submodule(l.name)
            ys, yqs = [], []
            for x, y, ctx in io[l.name]:
                yq = module(x)
                ys.append(search._as_rows(adapter.trim(l.name, y, ctx, False), l.kind))
                yqs.append(search._as_rows(adapter.trim(l.name, yq, ctx, False), l.kind))
            y, yq = torch.cat(ys), torch.cat(yqs)
            out[l.name] = (float(F.cosine_similarity(y, yq, dim=1).mean()), float(((y - yq) ** 2).mean()))
    return out


@pytest.mark.parametrize("method", search.METHODS)
def test_search_beats_minmax_on_held_out_clips(embedded, setup, held_out_io, method):
    adapter, layers, formats, clips, stats, _ = setup
    minmax = calibrate_minmax(embedded.model, layers, formats, stats)
    searched = search.calibrate(embedded, layers, formats, stats, clips, method=method, progress=False)
    # same shapes and keys as min-max; the conv keeps static activation scales
    assert searched[0].keys() == minmax[0].keys() and searched[1].keys() == minmax[1].keys()
    for k, v in minmax[0].items():
        assert searched[0][k].shape == v.shape and torch.all(searched[0][k] > 0)
    assert all(s > 0 for pair in searched[1].values() for s in pair)
    assert any(not torch.equal(searched[0][k], minmax[0][k]) for k in minmax[0])   # the search moved something
    before = held_out_errors(embedded, setup, held_out_io, minmax)
    after = held_out_errors(embedded, setup, held_out_io, searched)
    for name in LAYERS:
        (cos0, mse0), (cos1, mse1) = before[name], after[name]
        assert cos1 >= cos0 - 1e-4 and mse1 <= mse0 * 1.10, (method, name, before[name], after[name])
    # and on average over the layers a clear gain in output error
    gain = sum(after[n][1] / before[n][1] for n in LAYERS) / len(LAYERS)
    assert gain < 0.97, (method, before, after)


def test_search_respects_formats(embedded, setup):
    """Per-channel scales for int8, per-group for int4; weights rounded onto the format's own grid."""
    adapter, layers, formats, clips, stats, _ = setup
    head = next(l for l in adapter.layers(embedded.model) if l.name == "model.decoder.embed_tokens")
    layers, formats = layers + [head], {**formats, head.name: get_ladder("xnnpack")["embedding"][-1]}
    ws, acts = search.calibrate(embedded, layers, formats, stats, clips[:2], method="cosine", progress=False,
                                max_tokens=256, group_sweeps=0, rounds=1)
    assert ws["model.encoder.conv1.weight_scale"].shape == (384,)
    assert ws["model.encoder.layers.1.fc1.weight_scale"].shape == (1536, 384 // 32)
    assert ws["model.decoder.embed_tokens.weight_scale"].shape == (51864, 384 // 32)
    assert set(acts) == {"model.encoder.conv1"}
    sim = simulate(embedded.model, sim_scheme(embedded, layers, formats, ws, acts))
    w = sim.get_submodule("model.encoder.layers.1.fc1").weight
    q = w.reshape(1536, -1, 32) / ws["model.encoder.layers.1.fc1.weight_scale"].unsqueeze(-1)
    assert torch.allclose(q, q.round(), atol=1e-3) and q.abs().max() <= 7 + 1e-3


@pytest.fixture(scope="module")
def two_clips(embedded, user_clips_dir, tmp_path_factory):
    """Two of the user's clips in a folder of their own, and their statistics file (one pass for both methods)."""
    from conftest import copy_clips
    from myqasr.plan import compute_statistics
    from myqasr.stats import save_statistics

    d = copy_clips(sorted(user_clips_dir.glob("*.wav"))[:2], tmp_path_factory.mktemp("two_clips"))
    stats = d.parent / "two.safetensors"
    save_statistics(compute_statistics(embedded, load_clips(d), progress=False), stats)
    return d, stats


@pytest.mark.parametrize("method", search.METHODS)
def test_cli_plan_with_searched_calibration(session_model, two_clips, tmp_path, method, capsys):
    """`myqasr plan --calibration cosine|hessian` on the embedded model, 2 clips, at the all-int8 size."""
    from myqasr.plan import uniform_bytes
    from myqasr_export.cli import main
    from myqasr.size import MB
    embedded = session_model
    layers = adapter_for("whisper", embedded.processor).layers(embedded.model)
    int8 = uniform_bytes(embedded, 1)
    clips, stats = two_clips
    out = tmp_path / f"{method}.json"
    budget = f"{(int8 + 1000) / MB:.3f}"
    assert main(["plan", "--clips", str(clips), "--stats", str(stats), "--budget-mb", budget,
                 "--calibration", method, "--out", str(out)]) == 0
    scheme = load_scheme(out)
    assert scheme.calibration["method"] == method and scheme.predicted_bytes <= int8 + 1000
    assert {p.format.name for p in scheme.layers} == {"int8_pc_da8", "int8_pc_sa8", "int8_pc"}
    minmax = calibrate_minmax(embedded.model, layers, scheme.formats(), load_stats_free(scheme))
    moved = [k for k in minmax[0] if not torch.equal(scheme.weight_scales[k], minmax[0][k])]
    assert len(moved) > len(layers) // 2           # the search, not min-max, chose most layers' scales
    text = capsys.readouterr().out
    assert f"calibration {method}" in text and "reusing statistics" in text


def load_stats_free(scheme):
    """Min-max weight scales need no statistics; only the static activation scales do (not compared here)."""
    from myqasr.stats import Statistics
    layers = {p.name: {"input_abs_max": 1.0, "abs_max": 1.0} for p in scheme.layers}
    return Statistics("", "", {}, layers)


@pytest.mark.parametrize("method", search.METHODS)
def test_search_on_tiny_wav2vec2(tmp_path, method):
    """The CTC path: raw-waveform convs (1 input channel, stride 5), the grouped weight-normed positional conv."""
    import numpy as np
    from tiny_models import tiny_wav2vec2
    from myqasr.models import load_model
    from myqasr.stats import collect_statistics
    loaded = load_model(tiny_wav2vec2(tmp_path))
    adapter = adapter_for("wav2vec2", loaded.processor)
    layers = adapter.layers(loaded.model)
    ladder = get_ladder("xnnpack")
    formats = {l.name: ladder[l.kind][-1] for l in layers}
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(8000).astype(np.float32) * 0.1 for _ in range(2)]
    stats = collect_statistics(loaded.model, adapter, clips, layers, progress=False)
    minmax = calibrate_minmax(loaded.model, layers, formats, stats)
    ws, acts = search.calibrate(loaded, layers, formats, stats, clips, method=method, progress=False)
    assert ws.keys() == minmax[0].keys() and acts.keys() == minmax[1].keys()
    assert all(ws[k].shape == v.shape and torch.all(ws[k] > 0) for k, v in minmax[0].items())
    pos = next(l for l in layers if "pos_conv" in l.name)
    assert loaded.model.get_submodule(pos.name).groups > 1 and acts[pos.name][0] > 0


def test_fused_fake_quant_is_bit_exact():
    """The search's fused fake-quant computes exactly what quant.fake_quant_weight (and so simulate) computes."""
    from myqasr.formats import int_format
    from myqasr.quant import fake_quant_weight, minmax_weight_scale
    g = torch.Generator().manual_seed(0)
    w = torch.randn(48, 96, generator=g) * torch.rand(48, 1, generator=g)
    for fmt in (int_format(8, "linear"), int_format(4, "linear", 32), int_format(8, "conv1d")):
        for m in (0.5, 0.83, 1.0, 1.2):
            scale = minmax_weight_scale(w, fmt) * m
            assert torch.equal(search.fake_quant(w, fmt, scale), fake_quant_weight(w, fmt, scale))
