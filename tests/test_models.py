"""Model loading: the embedded Whisper tiny.en conversion against the independent CTranslate2 runtime, the
per-user cache, local checkpoints, and one-line errors. Real components only: no mocks, no hub downloads."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))
from tiny_models import tiny_wav2vec2, tiny_whisper  # noqa: E402

from myqasr import embedded  # noqa: E402
from myqasr.errors import MyqasrError  # noqa: E402
from myqasr.models import LoadedModel, load_model, weights_hash  # noqa: E402

SOT, NO_TIMESTAMPS, EOT = 50257, 50362, 50256
LOGITS_ATOL = 5e-4          # fp32 on both sides (measured 5e-5); logits of tiny.en reach |20|
CLIPS = [  # (engine command, text): deterministic offline voices
    (["flite", "-voice", "slt"], "The meeting starts at three o'clock in the small room."),
    (["flite", "-voice", "rms"], "Please send me the report before lunch tomorrow."),
    (["espeak-ng", "-v", "en-us"], "It will rain for two days, so take an umbrella."),
]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: stable and fastest on small shared CI machines (see the notes, pitfall 7)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def conversion(embedded_cache, tmp_path_factory):
    """One real conversion of the bundled CT2 files: the session's own if it converted (conftest.py), else a fresh
    one into this module's cache. (dir, converted, seconds)."""
    if embedded_cache.converted:
        return embedded_cache.model_dir, True, embedded_cache.seconds
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MYQASR_CACHE", str(tmp_path_factory.mktemp("myqasr-cache")))
        start = time.perf_counter()
        model_dir, converted = embedded.ensure_embedded_cache()
        return model_dir, converted, time.perf_counter() - start


@pytest.fixture(scope="module")
def whisper(request) -> LoadedModel:
    """The session's embedded model (conftest `embedded`: loaded once through the public entry point)."""
    return request.getfixturevalue("embedded")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Three synthesized utterances as (16 kHz mono float32 audio, text)."""
    import librosa
    import soundfile as sf

    out = tmp_path_factory.mktemp("clips")
    result = []
    for i, (cmd, text) in enumerate(CLIPS):
        wav = out / f"clip{i}.wav"
        if cmd[0] == "flite":
            subprocess.run([*cmd, "-t", text, "-o", str(wav)], check=True, capture_output=True, timeout=60)
        else:
            subprocess.run([*cmd, "-w", str(wav), text], check=True, capture_output=True, timeout=60)
        audio, sr = sf.read(wav, dtype="float32", always_2d=True)
        audio = librosa.resample(audio.mean(axis=1), orig_sr=sr, target_sr=16000)
        result.append((audio.astype(np.float32), text))
    return result


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    """Local save_pretrained directories of the tiny random wav2vec2 and whisper models."""
    root = tmp_path_factory.mktemp("tiny")
    return {"wav2vec2": tiny_wav2vec2(root), "whisper": tiny_whisper(root)}


def _words(text: str) -> list[str]:
    """Lowercase words without punctuation."""
    return "".join(c if c.isalnum() or c in " '" else " " for c in text.lower()).split()


# --------------------------------------------------------------------------- the conversion

def test_conversion_matches_ctranslate2(whisper, clips):
    """Same features through HF (converted weights) and CTranslate2 (bundled file): identical greedy tokens,
    encoder outputs within 1e-3, and transcripts that resemble the spoken text."""
    import ctranslate2

    proc, model = whisper.processor, whisper.model
    feats = proc([a for a, _ in clips], sampling_rate=16000, return_tensors="pt").input_features
    assert feats.shape == (len(clips), 80, 3000)

    ct2 = ctranslate2.models.Whisper(str(embedded.bundled_ct2_dir()), device="cpu", compute_type="float32",
                                     intra_threads=1)
    sv = ctranslate2.StorageView.from_array(np.ascontiguousarray(feats.numpy()))
    ct2_results = ct2.generate(sv, [[SOT, NO_TIMESTAMPS]] * len(clips), beam_size=1)
    ct2_ids = [r.sequences_ids[0] for r in ct2_results]

    with torch.inference_mode():
        enc_hf = model.model.encoder(feats).last_hidden_state.numpy()
        out = model.generate(feats, num_beams=1, do_sample=False, max_new_tokens=128)
    enc_ct2 = np.asarray(ct2.encode(sv, to_cpu=True))
    assert enc_hf.shape == enc_ct2.shape == (len(clips), 1500, 384)
    print(f"\nencoder max |HF - CT2| = {np.abs(enc_hf - enc_ct2).max():.2e}")
    assert np.abs(enc_hf - enc_ct2).max() < 1e-3

    for row, ref_ids, (_, text) in zip(out.tolist(), ct2_ids, clips):
        hf_ids = [t for t in row if t not in (SOT, NO_TIMESTAMPS)]  # transformers 5: no prompt; EOT + padding
        while hf_ids and hf_ids[-1] == EOT:
            hf_ids.pop()
        assert hf_ids == ref_ids
        hf_text = proc.batch_decode([row], skip_special_tokens=True)[0].strip()
        assert hf_text == proc.tokenizer.decode(ref_ids).strip()
        print(f"{text!r} -> {hf_text!r} ({len(ref_ids)} tokens, identical)")
        spoken, heard = _words(text), set(_words(hf_text))
        assert sum(w in heard for w in spoken) >= 0.5 * len(spoken), (text, hf_text)


def test_decoder_logits_match_ctranslate2(whisper, clips):
    """The mapping checked against an independent implementation: the CTranslate2 runtime, reading the bundled
    model.bin, returns its logits over the whole vocabulary at every greedy step of real speech; the converted HF
    model, fed the same features and CT2's tokens, computes the same logits at every position."""
    import ctranslate2

    proc, model = whisper.processor, whisper.model
    feats = proc([a for a, _ in clips], sampling_rate=16000, return_tensors="pt").input_features
    ct2 = ctranslate2.models.Whisper(str(embedded.bundled_ct2_dir()), device="cpu", compute_type="float32",
                                     intra_threads=1)
    sv = ctranslate2.StorageView.from_array(np.ascontiguousarray(feats.numpy()))
    results = ct2.generate(sv, [[SOT, NO_TIMESTAMPS]] * len(clips), beam_size=1, return_logits_vocab=True,
                           return_scores=True, suppress_tokens=[], suppress_blank=False)
    worst = 0.0
    for i, r in enumerate(results):
        ids = r.sequences_ids[0]
        ref = np.stack([np.asarray(x, dtype=np.float32) for x in r.logits[0]])   # one row per step, EOT's included
        assert ref.shape == (len(ids) + 1, 51864) and len(ids) > 5
        assert (ref > -1e30).all()                                               # nothing masked
        with torch.inference_mode():
            hf = model(input_features=feats[i:i + 1],
                       decoder_input_ids=torch.tensor([[SOT, NO_TIMESTAMPS] + ids])).logits[0, 1:].numpy()
        assert (hf.argmax(-1) == np.array(ids + [EOT])).all()
        worst = max(worst, float(np.abs(hf - ref).max()))
        assert np.abs(hf - ref).max() < LOGITS_ATOL, (i, np.abs(hf - ref).max())
    print(f"\ndecoder logits max |HF - CT2| = {worst:.2e}")


def test_cache_holds_exactly_the_bundled_weights(whisper):
    """Every HF tensor is the bundled file's value (fp16 -> fp32 exactly), nothing added or left over; proj_out is
    the token embedding itself (tied)."""
    ct2 = embedded.read_ct2_model_bin(embedded.bundled_ct2_dir() / "model.bin")
    mapped = embedded.ct2_to_hf_state_dict(ct2)
    sd = whisper.model.state_dict()
    assert set(mapped) == set(sd)
    for name, arr in mapped.items():
        assert torch.equal(sd[name], torch.from_numpy(arr.astype(np.float32))), name
    assert whisper.model.proj_out.weight.data_ptr() == whisper.model.model.decoder.embed_tokens.weight.data_ptr()
    assert int(ct2["encoder/num_heads"]) == whisper.model.config.encoder_attention_heads == 6


def test_embedded_model_and_processor(whisper):
    """fp32 eval model, default attention, the generation settings from the notes, a 51,864-token tokenizer
    whose timestamps decode in place."""
    m, tok = whisper.model, whisper.processor.tokenizer
    assert whisper.arch == "whisper" and whisper.model_id == embedded.EMBEDDED_ID
    assert not m.training and all(p.dtype == torch.float32 for p in m.parameters())
    assert len(m.config.suppress_tokens) == 90 and m.config.begin_suppress_tokens == [220, EOT]
    assert m.generation_config.forced_decoder_ids == [[1, NO_TIMESTAMPS]]
    assert m.generation_config.is_multilingual is False
    assert len(tok) == 51864 and tok.prefix_tokens == [SOT, NO_TIMESTAMPS]
    assert tok.convert_tokens_to_ids(["<|0.00|>", "<|30.00|>"]) == [50363, 51863]
    text = tok.decode([SOT, NO_TIMESTAMPS, 50363, 15496, 50525, EOT], decode_with_timestamps=True)
    assert text == "<|startoftranscript|><|notimestamps|><|0.00|>Hello<|3.24|><|endoftext|>"


# --------------------------------------------------------------------------- the cache

def test_cache_is_written_once_and_reused(conversion, whisper, monkeypatch):
    """The first call converts (atomically, fp16 ~73 MB); later calls reuse it; the cache reloads as fp32."""
    model_dir, converted, seconds = conversion
    print(f"\nconversion: {seconds:.1f} s")
    assert converted
    monkeypatch.setenv("MYQASR_CACHE", str(model_dir.parent))
    assert embedded.cached_model_dir() == model_dir
    again, converted_again = embedded.ensure_embedded_cache()
    assert (again, converted_again) == (model_dir, False)
    assert [p.name for p in model_dir.parent.iterdir()] == [model_dir.name]  # no temp dir left behind
    assert 60e6 < (model_dir / "model.safetensors").stat().st_size < 90e6
    from safetensors import safe_open

    with safe_open(model_dir / "model.safetensors", "pt") as f:
        assert f.get_slice("model.encoder.conv1.weight").get_dtype() == "F16"
    model, processor = embedded.load_whisper_dir(model_dir)
    assert next(model.parameters()).dtype == torch.float32
    assert weights_hash(model) == whisper.weights_sha256
    assert len(processor.tokenizer) == 51864


def test_cache_location_and_unfinished_dirs(tmp_path, monkeypatch):
    """MYQASR_CACHE wins, then XDG_CACHE_HOME/myqasr; a directory without the completion marker is not a cache."""
    monkeypatch.delenv("MYQASR_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert embedded.cache_root() == tmp_path / "xdg" / "myqasr"
    monkeypatch.setenv("MYQASR_CACHE", str(tmp_path / "mine"))
    assert embedded.cache_root() == tmp_path / "mine"
    name = embedded.cached_model_dir().name
    assert name.startswith("whisper-tiny.en-") and len(name) == len("whisper-tiny.en-") + 12
    half = tmp_path / "half"
    half.mkdir()
    (half / "model.safetensors").write_bytes(b"partial")
    assert not embedded.is_complete(half)


# --------------------------------------------------------------------------- local checkpoints

@pytest.mark.parametrize("arch", ["wav2vec2", "whisper"])
def test_load_local_tiny_models(tiny_dirs, tmp_path, arch):
    """A local directory loads with the right arch, fp32 eval, a processor that runs, and a weight hash that is
    deterministic across loads and seeds-equal saves but changes with any weight."""
    path = tiny_dirs[arch]
    lm = load_model(path)
    assert lm.arch == arch and lm.model_id == path
    assert not lm.model.training and all(p.dtype == torch.float32 for p in lm.model.parameters())
    assert load_model(path).weights_sha256 == lm.weights_sha256
    remade = (tiny_wav2vec2 if arch == "wav2vec2" else tiny_whisper)(tmp_path)
    assert load_model(remade).weights_sha256 == lm.weights_sha256
    audio = np.sin(np.linspace(0, 800, 16000)).astype(np.float32)
    with torch.inference_mode():
        if arch == "wav2vec2":
            x = lm.processor(audio, sampling_rate=16000, return_tensors="pt").input_values
            assert lm.model(x).logits.shape[-1] == 32
        else:
            x = lm.processor(audio, sampling_rate=16000, return_tensors="pt").input_features
            assert lm.model.generate(x, num_beams=1, do_sample=False, max_new_tokens=4).shape[0] == 1
    with torch.no_grad():
        next(lm.model.parameters()).view(-1)[0] += 1e-3
    assert weights_hash(lm.model) != lm.weights_sha256


# --------------------------------------------------------------------------- errors

def test_unknown_hub_id_fails_fast_with_one_line():
    """An id that is neither a directory nor on the hub: MyqasrError naming it, in seconds (offline or not)."""
    start = time.perf_counter()
    with pytest.raises(MyqasrError) as info:
        load_model("nobody/does-not-exist-xyz")
    assert time.perf_counter() - start < 30
    message = str(info.value)
    assert "nobody/does-not-exist-xyz" in message and "\n" not in message


def test_unsupported_or_broken_local_dirs(tmp_path):
    """Other architectures, directories that are not checkpoints, unknown embedded ids: one-line errors."""
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert"}))
    empty = tmp_path / "empty"
    empty.mkdir()
    for model_id, expected in [(str(bert), "not supported"), (str(empty), "config.json"),
                               ("embedded:whisper-large", "unknown embedded model")]:
        with pytest.raises(MyqasrError) as info:
            load_model(model_id)
        assert model_id in str(info.value) and expected in str(info.value) and "\n" not in str(info.value)
