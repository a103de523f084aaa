"""Android demo parity: fixtures made by the Python SDK that the app's Java code must reproduce exactly.

`write_fixtures(out)` writes, from the SDK's own code paths (`myqasr_export.runner`, `myqasr_export.vocab`):

  ctc/      a 22.05 kHz stereo 24-bit WAV; its mono mix resampled to 16 kHz (`resample` below, the app's kernel);
            a tiny random Conv1d+Linear CTC model exported with XNNPACK to model.pte + model.vocab.json; the logits
            the ExecuTorch runtime computed through the SDK host runner (PteModel), and that runner's ids and text.
  whisper/  a tiny random-weight Whisper (8 mels, 4 decoder layers: 8 cross K/V tensors) exported by the SDK's
            Whisper path to a .pte and run by the ExecuTorch runtime through the SDK host runner
            (PteModel.transcribe_whisper) on two clips in a row, one loaded program: every method call's inputs and
            outputs (dtype, shape, sum, first values; token and position in full), the preprocessor's features and
            each decoder step's logits, then each clip's ids and text. Clip 0 stops at eos_id, clip 1 at
            max_new_tokens (its own vocabulary file). The .pte is not kept (~12 MB).
  wav/      small WAVs written by libsndfile in each encoding the app reads (and two it must refuse), with
            soundfile's float64 mono mix and the 16 kHz resampling.
  text.json GPT-2 bytes_to_unicode, Python's UTF-8 "replace" decoding of tricky bytes, str.strip()/split().
  longform/ a 64 s recording (the sample user's sentences with pauses) transcribed by the real mixed int8/int4
            tiny.en `.pte` (conftest `mixed_pte`) through the SDK's long-form runner (PteModel.transcribe): every
            window's start and length, every decoder call's fed token, and each call's logits reduced to what the
            decoding rules read (the best text candidates, the best timestamps and one fill value for the other
            timestamps, chosen so that their log-sum-exp is kept; the SDK's own long-form loop replayed on the reduced
            logits must give the same ids, windows and text, or the fixture is not written); then the kept ids and
            the text. Gzipped JSON, with a vocabulary that keeps only the token strings the transcript uses.

The JUnit tests (android_demo/app/src/test) replay these and must match: same waveform (1e-6), same ids, same text.
The committed copy lives in android_demo/app/src/test/resources/fixtures/ so the JUnit tests run standalone;
refresh it with `MYQASR_WRITE_ANDROID_FIXTURES=1 pytest tests/test_android_parity.py`.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "android_demo"
COMMITTED = DEMO / "app" / "src" / "test" / "resources" / "fixtures"
UNIT_TESTS = DEMO / "scripts" / "run_unit_tests.sh"
JUNIT_JAR = Path("/usr/share/java/junit-platform-console-standalone.jar")
MAX_FIXTURE_BYTES = 250_000       # the fixtures this file writes (211 kB; the long-form and Whisper calls are gzipped)
MAX_ALL_FIXTURE_BYTES = 800_000   # every fixture set together (with the on-phone statistics' 484 kB)
OTHER_SETS = ("phonestats",)      # fixture sets another generator writes (tests/phone_stats_fixtures.py)

# The seeds and token choices below were picked once so that each fixture exercises its rules; the tests assert
# those properties, so a change in torch/transformers that breaks them fails loudly instead of going vacuous.
CTC_SEED = 27
CTC_TOKENS = ["<pad>", "|", "E", "T", "A", "O", "N", "I", "H", "S", "R", "D", "<unk>", "'"]
CTC_SKIP = [0, 12]                 # <pad> (also the blank) and <unk>, as the SDK's ctc_vocab lists specials
CTC_HOP = 160                      # the tiny model's frame hop (3 strided convs: 5 * 4 * 8)
CTC_SECONDS = 0.31                 # not a whole number of frames, so the runner's zero-padding matters
WHISPER_SEED = 37
WHISPER_V, WHISPER_EOS = 64, 48    # ids >= 48 are special; 48 = <|endoftext|>
WHISPER_SOT, WHISPER_EN, WHISPER_NOTS = 49, 50, 51
WHISPER_SPACE = 14                 # the token "Ġ" (a lone space)
WHISPER_DECODER_LAYERS = 4         # 8 cross K/V tensors, as tiny.en
WHISPER_SUPPRESS = [WHISPER_EN, 7]
WHISPER_BEGIN = [38, WHISPER_EOS]  # 38 is the model's first choice for clip 0
WHISPER_CASES = (("eos", 24, (8000, 7919)), ("max_new_tokens", 4, (4800, 104729)))   # name, max_new, clip
LONG_SECONDS = 64.0                # the long-form recording: > 60 s, three windows
LONG_PAUSE_S = 0.7
LONG_TEXT_TOP, LONG_TS_TOP = 4, 12  # text candidates and timestamps kept per decoder call


# --------------------------------------------------------------------------------------------------------------
# The app's resampler, in numpy: torchaudio.functional.resample's kernel (sinc_interp_hann, width 6, rolloff 0.99).
# --------------------------------------------------------------------------------------------------------------

def resample(x: np.ndarray, orig_rate: int, new_rate: int, lowpass_filter_width: int = 6,
             rolloff: float = 0.99) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if orig_rate == new_rate:
        return x.astype(np.float32)
    g = math.gcd(orig_rate, new_rate)
    orig, new = orig_rate // g, new_rate // g
    base = min(orig, new) * rolloff
    width = math.ceil(lowpass_filter_width * orig / base)
    j = np.arange(2 * width + orig)
    t = (-np.arange(new)[:, None] / new + (j[None, :] - width) / orig) * base
    t = np.clip(t, -lowpass_filter_width, lowpass_filter_width)
    window = np.cos(t * math.pi / lowpass_filter_width / 2) ** 2
    pt = t * math.pi
    sinc = np.divide(np.sin(pt), pt, out=np.ones_like(pt), where=pt != 0)
    kernel = sinc * window * (base / orig)                     # [new, taps]
    out_len = -(-new * len(x) // orig)
    blocks = -(-out_len // new)
    padded = np.concatenate([np.zeros(width), x, np.zeros(blocks * orig + width + orig)])
    frames = padded[np.arange(blocks)[:, None] * orig + j[None, :]]   # [blocks, taps]
    return (frames @ kernel.T).reshape(-1)[:out_len].astype(np.float32)


def read_mono(path: Path) -> tuple[np.ndarray, int]:
    """soundfile's float64 samples, channels averaged (what the app's WavReader must give)."""
    import soundfile as sf

    data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    return data.mean(axis=1), rate


def _f32(path: Path, a) -> None:
    np.asarray(a, dtype="<f4").tofile(path)


def _json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=1) + "\n", encoding="utf-8")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------------------------
# CTC: tiny model -> .pte -> SDK host runner
# --------------------------------------------------------------------------------------------------------------

def _tiny_ctc(vocab_size: int):
    import torch
    from torch import nn

    class TinyCtc(nn.Module):
        """Wav2Vec2-CTC in miniature: strided convs (hop 160), LayerNorm, a token head."""

        def __init__(self):
            super().__init__()
            self.convs = nn.Sequential(nn.Conv1d(1, 16, 10, 5), nn.GELU(), nn.Conv1d(16, 16, 8, 4), nn.GELU(),
                                       nn.Conv1d(16, 16, 8, 8), nn.GELU())
            self.norm = nn.LayerNorm(16)
            self.head = nn.Linear(16, vocab_size)
            nn.init.normal_(self.head.weight, std=1.0)
            nn.init.zeros_(self.head.bias)

        def forward(self, waveform):
            return self.head(self.norm(self.convs(waveform[:, None, :]).transpose(1, 2)))

    torch.manual_seed(CTC_SEED)
    return TinyCtc().eval()


def _test_signal(n: int, rate: int, channels: int, seed: int = 0) -> np.ndarray:
    """Speech-ish bursts: a chirp that switches on and off, a tone in the gaps, a little noise; per channel."""
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    cols = []
    for c in range(channels):
        on = np.sin(2 * np.pi * 12 * t + c) > 0
        x = (0.4 * np.sin(2 * np.pi * (200 + 2000 * t) * t) * on + 0.2 * np.sin(2 * np.pi * (1234 + 100 * c) * t) * ~on
             + 0.05 * rng.standard_normal(n))
        cols.append(x)
    return np.stack(cols, axis=1)


def build_ctc(out: Path) -> dict:
    import soundfile as sf
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from myqasr_export.runner import PteModel, ctc_greedy_ids
    from myqasr_export.vocab import Vocab

    out.mkdir(parents=True, exist_ok=True)
    wav = out / "input.wav"
    frames = round(22050 * CTC_SECONDS)
    sf.write(str(wav), _test_signal(frames, 22050, 2), 22050, subtype="PCM_24")
    mono, rate = read_mono(wav)
    pcm = resample(mono, rate, 16000)
    _f32(out / "waveform_16k.f32", pcm)
    n_in = -(-len(pcm) // CTC_HOP) * CTC_HOP                  # what the runner feeds: zero-padded to whole frames

    model = _tiny_ctc(len(CTC_TOKENS))
    example = torch.zeros(1, n_in)
    example[0, : len(pcm)] = torch.from_numpy(pcm)
    program = to_edge_transform_and_lower(torch.export.export(model, (example,)),
                                          partitioner=[XnnpackPartitioner()]).to_executorch()
    pte = out / "model.pte"
    pte.write_bytes(program.buffer)
    vocab = Vocab("wav2vec2", CTC_TOKENS, 16000,
                  ctc={"blank_id": 0, "word_delimiter": "|", "skip_ids": CTC_SKIP, "input_multiple": CTC_HOP,
                       "normalized_in_graph": False},
                  model_id="random-tiny-ctc (parity fixture)", scheme="fp32", pte_sha256=_sha256(pte))
    _json(out / "model.vocab.json", vocab.to_dict())

    runner = PteModel(pte)                                    # reads model.vocab.json next to it
    logits = runner.ctc_logits(pcm)[0]
    result = runner.transcribe(pcm, "input.wav")
    with torch.no_grad():
        eager = model(example)[0]
    assert float((logits - eager).abs().max()) < 1e-4, "the .pte disagrees with the eager model"
    assert result.ids == ctc_greedy_ids(logits, 0)
    path = logits.argmax(-1).tolist()
    assert any(a == b != 0 for a, b in zip(path, path[1:])), "fixture should collapse a repeat"
    assert any(a == c != 0 and b == 0 for a, b, c in zip(path, path[1:], path[2:])), "... and keep a blank-split pair"
    assert set(result.ids) & set(CTC_SKIP), "... and drop a skip id"
    assert " " in result.text, "... and have two words"
    _f32(out / "logits.f32", logits.numpy())
    expected = {"wav": wav.name, "waveform": "waveform_16k.f32", "waveform_samples": len(pcm),
                "model_input_samples": n_in, "pte": pte.name, "vocab": "model.vocab.json", "logits": "logits.f32",
                "logits_shape": list(logits.shape), "ids": result.ids, "text": result.text}
    _json(out / "expected.json", expected)
    return expected


# --------------------------------------------------------------------------------------------------------------
# Whisper: tiny random model -> the SDK's greedy loop, every decoder call recorded
# --------------------------------------------------------------------------------------------------------------

def whisper_tokens() -> list[str]:
    """48 ordinary byte-level BPE strings (multi-byte UTF-8, split characters, an invalid byte) + 16 specials."""
    from myqasr_export.vocab import _byte_decoder

    enc = {b: c for c, b in _byte_decoder().items()}
    pieces = [b" the", b" cat", b" sat", b".", b",", b"!", b"?", b" a", b"b", b"c", b"d", b"e", b"f", b"g", b" ",
              b"h", b"i", b"j", b"k", b" caf", b"l", b"m", b"n", b"o", b"p", "é".encode(), b"q", b"r", b"s",
              " naï".encode(), b"ve", " 你".encode(), "好".encode(), b" \xf0\x9f", b"\x98\x80", "’".encode(), b"\n",
              b"\xff", b"\xc3", b"t", b"u", b"v", b"\xa0!", b"w", b"x", b"y", b"\xe4\xbd", b"z"]
    tokens = ["".join(enc[b] for b in p) for p in pieces]
    assert len(tokens) == WHISPER_EOS and tokens[WHISPER_SPACE] == "Ġ"
    specials = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|notimestamps|>"]
    specials += [f"<|{0.02 * k:.2f}|>" for k in range(WHISPER_V - WHISPER_EOS - len(specials))]
    return tokens + specials


def whisper_pcm(n: int, mult: int) -> np.ndarray:
    """A clip the Java test rebuilds bit for bit: ((k * mult) mod 4001 - 2000) / 4096, k < n (exact in float32)."""
    k = np.arange(n, dtype=np.int64)
    return ((k * mult) % 4001 - 2000).astype(np.float32) / np.float32(4096)


def tiny_whisper_model():
    """The random tiny Whisper of the fixture: 8 mels, 30 s windows (1500 encoder frames), d_model 16, 1 encoder and
    4 decoder layers (so the encoder method returns 8 cross K/V tensors, like tiny.en), 2 heads, 64 tokens."""
    import torch
    from myqasr_export.whisper import prepare_for_export
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    torch.manual_seed(WHISPER_SEED)
    config = WhisperConfig(vocab_size=WHISPER_V, num_mel_bins=8, d_model=16, encoder_layers=1,
                           decoder_layers=WHISPER_DECODER_LAYERS, encoder_attention_heads=2, decoder_attention_heads=2,
                           encoder_ffn_dim=32, decoder_ffn_dim=32, max_source_positions=1500, max_target_positions=64,
                           pad_token_id=WHISPER_V - 1, bos_token_id=WHISPER_EOS, eos_token_id=WHISPER_EOS,
                           decoder_start_token_id=WHISPER_SOT, init_std=1.0)
    return prepare_for_export(WhisperForConditionalGeneration(config).eval())


def export_tiny_whisper(path: Path) -> None:
    """The SDK's Whisper export path (export_programs + lower: preprocessor, encoder, text_decoder), fp32."""
    from myqasr_export.lower import lower
    from myqasr_export.whisper import export_programs, preprocessor_for

    model = tiny_whisper_model()
    pm, report = lower(export_programs(model, preprocessor_for(model), max_cache_len=2 + WHISPER_CASES[0][1]))
    path.write_bytes(pm.buffer)


def tensor_spec(t, full: bool = False) -> dict:
    """What the Java replay checks of one tensor crossing the runtime boundary: dtype, shape, the float64 sum, the
    first values, and every value of a small tensor (token, position) or when `full`."""
    a = t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)
    flat = a.reshape(-1)
    spec = {"dtype": str(a.dtype), "shape": list(a.shape), "sum": float(flat.astype(np.float64).sum()),
            "head": flat[:4].tolist()}
    if full or flat.size <= 4:
        spec["values"] = flat.tolist()
    return spec


def build_whisper(out: Path) -> list[dict]:
    """The tiny Whisper exported to a .pte and run by the ExecuTorch runtime through the SDK's host runner
    (PteModel.transcribe_whisper): two clips in a row on one loaded program, every method call recorded."""
    import gzip

    from myqasr_export.runner import PteModel
    from myqasr_export.vocab import Vocab

    tokens = whisper_tokens()
    vocabs = {name: Vocab("whisper", tokens, 16000, whisper={
        "n_samples": 480000, "decoder_start_ids": [WHISPER_SOT, WHISPER_NOTS], "eos_id": WHISPER_EOS,
        "max_new_tokens": max_new, "suppress_tokens": WHISPER_SUPPRESS, "begin_suppress_tokens": WHISPER_BEGIN,
        "first_special_id": WHISPER_EOS, "token_encoding": "gpt2_bytes"},
        model_id="random-tiny-whisper (parity fixture)", scheme=None) for name, max_new, _ in WHISPER_CASES}
    out.mkdir(parents=True, exist_ok=True)
    pte = out / "tiny-whisper.pte"            # not kept: 12 MB of 1500-frame encoder weights would not be small
    export_tiny_whisper(pte)
    model = PteModel(pte, threads=1, vocab=vocabs[WHISPER_CASES[0][0]])
    pte.unlink()
    calls, logits, features = [], [], []
    real_run = model.run

    def recording_run(method, *inputs):
        result = real_run(method, *inputs)
        call = {"method": method, "inputs": [tensor_spec(t) for t in inputs],
                "outputs": [tensor_spec(t) for t in result]}
        if method == "preprocessor":
            features.append(result[0].numpy().reshape(-1))
        elif method == "encoder":
            kv = result
        elif method == "text_decoder":
            encoder = next(c for c in reversed(calls) if c["method"] == "encoder")
            assert all(a is b for a, b in zip(inputs[2:], encoder["tensors"])) and \
                len(inputs) == 2 + len(encoder["tensors"]), "text_decoder must get the encoder's outputs, in order"
            logits.append(result[0].numpy().reshape(-1))
        calls.append(call)
        if method == "encoder":
            call["tensors"] = kv
        return result

    model.run = recording_run
    cases = []
    for name, max_new, (n, mult) in WHISPER_CASES:
        model.vocab = vocabs[name]
        first = len(calls)
        r = model.transcribe_whisper(whisper_pcm(n, mult), name)
        mine = calls[first:]
        assert [c["method"] for c in mine[:2]] == ["preprocessor", "encoder"]
        steps = [c for c in mine if c["method"] == "text_decoder"]
        positions = [c["inputs"][1]["values"][0] for c in steps]
        assert positions == list(range(len(steps))), "positions count up from 0 for every clip"
        raw = np.stack(logits[len(logits) - len(steps):])
        n_prompt = len(vocabs[name].whisper["decoder_start_ids"])
        if name == "eos":
            assert len(r.ids) < max_new and len(r.ids) >= 5, "the eos case should stop at eos after a few tokens"
            assert int(raw[n_prompt - 1].argmax()) in WHISPER_BEGIN, "begin_suppress_tokens should change the first step"
            assert any(int(x.argmax()) in WHISPER_SUPPRESS for x in raw[n_prompt:]), \
                "suppress_tokens should change a later step"
            assert "\ufffd" in r.text, "the text should include a repaired broken UTF-8 sequence"
        else:
            assert len(r.ids) == max_new, "the max_new_tokens case should stop at the limit"
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        _json(d / "model.vocab.json", vocabs[name].to_dict())
        cases.append({"case": name, "vocab": f"{name}/model.vocab.json", "pcm": {"samples": n, "mult": mult},
                      "decoder_calls": r.n_steps, "ids": r.ids, "text": r.text})
    for c in calls:
        c.pop("tensors", None)
    assert [len(c["outputs"]) for c in calls if c["method"] == "encoder"] == [2 * WHISPER_DECODER_LAYERS] * 2
    _f32(out / "steps.f32", np.stack(logits))
    (out / "features.f32.gz").write_bytes(gzip.compress(np.concatenate(features).astype("<f4").tobytes(), mtime=0))
    (out / "calls.json.gz").write_bytes(gzip.compress(json.dumps(
        {"runtime": "executorch.runtime (myqasr_export.runner.PteModel)", "calls": calls}).encode(), mtime=0))
    _json(out / "expected.json", {"clips": cases, "logits": "steps.f32", "logits_shape": [len(logits), WHISPER_V],
                                  "features": "features.f32.gz", "calls": "calls.json.gz"})
    return cases


# --------------------------------------------------------------------------------------------------------------
# Long-form: the real .pte through the SDK's long-form runner, every decoder call recorded and reduced
# --------------------------------------------------------------------------------------------------------------

def long_recording() -> tuple[np.ndarray, str]:
    """The sample user's calibration and test sentences in order, LONG_PAUSE_S apart, until LONG_SECONDS."""
    from myqasr.audio import SAMPLE_USER_DIR, load_clips

    clips = load_clips(SAMPLE_USER_DIR / "calib", with_text=True) + load_clips(SAMPLE_USER_DIR / "test", with_text=True)
    pause = np.zeros(round(LONG_PAUSE_S * 16000), np.float32)
    parts, texts, k = [], [], 0
    while sum(map(len, parts)) < LONG_SECONDS * 16000:
        parts += [clips[k % len(clips)].audio, pause]
        texts.append(clips[k % len(clips)].text)
        k += 1
    return np.concatenate(parts)[: round(LONG_SECONDS * 16000)], " ".join(texts)


def _f32_text(x) -> str:
    """The shortest decimal that reads back as the same float32 (Java: Float.parseFloat)."""
    return np.format_float_positional(np.float32(x), unique=True, trim="-") if np.isfinite(x) else "-inf"


def reduce_logits(logits: np.ndarray, tb: int, hidden: set) -> dict:
    """What the decoding rules read from one decoder call: the LONG_TEXT_TOP best text ids that suppression leaves
    (plus every id that only begin-suppression hides), the LONG_TS_TOP best timestamps, and one value for all other
    timestamps whose log-sum-exp equals theirs (it is <= their maximum, so no argmax changes)."""
    from myqasr.longform import logsumexp

    text = logits[:tb].astype(np.float64)
    order = [int(i) for i in np.argsort(-text, kind="stable") if int(i) not in hidden["suppress"]][:LONG_TEXT_TOP]
    text_ids = sorted(set(order) | hidden["begin"])
    ts = logits[tb:]
    top = [int(i) for i in np.argsort(-ts, kind="stable")[:LONG_TS_TOP]]
    rest = np.delete(ts, top)
    fill = logsumexp(rest) - math.log(len(rest))
    return {"text": [[i, _f32_text(logits[i])] for i in text_ids],
            "ts": [[tb + i, _f32_text(ts[i])] for i in sorted(top)], "fill": _f32_text(fill)}


def expand_logits(step: dict, vocab_size: int, tb: int) -> np.ndarray:
    """The reduced call back as a logits vector (what the Java test feeds its decoder)."""
    out = np.full(vocab_size, -np.inf, np.float32)
    out[tb:] = np.float32(step["fill"])
    for i, v in step["text"] + step["ts"]:
        out[i] = np.float32(v)
    return out


def build_longform(out: Path, pte: Path) -> dict:
    import gzip

    import torch
    from myqasr_export.runner import PteModel

    pcm, _ = long_recording()
    model = PteModel(pte, threads=2)
    vocab = model.vocab
    tb = vocab.no_timestamps_id() + 1
    hidden = {"suppress": set(vocab.whisper["suppress_tokens"]), "begin": set(vocab.whisper["begin_suppress_tokens"])}
    windows: list[dict] = []
    real_run = model.run

    def recording_run(method, *inputs):
        result = real_run(method, *inputs)
        if method == "preprocessor":
            windows.append({"fed": [], "positions": [], "steps": []})
        elif method == "text_decoder":
            w = windows[-1]
            w["fed"].append(int(inputs[0][0, 0]))
            w["positions"].append(int(inputs[1][0]))
            w["steps"].append(reduce_logits(result[0][0, -1].numpy(), tb, hidden))
        return result

    model.run = recording_run
    real = model.transcribe(pcm, "long.wav", progress=False)
    assert real.windows >= 3, "the recording should take three windows"

    class Replay(PteModel):
        """The SDK's long-form loop fed the reduced logits instead of the runtime's."""

        def __init__(self):
            self.vocab, self.path, self.load_s, self.threads = vocab, Path("replay"), 0.0, 1
            self.window, self.call, self.asr_runner = -1, 0, False

        def run(self, method, *inputs):
            if method == "preprocessor":
                self.window, self.call = self.window + 1, 0
                return [torch.zeros(1)]
            if method == "encoder":
                return [torch.zeros(1), torch.zeros(1)]
            w = windows[self.window]
            assert int(inputs[0][0, 0]) == w["fed"][self.call] and int(inputs[1][0]) == w["positions"][self.call]
            logits = expand_logits(w["steps"][self.call], len(vocab.tokens), tb)
            self.call += 1
            return [torch.from_numpy(logits)[None, None]]

    replay = Replay().transcribe(pcm, "long.wav", progress=False)
    assert (replay.ids, replay.text, replay.spans) == (real.ids, real.text, real.spans), \
        "the reduced logits decide differently: keep more candidates"
    used = {i for w in windows for i in w["fed"]} | set(real.ids) | {vocab.whisper["eos_id"], tb - 1}
    small = vocab.to_dict()
    small["tokens"] = [t if i in used else None for i, t in enumerate(vocab.tokens)]
    small["pte_sha256"] = None
    expected = {"n_samples": len(pcm), "seconds": len(pcm) / 16000, "timestamp_begin": tb,
                "windows": [{"start": s, "samples": n, **w} for (s, n), w in zip(real.spans, windows)],
                "ids": real.ids, "text": real.text, "decoder_calls": real.n_steps}
    out.mkdir(parents=True, exist_ok=True)
    for name, obj in (("model.vocab.json.gz", small), ("expected.json.gz", expected)):
        (out / name).write_bytes(gzip.compress(json.dumps(obj).encode(), mtime=0))
    return {k: expected[k] for k in ("n_samples", "ids", "text")}


# --------------------------------------------------------------------------------------------------------------
# WAV encodings and text rules
# --------------------------------------------------------------------------------------------------------------

WAVS = [  # name, rate, channels, soundfile subtype, soundfile format, (bits, encoding) or the refusal the app prints
    ("u8_mono_8000.wav", 8000, 1, "PCM_U8", "WAV", (8, "pcm")),
    ("s16_mono_16000.wav", 16000, 1, "PCM_16", "WAV", (16, "pcm")),
    ("s24_stereo_44100.wav", 44100, 2, "PCM_24", "WAV", (24, "pcm")),
    ("s32_stereo_48000.wav", 48000, 2, "PCM_32", "WAV", (32, "pcm")),
    ("f32_mono_22050.wav", 22050, 1, "FLOAT", "WAV", (32, "float")),
    ("f64_stereo_11025.wav", 11025, 2, "DOUBLE", "WAV", (64, "float")),
    ("s16_4ch_32000_extensible.wav", 32000, 4, "PCM_16", "WAVEX", (16, "pcm")),
    ("s16_mono_24000_rf64.wav", 24000, 1, "PCM_16", "RF64", (16, "pcm")),
    ("ulaw_mono_8000.wav", 8000, 1, "ULAW", "WAV", "mu-law"),
    ("ima_adpcm_mono_16000.wav", 16000, 1, "IMA_ADPCM", "WAV", "IMA ADPCM"),
]


def build_wavs(out: Path) -> list[dict]:
    import soundfile as sf

    out.mkdir(parents=True, exist_ok=True)
    files = []
    for k, (name, rate, channels, subtype, fmt, kind) in enumerate(WAVS):
        frames = rate // 50                                   # 20 ms
        sf.write(str(out / name), _test_signal(frames, rate, channels, seed=k) * 1.5, rate, subtype=subtype,
                 format=fmt)
        if isinstance(kind, str):
            files.append({"name": name, "error": kind})
            continue
        mono, _ = read_mono(out / name)
        stem = name[:-4]
        _f32(out / f"{stem}.mono.f32", mono)
        _f32(out / f"{stem}.16k.f32", resample(mono, rate, 16000))
        files.append({"name": name, "sample_rate": rate, "channels": channels, "bits": kind[0], "encoding": kind[1],
                      "frames": len(mono), "mono": f"{stem}.mono.f32", "mono_16k": f"{stem}.16k.f32"})
    _json(out / "expected.json", {"files": files})
    return files


def build_text(path: Path) -> None:
    from myqasr_export.vocab import _byte_decoder

    rng = np.random.default_rng(1)
    cases = [b"", b"abc", "é你😀".encode(), b"\xe4\xbd", b"\xe4\xbd\xe4\xbd", b"\xf0\x9f\x98A", b"\xed\xa0\x80",
             b"\xe0\x80\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80", b"\x80\xbf", b"\xc3",
             b"\xef\xbb\xbf!", b"\xf0\x90\x80", b"\xe1\x80\xe1\x80\x80"]
    pool = np.frombuffer(bytes([0x41, 0x80, 0x9f, 0xa0, 0xbf, 0xc2, 0xc3, 0xdf, 0xe0, 0xe4, 0xed, 0xef, 0xf0,
                                0xf4, 0xf5, 0xff]), dtype=np.uint8)
    cases += [bytes(rng.choice(pool, size=int(rng.integers(1, 9)))) for _ in range(200)]
    spaces = ["  a  b  ", "\t\nx\r\x0b\x0c", "\u3000中\u3000", "\xa0a\x85b\u2028", "\u200ba\u200b", "a\x1cb\x1f",
              "\u2000\u200a z \u202f\u205f", " ", "", "a | b"]
    table = {b: ord(c) for c, b in _byte_decoder().items()}
    _json(path, {"bytes_to_unicode": [table[b] for b in range(256)],
                 "utf8": [{"hex": c.hex(), "text": c.decode("utf-8", errors="replace")} for c in cases],
                 "whitespace": [{"s": s, "strip": s.strip(), "collapse": " ".join(s.split())} for s in spaces]})


def write_fixtures(out: Path, whisper_pte: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    summary = {"ctc": build_ctc(out / "ctc"), "whisper": build_whisper(out / "whisper"), "wav": build_wavs(out / "wav"),
               "longform": build_longform(out / "longform", whisper_pte)}
    build_text(out / "text.json")
    return summary


def _own_files(root: Path) -> list[Path]:
    """The files of this file's fixture sets under `root` (not those of OTHER_SETS)."""
    return [f for f in root.rglob("*") if f.is_file() and f.relative_to(root).parts[0] not in OTHER_SETS]


def _size(paths) -> int:
    return sum(f.stat().st_size for f in paths)


# --------------------------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fresh(tmp_path_factory, mixed_pte) -> Path:
    out = tmp_path_factory.mktemp("android_fixtures")
    write_fixtures(out, mixed_pte.pte)
    for name in OTHER_SETS:                 # the JUnit run reads every set: bring the others' committed files along
        if (COMMITTED / name).is_dir():
            shutil.copytree(COMMITTED / name, out / name)
    if os.environ.get("MYQASR_WRITE_ANDROID_FIXTURES") == "1":
        for entry in COMMITTED.iterdir() if COMMITTED.exists() else []:
            if entry.name not in OTHER_SETS:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        shutil.copytree(out, COMMITTED, dirs_exist_ok=True)
    return out


def test_fixtures_are_small(fresh):
    assert _size(_own_files(fresh)) < MAX_FIXTURE_BYTES
    assert _size(_own_files(COMMITTED)) < MAX_FIXTURE_BYTES
    assert _size(f for f in COMMITTED.rglob("*") if f.is_file()) < MAX_ALL_FIXTURE_BYTES


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in _own_files(root))


def test_committed_fixtures_are_what_the_sdk_makes_today(fresh):
    """The fixtures the JUnit tests replay (committed) equal what today's SDK code paths produce (fresh): the same
    files, the same ids, texts and vocabularies, the same samples and logits. A change in the SDK's runner, decoding
    or resampling that the app would not follow fails here, not on a phone."""
    assert _files(fresh) == _files(COMMITTED)
    for rel in _files(COMMITTED):
        new, old = fresh / rel, COMMITTED / rel
        if rel.endswith(".f32"):
            a, b = np.fromfile(new, "<f4"), np.fromfile(old, "<f4")
            assert a.shape == b.shape, rel
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(b).max())), err_msg=rel)
        elif rel.endswith(".f32.gz"):
            import gzip
            a, b = (np.frombuffer(gzip.decompress(f.read_bytes()), "<f4") for f in (new, old))
            assert a.shape == b.shape, rel
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(b).max())), err_msg=rel)
        elif rel.endswith("calls.json.gz"):
            import gzip
            assert _close(*(json.loads(gzip.decompress(f.read_bytes())) for f in (new, old))), rel
        elif rel.endswith(".json.gz"):                          # long-form: same windows, calls, ids, text
            import gzip
            a, b = (json.loads(gzip.decompress(f.read_bytes())) for f in (new, old))
            if "windows" in b:
                for wa, wb in zip(a["windows"], b["windows"]):
                    for sa, sb in zip(wa.pop("steps"), wb.pop("steps")):
                        assert [i for i, _ in sa["text"] + sa["ts"]] == [i for i, _ in sb["text"] + sb["ts"]], rel
                        np.testing.assert_allclose([float(v) for _, v in sa["text"] + sa["ts"]] + [float(sa["fill"])],
                                                   [float(v) for _, v in sb["text"] + sb["ts"]] + [float(sb["fill"])],
                                                   atol=1e-4, err_msg=rel)
            if "vocab" in rel:                                  # where the .pte and its scheme were written
                for d in (a, b):
                    d.pop("pte_sha256", None), d.pop("scheme", None)
            assert a == b, rel
        elif rel.endswith(".json"):
            a, b = json.loads(new.read_text()), json.loads(old.read_text())
            if rel.endswith("vocab.json"):                      # the .pte bytes may differ between exporter runs
                for d in (a, b):
                    d.pop("pte_sha256", None), d.pop("scheme", None)
            assert a == b, rel
        elif rel.endswith(".wav"):                              # (float WAVs carry a PEAK chunk with a time stamp)
            import soundfile as sf
            a, b = sf.info(str(new)), sf.info(str(old))
            assert (a.samplerate, a.channels, a.format, a.subtype) == (b.samplerate, b.channels, b.format, b.subtype)
            assert np.array_equal(sf.read(str(new), dtype="float64")[0], sf.read(str(old), dtype="float64")[0]), rel


def test_committed_fixtures_follow_the_sdk_rules():
    """The checked-in fixtures still decode, with today's SDK code, to the texts the Java tests expect."""
    import torch
    from myqasr_export.runner import ctc_greedy_ids
    from myqasr_export.vocab import load_vocab

    ctc = json.loads((COMMITTED / "ctc" / "expected.json").read_text())
    vocab = load_vocab(COMMITTED / "ctc" / ctc["pte"])
    assert vocab.pte_sha256 == _sha256(COMMITTED / "ctc" / ctc["pte"])
    logits = torch.from_numpy(np.fromfile(COMMITTED / "ctc" / ctc["logits"], "<f4").reshape(ctc["logits_shape"]))
    ids = ctc_greedy_ids(logits, vocab.ctc["blank_id"])
    assert ids == ctc["ids"] and vocab.decode_ctc(ids) == ctc["text"]
    mono, rate = read_mono(COMMITTED / "ctc" / ctc["wav"])
    np.testing.assert_allclose(resample(mono, rate, 16000), np.fromfile(COMMITTED / "ctc" / ctc["waveform"], "<f4"),
                               atol=1e-6)
    check_whisper_fixture(COMMITTED / "whisper")
    check_longform_fixture(COMMITTED / "longform")


def check_whisper_fixture(d: Path) -> None:
    """The runtime-recorded Whisper calls follow today's SDK greedy rules: each clip's calls are preprocessor, encoder
    (8 cross K/V in the contract's layouts), then text_decoder at positions 0, 1, ... fed the prompt and then the
    argmax of the recorded logits after suppression; the ids decode to the text."""
    from myqasr_export.vocab import load_vocab

    exp = json.loads((d / "expected.json").read_text())
    import gzip

    calls = json.loads(gzip.decompress((d / exp["calls"]).read_bytes()))["calls"]
    logits = np.fromfile(d / exp["logits"], "<f4").reshape(exp["logits_shape"])
    k = step = 0
    for clip in exp["clips"]:
        vocab = load_vocab(d / clip["vocab"].replace(".vocab.json", ".pte"))   # the sidecar path only
        w = vocab.whisper
        assert [c["method"] for c in calls[k:k + 2]] == ["preprocessor", "encoder"]
        assert calls[k]["inputs"][0]["shape"] == [w["n_samples"]]
        kv = [o["shape"] for o in calls[k + 1]["outputs"]]
        assert len(kv) == 2 * WHISPER_DECODER_LAYERS and all(v == [a[0], a[2], a[1]] for a, v in zip(kv[::2], kv[1::2]))
        k += 2
        fed, ids = [], []
        while k < len(calls) and calls[k]["method"] == "text_decoder":
            c = calls[k]
            assert c["inputs"][1]["values"] == [len(fed)] and [i["shape"] for i in c["inputs"][2:]] == kv
            fed.append(c["inputs"][0]["values"][0])
            if len(fed) >= len(w["decoder_start_ids"]):
                scores = logits[step].copy()
                scores[w["suppress_tokens"]] = -np.inf
                if not ids:
                    scores[w["begin_suppress_tokens"]] = -np.inf
                nxt = int(np.argmax(scores))
                if nxt != w["eos_id"]:
                    ids.append(nxt)
            step, k = step + 1, k + 1
        assert fed[:len(w["decoder_start_ids"])] == w["decoder_start_ids"]
        assert fed[len(w["decoder_start_ids"]):] == ids[:len(fed) - len(w["decoder_start_ids"])]
        assert ids == clip["ids"] and len(fed) == clip["decoder_calls"]
        assert vocab.decode(ids).strip() == clip["text"]
    assert k == len(calls) and step == len(logits)


def _close(a, b, rel: float = 1e-5) -> bool:
    """JSON values equal, floats within `rel` (runtime sums and values of two exports of the same weights)."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
            abs(a - b) <= rel * max(1.0, abs(a), abs(b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k], rel) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_close(x, y, rel) for x, y in zip(a, b))
    return a == b


def check_longform_fixture(d: Path) -> None:
    """The long-form fixture follows today's SDK rules: every window is what `window_segments` says after the one
    before, the reduced logits replayed through `timestamp_rules` pick the fed tokens, and the text is the kept ids'."""
    import gzip

    from myqasr.evaluate import wer
    from myqasr.longform import timestamp_rules, window_segments
    from myqasr_export.vocab import Vocab

    exp = json.loads(gzip.decompress((d / "expected.json.gz").read_bytes()))
    v = json.loads(gzip.decompress((d / "model.vocab.json.gz").read_bytes()))
    vocab = Vocab("whisper", [t or "" for t in v["tokens"]], whisper=v["whisper"])
    w_cfg, tb = vocab.whisper, exp["timestamp_begin"]
    assert exp["seconds"] > 60 and len(exp["windows"]) >= 3
    seek, kept = 0, []
    for w in exp["windows"]:
        assert (w["start"], w["samples"]) == (seek, min(w_cfg["n_samples"], exp["n_samples"] - seek))
        generated = []
        for k, step in enumerate(w["steps"]):
            scores = expand_logits(step, len(vocab.tokens), tb)
            scores[w_cfg["suppress_tokens"]] = -np.inf
            if k == 0:
                scores[w_cfg["begin_suppress_tokens"]] = -np.inf
            timestamp_rules(scores, generated, timestamp_begin=tb, eos_id=w_cfg["eos_id"], no_timestamps_id=tb - 1)
            nxt = int(np.argmax(scores))
            if k + 1 < len(w["fed"]):
                assert nxt == w["fed"][k + 1], (w["start"], k)
                generated.append(nxt)
            elif nxt != w_cfg["eos_id"]:
                generated.append(nxt)                     # stopped by the token limit
        keep, advance = window_segments(generated, w["samples"], tb)
        kept += keep
        seek += min(advance, exp["n_samples"] - seek)
    assert seek == exp["n_samples"] and kept == exp["ids"]
    assert vocab.decode(kept).strip() == exp["text"]
    _, reference = long_recording()
    assert wer(reference, exp["text"]) < 0.1, exp["text"]   # and it is the recording's speech, all of it


def test_java_reproduces_python(fresh, tmp_path):
    """The JUnit suite, pointed at fixtures generated just now, passes: Java == Python on waveform, ids and text."""
    assert shutil.which("javac") and JUNIT_JAR.is_file(), \
        "JDK or JUnit missing: `make test` runs android_demo/scripts/run_all_checks.sh (which fetches them) first"
    env = {**os.environ, "MYQASR_ANDROID_FIXTURES": str(fresh), "MYQASR_ANDROID_BUILD": str(tmp_path)}
    proc = subprocess.run(["bash", str(UNIT_TESTS)], env=env, capture_output=True, text=True, timeout=300)
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, tail
    summary = [line for line in proc.stdout.splitlines() if line.endswith(" failed")]
    assert summary and summary[-1].endswith(" 0 failed") and not summary[-1].startswith("0 passed"), tail
