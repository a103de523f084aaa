"""myqasr_export end to end with the real ExecuTorch runtime (no mocks): tiny random Whisper and Wav2Vec2-CTC models,
mixed schemes, the delegation gate, parity with `myqasr.simulate`, greedy ids, the vocabulary file, atomic writes."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from myqasr.errors import MyqasrError
from myqasr.formats import FP32, int_format

from conftest import lowering_once
from tiny_models import tiny_wav2vec2, tiny_whisper

PARITY_MAX_REL = 0.10    # .pte vs simulated logits of a tiny random model: max |diff| / max |ref|


def _noise_clips(n: int, seconds: float, seed: int = 0):
    from myqasr.audio import Clip

    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    return [Clip(f"noise{i}.wav", (0.1 * rng.standard_normal(t.size) + 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t))
                 .astype(np.float32)) for i in range(n)]


def _whisper_scheme(loaded):
    from schemes import ladder_formats, uniform_scheme

    fe = loaded.processor.feature_extractor
    calib = [{"input_features": fe(c.audio, sampling_rate=16000, return_tensors="pt").input_features,
              "decoder_input_ids": torch.tensor([[loaded.model.generation_config.decoder_start_token_id]])}
             for c in _noise_clips(2, 2.0, seed=1)]
    overrides = {"model.encoder.layers.0.fc1": int_format(4, "linear", 32),
                 "model.decoder.layers.1.fc2": int_format(4, "linear", 32),
                 "model.decoder.layers.0.self_attn.q_proj": int_format(4, "linear", 32),
                 "model.encoder.layers.1.self_attn.v_proj": FP32}
    return uniform_scheme(loaded.model, "whisper", ladder_formats("int8"), calib, overrides=overrides,
                          model_id=loaded.model_id, weights_sha256=loaded.weights_sha256)


@pytest.fixture(scope="module")
def whisper_export(tmp_path_factory, program_cache):
    from myqasr_export.exporter import export_scheme
    from myqasr.models import load_model

    tmp = tmp_path_factory.mktemp("export_whisper")
    loaded = load_model(tiny_whisper(tmp))
    scheme = _whisper_scheme(loaded)
    out = tmp / "tiny.pte"
    with lowering_once(program_cache):
        report = export_scheme(scheme, loaded, out, scheme_path="scheme.json")
    return loaded, scheme, report, out


def test_whisper_methods_gate_and_size(whisper_export):
    from myqasr_export.size import pte_bytes
    from myqasr_export.verify import file_gate

    loaded, scheme, report, out = whisper_export
    formats = {p.format.name for p in scheme.layers}
    assert {"int8_pc_da8", "int4_g32_da8", "int8_pc_sa8", "int8_pc", "fp32"} <= formats   # a really mixed scheme
    assert report.methods == ["encoder", "preprocessor", "text_decoder"]
    assert all(n > 0 for n in report.delegated_subgraphs.values())
    assert not any(file_gate(out).values()), "linear/conv/quant ops outside the XNNPACK delegate"
    assert report.pte_bytes == pte_bytes(out) == out.stat().st_size
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")], "temp files left behind"


def test_whisper_vocab_sidecar(whisper_export):
    import hashlib

    loaded, scheme, report, out = whisper_export
    d = json.loads(out.with_name("tiny.vocab.json").read_text(encoding="utf-8"))
    tok = loaded.processor.tokenizer
    assert d["format"] == "myqasr-vocab" and d["version"] == 1 and d["arch"] == "whisper"
    assert d["pte_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert d["model_id"] == loaded.model_id and d["scheme"] == "scheme.json" and d["sample_rate"] == 16000
    assert d["tokens"] == tok.convert_ids_to_tokens(list(range(len(tok))))
    gc = loaded.model.generation_config
    w = d["whisper"]
    assert w["decoder_start_ids"] == [gc.decoder_start_token_id, gc.no_timestamps_token_id]
    assert w["eos_id"] == w["first_special_id"] == gc.eos_token_id
    assert w["suppress_tokens"] == list(gc.suppress_tokens)
    assert w["begin_suppress_tokens"] == list(gc.begin_suppress_tokens)
    assert w["n_samples"] == 480000 and w["max_new_tokens"] == 128


def test_whisper_parity_and_greedy_ids(whisper_export):
    """The .pte computes what simulate() computes (verify_pte's verdict), and the host runner's greedy loop gives
    the simulated model's ids on every clip."""
    from myqasr_export.runner import PteModel
    from myqasr_export.verify import verify_pte

    loaded, scheme, report, out = whisper_export
    clips = _noise_clips(3, 3.0)
    rep = verify_pte(out, scheme, loaded, clips, threads=1)
    assert rep.ok and rep.gate_ok, rep.summary()
    assert rep.diffs["features"]["max_abs"] < 1e-3
    assert rep.n_clips == 3 and rep.n_equal == 3 and rep.n_tokens > 3, rep.mismatches
    from myqasr.adapters import adapter_for
    from myqasr.simulate import simulate
    sim = simulate(loaded.model, scheme)
    ref_ids = adapter_for("whisper", loaded.processor).generate_ids(sim, [c.audio for c in clips])
    pte = PteModel(out, threads=1)
    skip = set(pte.vocab.whisper["decoder_start_ids"]) | {pte.vocab.whisper["eos_id"]}
    for clip, row in zip(clips, ref_ids.tolist()):
        assert pte.transcribe(clip.audio).ids == [t for t in row if t not in skip]     # HF generate's greedy ids


def _stepwise_logits(encode, decode, features, ids) -> torch.Tensor:
    """The .pte contract: encoder once -> cross K/V, then one text_decoder(token, position, *K/V) per position."""
    kv = encode(features)
    return torch.cat([decode(torch.tensor([[tok]]), torch.tensor([pos]), *kv)[0] for pos, tok in enumerate(ids)])


def _check_two_clips(model, encode, decode, clips, rtol: float) -> None:
    """Teacher-forced HF logits == step-by-step logits; the second, shorter clip reuses the decoder's cache (stale
    positions of the first clip must not leak in)."""
    for features, ids in clips:
        with torch.no_grad():
            ref = model(input_features=features, decoder_input_ids=torch.tensor([ids])).logits[0]
            out = _stepwise_logits(encode, decode, features, ids)
        assert out.shape == ref.shape
        assert float((out - ref).abs().max()) <= rtol * float(ref.abs().max()), float((out - ref).abs().max())


def _random_clips(vocab: int, prompt: list[int], lengths=(24, 6), seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(1, 80, 3000, generator=g), prompt + torch.randint(0, vocab, (n,), generator=g).tolist())
            for n in lengths]


def test_whisper_decoder_module_matches_hf(tmp_path):
    """The exported decoder (own module: static self-attention cache, precomputed cross K/V) computes HF's logits."""
    from myqasr_export.whisper import EncoderWrapper, TextDecoder, prepare_for_export, whisper_prompt
    from myqasr.models import load_model

    loaded = load_model(tiny_whisper(tmp_path))
    model = prepare_for_export(loaded.model)
    clips = _random_clips(256, whisper_prompt(model))
    with torch.no_grad():
        _check_two_clips(model, EncoderWrapper(model), TextDecoder(model, 32), clips, rtol=1e-5)


def test_whisper_fp32_pte_matches_hf(tmp_path):
    """An fp32 .pte through the ExecuTorch runtime: encoder outputs are the cross K/V in the documented layouts, and
    text_decoder's logits equal HF's teacher-forced logits, clip after clip."""
    from myqasr_export.exporter import export_scheme
    from myqasr_export.runner import PteModel
    from schemes import ladder_formats, uniform_scheme
    from myqasr_export.whisper import prepare_for_export, whisper_prompt
    from myqasr.models import load_model

    loaded = load_model(tiny_whisper(tmp_path))
    scheme = uniform_scheme(loaded.model, "whisper", ladder_formats("fp32"), model_id=loaded.model_id,
                            weights_sha256=loaded.weights_sha256)
    out = tmp_path / "fp32.pte"
    export_scheme(scheme, loaded, out)
    pte = PteModel(out, threads=1)
    model = prepare_for_export(loaded.model)
    cfg = model.config
    heads, dim = cfg.decoder_attention_heads, cfg.d_model // cfg.decoder_attention_heads
    kv = pte.run("encoder", torch.zeros(1, 80, 3000))
    assert [tuple(t.shape) for t in kv] == [(heads, 1500, dim), (heads, dim, 1500)] * cfg.decoder_layers
    clips = _random_clips(256, whisper_prompt(model), seed=1)
    _check_two_clips(model, lambda f: pte.run("encoder", f), lambda *a: pte.run("text_decoder", *a)[0], clips,
                     rtol=1e-5)


def test_whisper_decoder_module_matches_hf_on_tiny_en(embedded, user_clips):
    """The same on the real embedded Whisper tiny.en, on speech and its transcript's tokens."""
    from myqasr_export.whisper import EncoderWrapper, TextDecoder, prepare_for_export, whisper_prompt

    model = prepare_for_export(embedded.model)
    fe, tok = embedded.processor.feature_extractor, embedded.processor.tokenizer
    clips = []
    for clip, n in zip(user_clips, (None, 3)):
        ids = whisper_prompt(model) + tok.encode(" " + clip.text, add_special_tokens=False)[:n]
        clips.append((fe(clip.audio, sampling_rate=16000, return_tensors="pt").input_features, ids))
    with torch.no_grad():
        _check_two_clips(model, EncoderWrapper(model), TextDecoder(model, 64), clips, rtol=1e-5)


def test_preprocessor_matches_feature_extractor_on_speech(whisper_export, user_clips):
    from myqasr_export.runner import PteModel

    loaded, scheme, report, out = whisper_export
    pte = PteModel(out, threads=1)
    fe = loaded.processor.feature_extractor
    for clip in user_clips[:2]:
        ref = fe(clip.audio, sampling_rate=16000, return_tensors="pt").input_features
        assert float((pte.whisper_features(clip.audio) - ref).abs().max()) < 1e-3


def test_runner_refuses_a_pte_of_the_old_contract(whisper_export, monkeypatch):
    """A .pte whose encoder returns hidden states (myqasr before the cross K/V moved into the encoder): one line."""
    from myqasr_export.runner import PteModel

    loaded, scheme, report, out = whisper_export
    pte = PteModel(out, threads=1)
    run = pte.run
    monkeypatch.setattr(pte, "run", lambda method, *a: run(method, *a)[:1] if method == "encoder" else run(method, *a))
    with pytest.raises(MyqasrError, match="older myqasr"):
        pte.transcribe(_noise_clips(1, 1.0)[0].audio)


def test_export_refuses_bad_outputs_and_schemes(whisper_export, tmp_path):
    import dataclasses

    from myqasr_export.exporter import export_scheme

    loaded, scheme, report, out = whisper_export
    with pytest.raises(MyqasrError, match="does not exist"):
        export_scheme(scheme, loaded, tmp_path / "nope" / "m.pte")
    with pytest.raises(MyqasrError, match="cannot write"):
        export_scheme(scheme, loaded, Path("/proc/m.pte"))
    other = dataclasses.replace(scheme, weights_sha256="f" * 64)
    with pytest.raises(MyqasrError, match="planned for model"):
        export_scheme(other, loaded, tmp_path / "m.pte")
    broken = dataclasses.replace(scheme, weight_scales={})
    with pytest.raises(MyqasrError, match="corrupted"):
        export_scheme(broken, loaded, tmp_path / "m.pte")
    assert list(tmp_path.iterdir()) == []


def test_failed_export_leaves_no_file(whisper_export, tmp_path, monkeypatch):
    from myqasr_export import exporter as cli

    loaded, scheme, report, out = whisper_export
    target = tmp_path / "m.pte"
    target.write_bytes(b"old")

    def boom(*a, **k):
        raise MyqasrError("export refused: test")
    monkeypatch.setattr(cli, "build_program", boom)
    with pytest.raises(MyqasrError, match="test"):
        cli.export_scheme(scheme, loaded, target)
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["m.pte"]


def test_cli_export_corrupted_scheme_is_one_line(tmp_path, capsys):
    from myqasr_export.cli import main

    bad = tmp_path / "s.json"
    bad.write_text("{not json")
    assert main(["export", "--scheme", str(bad), "--out", str(tmp_path / "m.pte")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("myqasr: error:") and "\n" not in err and not (tmp_path / "m.pte").exists()


class _Fp64Head(torch.nn.Module):
    """A float32 linear that XNNPACK takes, then a float64 linear that it cannot take (XNNPACK has no fp64)."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(16, 16)
        self.b = torch.nn.Linear(16, 4).double()

    def forward(self, x):
        return self.b(self.a(x).double())


def test_delegation_gate_fires_on_a_real_program_with_an_undelegated_linear():
    """The gate on a real lowering: one linear delegated, one left outside XNNPACK -> refused, naming the op."""
    from myqasr_export.lower import check_delegation, delegation_report, lower

    ep = torch.export.export(_Fp64Head().eval(), (torch.randn(2, 16),))
    with pytest.raises(MyqasrError) as e:
        lower({"forward": ep})
    msg = str(e.value)
    assert "outside the XNNPACK delegate (forward: " in msg and ("addmm" in msg or "linear" in msg), msg
    assert "\n" not in msg

    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    edge = to_edge_transform_and_lower({"forward": torch.export.export(_Fp64Head().eval(), (torch.randn(2, 16),))},
                                       partitioner=[XnnpackPartitioner()])
    report = delegation_report(edge)
    assert report.delegated_subgraphs["forward"] >= 1                  # the fp32 linear went to XNNPACK
    assert sum(report.offending["forward"].values()) == 1 and not report.ok, report.offending
    with pytest.raises(MyqasrError, match="outside the XNNPACK delegate"):
        check_delegation(report)


def test_file_gate_finds_undelegated_ops_in_a_serialized_program(tmp_path):
    """The gate that verification runs on the .pte file itself: a program lowered without XNNPACK has linear ops
    outside any delegate, an XNNPACK-lowered one has none."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge, to_edge_transform_and_lower
    from myqasr_export.verify import file_gate

    model = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4)).eval()
    ep = lambda: torch.export.export(model, (torch.randn(2, 16),))        # noqa: E731
    plain, lowered = tmp_path / "plain.pte", tmp_path / "xnnpack.pte"
    plain.write_bytes(to_edge(ep()).to_executorch().buffer)
    lowered.write_bytes(to_edge_transform_and_lower(ep(), partitioner=[XnnpackPartitioner()]).to_executorch().buffer)
    bad = file_gate(plain)["forward"]
    assert bad and all("linear" in k or "addmm" in k for k in bad), bad          # the program's operator table
    assert file_gate(lowered) == {"forward": {}}


def test_cli_export_writes_a_working_pair_and_a_failed_reexport_keeps_it(whisper_export, program_cache, tmp_path,
                                                                          capsys, monkeypatch):
    """`myqasr export` from the command line (scheme file -> model -> .pte + vocabulary, the summary); then an export
    whose vocabulary rename fails after the .pte was already renamed into place leaves the first, working pair
    exactly as it was. The fixture's scheme was lowered already: both exports reuse that real program
    (conftest.ProgramCache); the files and the runtime are real."""
    import errno
    import hashlib
    import os

    from myqasr import fileio
    from myqasr.scheme import save_scheme
    from myqasr_export.cli import main
    from myqasr_export.runner import PteModel

    loaded, scheme, report, fixture_pte = whisper_export
    scheme_file = save_scheme(scheme, tmp_path / "scheme.json")
    out = tmp_path / "m.pte"
    capsys.readouterr()
    with lowering_once(program_cache) as cache:
        reused = cache.reused
        assert main(["export", "--scheme", str(scheme_file), "--out", str(out)]) == 0
        assert cache.reused == reused + 1                          # the scheme file holds the fixture's scheme
    text = capsys.readouterr().out
    assert f"wrote {out} (" in text and "m.vocab.json" in text and "delegation gate" in text
    vocab = json.loads((tmp_path / "m.vocab.json").read_text())
    assert vocab["pte_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert vocab["scheme"] == str(scheme_file) and vocab["model_id"] == loaded.model_id
    assert out.read_bytes() == fixture_pte.read_bytes()
    clip = _noise_clips(1, 2.0, seed=7)[0].audio
    ids = PteModel(out, threads=1).transcribe(clip).ids
    assert ids                                                     # it runs, and emits tokens
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    real = os.replace

    def replace(src, dst):
        if os.path.basename(str(dst)) == "m.vocab.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst)
    monkeypatch.setattr(fileio.os, "replace", replace)
    capsys.readouterr()
    with lowering_once(program_cache):
        assert main(["export", "--scheme", str(scheme_file), "--out", str(out)]) == 2
    err = [l for l in capsys.readouterr().err.strip().splitlines() if l.startswith("myqasr")]
    assert len(err) == 1 and err[0].startswith("myqasr: error: ") and "m.vocab.json: cannot write output" in err[0]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before       # the working pair, untouched
    monkeypatch.undo()
    assert PteModel(out, threads=1).transcribe(clip).ids == ids


def test_wav2vec2_dynamic_length(tmp_path):
    """Tiny Wav2Vec2-CTC, int8 + int4 linears and static int8 convs, one .pte run at two lengths."""
    from myqasr_export.exporter import export_scheme
    from myqasr_export.runner import PteModel, ctc_greedy_ids
    from schemes import ladder_formats, uniform_scheme
    from myqasr_export.verify import file_gate
    from myqasr_export.wav2vec2 import reference_logits
    from myqasr.models import load_model
    from myqasr.simulate import simulate

    loaded = load_model(tiny_wav2vec2(tmp_path))
    proc = loaded.processor
    calib = [proc(c.audio, sampling_rate=16000, return_tensors="pt").input_values for c in _noise_clips(2, 1.0)]
    scheme = uniform_scheme(loaded.model, "wav2vec2", ladder_formats("int8"), calib,
                            overrides={"wav2vec2.encoder.layers.0.feed_forward.intermediate_dense":
                                       int_format(4, "linear", 32)},
                            model_id=loaded.model_id, weights_sha256=loaded.weights_sha256)
    out = tmp_path / "ctc.pte"
    export_scheme(scheme, loaded, out)
    assert not any(file_gate(out).values())
    vocab = json.loads((tmp_path / "ctc.vocab.json").read_text())
    assert vocab["arch"] == "wav2vec2" and vocab["ctc"]["blank_id"] == 0 and vocab["ctc"]["word_delimiter"] == "|"
    assert vocab["ctc"]["normalized_in_graph"] is True and vocab["tokens"][4] == "|"
    pte = PteModel(out, threads=1)
    sim = simulate(loaded.model, scheme)
    hop = vocab["ctc"]["input_multiple"]
    shapes = set()
    for clip in _noise_clips(2, 0.9) + _noise_clips(1, 2.3, seed=3):
        logits = pte.ctc_logits(clip.audio)
        n = -(-len(clip.audio) // hop) * hop
        x = torch.zeros(1, n)
        x[0, : len(clip.audio)] = torch.from_numpy(clip.audio)
        ref = reference_logits(sim, x, True)
        assert logits.shape == ref.shape
        shapes.add(tuple(logits.shape))
        diff = float((logits - ref).abs().max())
        assert diff / float(ref.abs().max()) < PARITY_MAX_REL
        # greedy CTC: the same frame labels wherever the reference is not a near-tie (random weights)
        top2 = ref[0].topk(2, dim=-1).values
        decided = (top2[:, 0] - top2[:, 1]) > 2 * diff
        assert bool((logits[0].argmax(-1) == ref[0].argmax(-1))[decided].all())
        assert pte.transcribe(clip.audio).ids == ctc_greedy_ids(logits[0], 0)
    assert len(shapes) == 2
