"""Recordings of any length: Whisper's long-form rules against transformers' own code, CTC windows, calibration
segments at pauses, and a 70 s recording through the CLI, the Python API, the `.pte` and the statistics pass."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from myqasr.audio import Clip
from myqasr.constants import SAMPLE_RATE, WHISPER_N_SAMPLES
from myqasr.longform import (calibration_segments, ctc_keep, ctc_windows, pause_cuts, streamed_pause_cuts,
                             timestamp_rules, whisper_longform, window_segments)

# a small vocabulary with Whisper's layout: text < EOS < specials < NO_TS < timestamps (TB = 0.00 s)
V, EOS, NO_TS = 240, 50, 88
TB = NO_TS + 1


def random_history(rng, n: int) -> list[int]:
    """Ids a window could have generated: text and timestamps, pairs and lone ones, in rising time."""
    out, t = [], TB + int(rng.integers(0, 20))
    for _ in range(n):
        if rng.random() < 0.3:
            out.append(min(V - 1, t))
            t += int(rng.integers(0, 15))
        else:
            out.append(int(rng.integers(0, EOS)))
    return out


def test_timestamp_rules_are_transformers():
    from transformers.generation.logits_process import WhisperTimeStampLogitsProcessor

    config = SimpleNamespace(no_timestamps_token_id=NO_TS, eos_token_id=EOS, bos_token_id=EOS,
                             max_initial_timestamp_index=7, _detect_timestamp_from_logprob=True)
    hf = WhisperTimeStampLogitsProcessor(config, begin_index=1)
    rng = np.random.default_rng(0)
    forced = 0
    for case in range(400):
        history = random_history(rng, int(rng.integers(0, 8)))
        scores = rng.normal(0, 3, V).astype(np.float32)
        scores[TB:] += float(rng.normal(-3, 2))          # sometimes the timestamps' total mass wins, sometimes not
        want = hf(torch.tensor([[EOS + 1] + history]), torch.from_numpy(scores.copy())[None])[0].numpy()
        got = timestamp_rules(scores.copy(), history, timestamp_begin=TB, eos_id=EOS, no_timestamps_id=NO_TS,
                              max_initial_timestamp=7)
        np.testing.assert_array_equal(got, want, err_msg=f"case {case}: {history}")
        forced += bool(np.all(np.isneginf(got[:TB]))) and bool(history)
    assert forced > 20                                    # the "timestamps more probable" rule was exercised


def test_window_segments_are_transformers():
    from transformers.models.whisper.generation_whisper import WhisperGenerationMixin

    rng = np.random.default_rng(1)
    kinds = set()
    for case in range(300):
        tokens = random_history(rng, int(rng.integers(1, 14)))
        frames = int(rng.integers(100, 3001))
        segments, offset = WhisperGenerationMixin._retrieve_segment(
            seek_sequence=torch.tensor(tokens), seek_outputs=[None], time_offset=torch.zeros(1), timestamp_begin=TB,
            seek_num_frames=torch.tensor([frames]), time_precision=0.02, time_precision_features=0.01,
            input_stride=2, prev_idx=0, idx=0, return_token_timestamps=False, decoder_input_ids=torch.zeros(1, 1))
        kept, advance = window_segments(tokens, frames * 160, TB)
        want = [int(t) for s in segments for t in s["tokens"]]
        assert kept == want, (case, tokens)
        assert advance == max(int(offset) * 160, 320), (case, tokens)
        kinds.add((len(kept) < len(tokens), advance == frames * 160))
    assert len(kinds) >= 3                                 # cut + seek back, lone ending, no pair


def test_longform_driver_moves_by_the_rule_and_ends_at_the_end():
    n = 75 * SAMPLE_RATE
    calls = []

    def decode(start, samples):                            # each window: one segment 0-20 s, then an unfinished one
        calls.append((start, samples))
        return [TB, 1, 2, TB + 1000, TB + 1000, 3, 4] if samples == WHISPER_N_SAMPLES else [TB, 5, TB + 10]

    out = whisper_longform(n, decode, TB)
    assert calls == [(0, WHISPER_N_SAMPLES), (20 * SAMPLE_RATE, WHISPER_N_SAMPLES),
                     (40 * SAMPLE_RATE, WHISPER_N_SAMPLES), (60 * SAMPLE_RATE, 15 * SAMPLE_RATE)]
    assert out.tokens == [TB, 1, 2, TB + 1000, TB + 1000] * 3 + [TB, 5, TB + 10]


def test_ctc_windows_tile_the_recording():
    hop = 320
    for n in (5 * SAMPLE_RATE, 24 * SAMPLE_RATE, 24 * SAMPLE_RATE + 1, 61 * SAMPLE_RATE + 77):
        wins = ctc_windows(n, hop)
        assert wins[0][2] == 0 and wins[-1][3] == n
        assert all(a[3] == b[2] for a, b in zip(wins, wins[1:]))                  # kept ranges tile [0, n)
        assert all(s <= kf and kt <= e and e - s <= 24 * SAMPLE_RATE for s, e, kf, kt in wins)
        frames = [ctc_keep(w, (w[1] - w[0]) // hop, hop, i == len(wins) - 1) for i, w in enumerate(wins)]
        assert sum(b - a for a, b in frames) == sum((w[1] - w[0]) // hop for w in wins) if len(wins) == 1 \
            else abs(sum(b - a for a, b in frames) - n // hop) <= 1
    assert len(ctc_windows(61 * SAMPLE_RATE, hop)) == 4


def speech_like(seconds: float, gaps: list[tuple[float, float]], seed: int = 0) -> np.ndarray:
    """Noise bursts modulated at syllable rate, silent in `gaps` (start s, end s)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    x = (0.3 * rng.standard_normal(t.size) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)
    for a, b in gaps:
        x[int(a * SAMPLE_RATE):int(b * SAMPLE_RATE)] *= 0.001
    return x


def test_calibration_segments_cut_long_recordings_in_pauses():
    gaps = [(g, g + 0.5) for g in np.arange(7.0, 600, 9.3)]     # a half-second pause every 9.3 s
    audio = speech_like(600, gaps)
    cuts = pause_cuts(audio)
    assert cuts[0][0] == 0 and cuts[-1][1] == len(audio) and all(a[1] == b[0] for a, b in zip(cuts, cuts[1:]))
    assert all(b - a <= 30 * SAMPLE_RATE for a, b in cuts) and len(cuts) >= 20
    for _, cut in cuts[:-1]:                                      # every cut inside a pause
        assert any(a * SAMPLE_RATE < cut < b * SAMPLE_RATE for a, b in gaps), cut / SAMPLE_RATE
    short = Clip("short.wav", speech_like(12, []))
    segs = calibration_segments([short, Clip("long.wav", audio)])
    assert segs[0] is short and len(segs) == 1 + len(cuts)
    assert all(np.shares_memory(s.audio, audio) for s in segs[1:])   # views, not copies
    assert segs[1].path == "long.wav@0.00s"


@pytest.mark.parametrize("block", [999, 160_000, 700_001])
def test_streamed_cuts_equal_the_in_memory_cuts_holding_one_segment_and_one_block(block):
    """Cut while reading blocks of any size: the same [start, end) ranges and samples as `pause_cuts` on the whole
    recording, and the reader's buffer never holds more than one segment limit plus one block."""
    gaps = [(g, g + 0.5) for g in np.arange(7.0, 200, 9.3)]
    audio = speech_like(200, gaps, seed=3)
    blocks = (audio[i:i + block] for i in range(0, len(audio), block))
    cuts, held = [], 0
    for start, piece in streamed_pause_cuts(blocks):
        assert np.array_equal(piece, audio[start:start + len(piece)])
        cuts.append((start, start + len(piece)))
        held = max(held, len(piece.base if piece.base is not None else piece))
    assert cuts == pause_cuts(audio) and len(cuts) >= 7
    assert held <= 30 * SAMPLE_RATE + block


def test_a_long_wav_stays_in_its_file_and_gives_the_in_memory_segments_and_hash(tmp_path):
    """`load_clips` leaves a 16 kHz recording longer than 30 s in its file; its segments are the in-memory
    recording's (same names, ranges, samples), read only when used, and the clip set's sha256 is unchanged."""
    import soundfile as sf
    from myqasr.audio import StreamedClip, clips_hash, load_audio, load_clips
    from myqasr.longform import SegmentAudios

    audio = speech_like(95, [(g, g + 0.5) for g in np.arange(7.0, 95, 9.3)], seed=5)
    wav = tmp_path / "memo.wav"
    sf.write(wav, audio, SAMPLE_RATE, subtype="PCM_16")
    short = tmp_path / "short.wav"
    sf.write(short, audio[:SAMPLE_RATE * 3], SAMPLE_RATE, subtype="PCM_16")
    streamed, in_file = load_clips([short, wav])[0], load_clips(wav)[0]
    assert isinstance(in_file, StreamedClip) and not isinstance(streamed, StreamedClip)
    whole = Clip(str(wav), load_audio(wav))
    assert in_file.n_samples == len(whole.audio) and np.array_equal(in_file.audio, whole.audio)
    segs, ref = calibration_segments([in_file]), calibration_segments([whole])
    assert [s.path for s in segs] == [r.path for r in ref] and len(segs) == 4
    assert all(isinstance(s, StreamedClip) for s in segs)
    audios = SegmentAudios(segs)
    assert all(np.array_equal(audios[i], r.audio) for i, r in enumerate(ref))
    assert [a.shape for a in audios[1:3]] == [r.audio.shape for r in ref[1:3]]
    assert clips_hash([streamed, in_file]) == clips_hash([streamed, whole])


def test_a_long_44k_stereo_recording_is_spooled_to_16k_like_load_audio(tmp_path):
    """A recording that is not 16 kHz mono is decoded block by block (channels averaged, soxr's streaming HQ
    resampler) into a temporary 16 kHz file: the same length as `load_audio`'s and the same samples to 1e-4."""
    import soundfile as sf
    from myqasr.audio import StreamedClip, load_audio, load_clips

    mono = speech_like(40, [(20.0, 21.0)], seed=7)
    t = np.arange(int(40 * 44100)) / 44100
    left = np.interp(t, np.arange(len(mono)) / SAMPLE_RATE, mono).astype(np.float32)
    path = tmp_path / "meeting.flac"
    sf.write(path, np.stack([left, 0.5 * left], axis=1), 44100)
    clip = load_clips(path)[0]
    assert isinstance(clip, StreamedClip) and clip.source != path and clip.source.suffix == ".wav"
    ref = load_audio(path)
    assert clip.n_samples == len(ref)
    np.testing.assert_allclose(clip.audio, ref, atol=1e-4)


def test_a_long_recording_of_silence_is_one_line_error(tmp_path):
    import soundfile as sf
    from myqasr.audio import load_clips
    from myqasr.errors import MyqasrError

    path = tmp_path / "quiet.wav"
    sf.write(path, np.zeros(SAMPLE_RATE * 40, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(MyqasrError, match=r"quiet.wav: silence only"):
        load_clips(path)


# ---------------------------------------------------------------------------------- the real model, 70 s of speech

@pytest.fixture(scope="module")
def long_wav(tmp_path_factory):
    """The sample user's 16 sentences with 0.8 s pauses, then again: 70 s, with its text."""
    import soundfile as sf

    from myqasr.audio import SAMPLE_USER_DIR, load_clips

    clips = load_clips(SAMPLE_USER_DIR / "calib", with_text=True) + load_clips(SAMPLE_USER_DIR / "test", with_text=True)
    parts, texts, k = [], [], 0
    pause = np.zeros(int(0.8 * SAMPLE_RATE), np.float32)
    while sum(map(len, parts)) < 70 * SAMPLE_RATE:
        parts += [clips[k % len(clips)].audio, pause]
        texts.append(clips[k % len(clips)].text)
        k += 1
    path = tmp_path_factory.mktemp("long") / "memo.wav"
    sf.write(str(path), np.concatenate(parts), SAMPLE_RATE, subtype="PCM_16")
    return path, " ".join(texts)


@pytest.fixture(scope="module")
def reference(embedded, long_wav):
    """transformers' long-form transcript of the full-precision model, through the Python API."""
    from myqasr.audio import load_clips
    from myqasr.evaluate import transcribe

    [text] = transcribe(embedded, embedded.model, load_clips(long_wav[0]), progress=False)
    return text


def test_python_api_transcribes_a_long_recording(reference, long_wav):
    from myqasr.evaluate import wer

    assert wer(long_wav[1], reference) < 0.1, reference
    assert reference.lower().count("umbrella") == long_wav[1].lower().count("umbrella") == 2   # up to the last words


def test_cli_run_transcribes_a_long_recording_like_transformers(mixed_pte, long_wav, reference, capsys):
    from myqasr.evaluate import wer
    from myqasr_export.cli import main

    capsys.readouterr()
    assert main(["run", str(mixed_pte.pte), str(long_wav[0]), "--threads", "2"]) == 0
    out = capsys.readouterr()
    line = out.out.splitlines()[0]
    assert line.startswith(f"{long_wav[0]}: ") and " windows" in line, line
    text = line.split(": ", 1)[1].split(" | audio")[0].strip("'\"")
    assert int(line.rsplit(", ", 1)[1].split()[0]) >= 3                 # >= 3 windows for 70 s
    assert wer(reference, text) < 0.06, (reference, text)               # a mixed int8/int4 model vs fp32
    assert "too long" not in out.err and "s audio" in out.err           # progress, no refusal


def test_statistics_of_a_long_recording_are_its_segments(embedded, long_wav, tmp_path):
    from myqasr.audio import load_clips
    from myqasr.plan import clips_info, statistics_for

    clips = load_clips(long_wav[0])
    stats_file = tmp_path / "s.safetensors"
    stats = statistics_for(embedded, clips, stats_file, progress=False)
    assert stats.clips == clips_info(clips) and stats.clips["count"] == 1 and stats.clips["seconds"] > 69
    from myqasr.adapters import adapter_for
    frames = adapter_for(embedded.arch, embedded.processor).stats_context
    segments = calibration_segments(clips)
    assert len(segments) == 3 and all(s.seconds <= 30 for s in segments)
    enc = stats.layers["model.encoder.layers.0.fc1"]["count"]
    assert enc == 1536 * sum(frames(s.audio)["enc"] for s in segments), enc    # every segment, padding excluded
    assert statistics_for(embedded, clips, stats_file, progress=False).layers == stats.layers   # reused by sha256


def test_the_pte_front_end_is_executorchs_whisper_audio_processor(embedded):
    """The `.pte`'s preprocessor is ExecuTorch's WhisperAudioProcessor (its filterbank is tiny.en's), and it computes
    transformers' features; a non-standard filterbank falls back to our LogMel on the extractor's own filters."""
    from executorch.extension.audio.mel_spectrogram import WhisperAudioProcessor
    from myqasr.audio import SAMPLE_USER_DIR, load_audio
    from myqasr_export.whisper import LogMel, preprocessor_for

    fe = embedded.processor.feature_extractor
    pre = preprocessor_for(embedded.model, fe)
    assert isinstance(pre, WhisperAudioProcessor)
    audio = load_audio(sorted((SAMPLE_USER_DIR / "test").glob("*.wav"))[0])
    pcm = torch.nn.functional.pad(torch.from_numpy(audio), (0, WHISPER_N_SAMPLES - len(audio)))
    want = fe(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
    with torch.no_grad():
        assert float((pre(pcm) - want).abs().max()) < 1e-4
        odd = SimpleNamespace(mel_filters=fe.mel_filters * 1.01)
        fallback = preprocessor_for(embedded.model, odd)
        assert isinstance(fallback, LogMel) and float((fallback(pcm) - want).abs().max()) > 1e-3
