"""myqasr.audio: loading a user's clips, scoring transcripts; the shipped sample user; the voice renderer."""
import json
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from myqasr.audio import SAMPLE_USER_DIR, Clip, clips_hash, load_audio, load_clips
from myqasr.evaluate import normalize_text, wer
from myqasr.errors import MyqasrError


def tone(seconds=1.0, sr=16000, amp=0.3, freq=440.0):
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write(path, audio, sr=16000, **kw):
    sf.write(path, audio, sr, **kw)
    return path


def check_error(exc_info, path, *words):
    """One line, naming the file, saying the problem."""
    msg = str(exc_info.value)
    assert "\n" not in msg
    assert Path(path).name in msg
    for w in words:
        assert w in msg.lower(), msg


# ---- load_audio: good files ----------------------------------------------------------------------------------

def test_stereo_44k_becomes_mono_16k(tmp_path):
    left, right = tone(1.5, 44100, amp=0.4), tone(1.5, 44100, amp=0.2)
    f = write(tmp_path / "stereo.wav", np.stack([left, right], axis=1), 44100)
    a = load_audio(f)
    assert a.dtype == np.float32 and a.ndim == 1
    assert len(a) == 24000
    assert abs(np.max(np.abs(a)) - 0.3) < 0.01          # channels averaged, not summed or left-only


def test_16k_wav_samples_unchanged(tmp_path):
    x = tone(1.0)
    f = write(tmp_path / "a.wav", x, subtype="FLOAT")
    np.testing.assert_array_equal(load_audio(f), x)


@pytest.mark.parametrize("ext", ["flac", "ogg"])
def test_flac_ogg(tmp_path, ext):
    f = write(tmp_path / f"a.{ext}", tone(2.0, 22050), 22050)
    a = load_audio(f)
    assert abs(len(a) - 32000) <= 160 and np.max(np.abs(a)) > 0.2


def test_mp3(tmp_path):
    src = write(tmp_path / "src.wav", tone(2.0, 44100), 44100)
    mp3 = tmp_path / "a.mp3"
    if shutil.which("ffmpeg"):
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), str(mp3)], check=True)
    elif shutil.which("sox") and subprocess.run(["sox", str(src), str(mp3)], capture_output=True).returncode == 0:
        pass
    else:
        pytest.skip("no mp3 encoder (apt-get install ffmpeg)")
    a = load_audio(mp3)
    assert abs(len(a) - 32000) <= 0.1 * 16000 and np.max(np.abs(a)) > 0.2


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")
def test_other_formats_fall_back_to_audioread(tmp_path):
    src = write(tmp_path / "src.wav", np.stack([tone(2.0, 44100)] * 2, axis=1), 44100)
    m4a = tmp_path / "a.m4a"                              # AAC: libsndfile cannot read it, ffmpeg can
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), str(m4a)], check=True)
    a = load_audio(m4a)
    assert abs(len(a) - 32000) <= 0.1 * 16000 and np.max(np.abs(a)) > 0.2


# ---- load_audio: every bad input is one line naming the file ----------------------------------------------------

def _nan(p):
    x = tone(1.0)
    x[100] = np.nan
    write(p, x, subtype="FLOAT")


def _inf(p):
    x = tone(1.0, 22050)
    x[5] = -np.inf
    write(p, x, 22050, subtype="FLOAT")


BAD = {
    "missing": (lambda p: None, ["no such file"]),
    "empty": (lambda p: p.write_bytes(b""), ["empty"]),
    "not_audio": (lambda p: p.write_text("hello, I am a text file\n" * 20), ["not an audio file"]),
    "corrupt": (lambda p: p.write_bytes(b"RIFF\x24\x08\x00\x00WAVEfmt " + bytes(range(256)) * 4), ["corrupt"]),
    "zero_length": (lambda p: write(p, np.zeros((0, 1), np.float32)), ["zero-length"]),
    "nan": (_nan, ["nan"]),
    "inf": (_inf, ["inf"]),
    "silence": (lambda p: write(p, np.zeros(16000, np.float32)), ["silence"]),
    "near_silence": (lambda p: write(p, tone(1.0, amp=5e-5), subtype="FLOAT"), ["silence"]),
    # 7,201 samples at 1 Hz: a 2 h 0 min 1 s recording in 14 kB, over the 2 h limit
    "too_long": (lambda p: write(p, tone(7201.0, 1, amp=0.5, freq=0.3), 1), ["too long", "7200"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_error(tmp_path, case):
    make, words = BAD[case]
    path = tmp_path / f"clip_{case}.wav"
    make(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(MyqasrError) as e:
            load_audio(path)
    check_error(e, path, *words)
    assert e.value.__cause__ is None and (e.value.__context__ is None or e.value.__suppress_context__)  # no chain
    assert not caught, [str(w.message) for w in caught]


def test_max_seconds_is_a_parameter(tmp_path):
    f = write(tmp_path / "three.wav", tone(3.0))
    with pytest.raises(MyqasrError) as e:
        load_audio(f, max_seconds=2.0)
    check_error(e, f, "too long")
    assert len(load_audio(f, max_seconds=None)) == 48000
    assert len(load_audio(write(tmp_path / "thirty.wav", tone(30.0, 8000), 8000))) == 30 * 16000   # 30 s is fine
    assert len(load_audio(write(tmp_path / "long.wav", tone(95.0, 8000), 8000))) == 95 * 16000    # and so is 95 s


def test_directory_given_as_file(tmp_path):
    with pytest.raises(MyqasrError) as e:
        load_audio(tmp_path)
    check_error(e, tmp_path, "directory")


# ---- load_clips -------------------------------------------------------------------------------------------------

@pytest.fixture
def user_dir(tmp_path):
    d = tmp_path / "user"
    d.mkdir()
    write(d / "b.wav", tone(1.0, freq=300))
    write(d / "a.flac", tone(0.5, 44100, freq=500), 44100)
    write(d / ".hidden.wav", tone(0.5))                  # macOS resource-fork style: skipped
    (d / "a.txt").write_text("  Hello there.\n")
    (d / "notes.md").write_text("not audio")
    (d / "sub").mkdir()
    write(d / "sub" / "c.wav", tone(0.5))                # not recursive
    return d


def test_directory_sorted_audio_only_with_sidecars(user_dir):
    clips = load_clips(user_dir)
    assert [Path(c.path).name for c in clips] == ["a.flac", "b.wav"]
    assert [c.text for c in clips] == ["Hello there.", None]
    assert len(clips[0].audio) == 8000 and clips[0].audio.dtype == np.float32
    assert isinstance(clips[0], Clip)


def test_with_text_names_the_clip_without_one(user_dir):
    with pytest.raises(MyqasrError) as e:
        load_clips(user_dir, with_text=True)
    check_error(e, user_dir / "b.wav", "transcript")
    (user_dir / "b.txt").write_text("Second clip.")
    assert [c.text for c in load_clips(user_dir, with_text=True)] == ["Hello there.", "Second clip."]


@pytest.mark.parametrize("content", [None, "notes.md"])
def test_directory_without_audio(tmp_path, content):
    d = tmp_path / "nothing_here"
    d.mkdir()
    if content:
        (d / content).write_text("x")
    with pytest.raises(MyqasrError) as e:
        load_clips(d)
    check_error(e, d, "no audio files")


def test_missing_source(tmp_path):
    with pytest.raises(MyqasrError) as e:
        load_clips(tmp_path / "nope")
    check_error(e, tmp_path / "nope", "no such")


def test_single_file_and_list(user_dir):
    [one] = load_clips(user_dir / "a.flac")
    assert one.text == "Hello there."
    two = load_clips([str(user_dir / "b.wav"), user_dir / "a.flac"])
    assert [Path(c.path).name for c in two] == ["b.wav", "a.flac"]


def test_bad_clip_in_directory_names_that_clip(user_dir):
    (user_dir / "c.wav").write_bytes(b"")
    with pytest.raises(MyqasrError) as e:
        load_clips(user_dir)
    check_error(e, user_dir / "c.wav", "empty")


def test_manifest(user_dir):
    m = user_dir / "manifest.jsonl"
    m.write_text(json.dumps({"path": "b.wav", "text": "From the manifest."}) + "\n\n"
                 + json.dumps({"path": "a.flac"}) + "\n"                              # falls back to a.txt
                 + json.dumps({"path": "sub/c.wav", "text": "Nested."}) + "\n")
    clips = load_clips(m, with_text=True)
    assert [Path(c.path).name for c in clips] == ["b.wav", "a.flac", "c.wav"]
    assert [c.text for c in clips] == ["From the manifest.", "Hello there.", "Nested."]


@pytest.mark.parametrize("line,words", [("{not json", ["json"]), ('{"text": "no path"}', ["path"])])
def test_bad_manifest_line(tmp_path, line, words):
    m = tmp_path / "clips.jsonl"
    m.write_text(line + "\n")
    with pytest.raises(MyqasrError) as e:
        load_clips(m)
    check_error(e, m, *words)
    assert "clips.jsonl:1" in str(e.value)


def test_manifest_row_missing_file(tmp_path):
    m = tmp_path / "clips.jsonl"
    m.write_text(json.dumps({"path": "gone.wav", "text": "x"}) + "\n")
    with pytest.raises(MyqasrError) as e:
        load_clips(m)
    check_error(e, tmp_path / "gone.wav", "no such file")


# ---- clips_hash -------------------------------------------------------------------------------------------------

def test_clips_hash_stable_and_order_sensitive(user_dir):
    a, b = load_clips(user_dir), load_clips(user_dir)
    h = clips_hash(a)
    assert len(h) == 64 and h == clips_hash(b)
    assert clips_hash(a[::-1]) != h
    assert clips_hash(a[:1]) != h
    changed = [Clip(c.path, c.audio.copy(), c.text) for c in a]
    changed[1].audio[0] += 1e-3
    assert clips_hash(changed) != h
    # the same samples split differently are a different clip set
    joined = [Clip("j", np.concatenate([c.audio for c in a]), None)]
    assert clips_hash(joined) != h


# ---- WER --------------------------------------------------------------------------------------------------------

def test_wer_english_normalizer():
    assert wer("Three o'clock.", "3 o'clock") == 0.0
    assert wer(["The train leaves every twenty minutes."], ["the train leaves every 20 minutes"]) == 0.0
    assert wer("Three o'clock.", "3 o'clock", normalizer="basic") > 0
    assert normalize_text("Hello,   World!", "basic") == "hello world"


def test_wer_counts_errors():
    assert wer(["a b c d", "e f"], ["a x c d", "e f g"]) == pytest.approx(2 / 6)
    assert wer(["hello there"], [""]) == 1.0
    assert wer(["a b", "uh", ""], ["a b", "", ""]) == 0.0          # references empty after normalizing are fine


@pytest.mark.parametrize("args", [(["a"], ["a", "b"]), (["a"], ["a"], "klingon"), ([""], ["a"])])
def test_wer_errors(args):
    with pytest.raises(MyqasrError):
        wer(*args)


# ---- the shipped sample user ------------------------------------------------------------------------------------

def test_sample_user_ships_and_loads():
    calib = load_clips(SAMPLE_USER_DIR / "calib", with_text=True)
    test = load_clips(SAMPLE_USER_DIR / "test", with_text=True)
    assert len(calib) == 8 and len(test) == 8
    assert not {c.text for c in calib} & {c.text for c in test}
    files = [p for p in SAMPLE_USER_DIR.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 2_000_000
    for c in calib + test:
        info = sf.info(c.path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert 2.0 <= c.seconds <= 5.0
    rows = load_clips(SAMPLE_USER_DIR / "manifest.jsonl", with_text=True)
    assert [c.text for c in rows] == [c.text for c in calib + test]
    assert (SAMPLE_USER_DIR / "README.md").is_file()


def test_sample_user_matches_the_generator():
    from benchmarks.voices import SAMPLE_SPLITS, SENTENCES
    for split, idxs in SAMPLE_SPLITS.items():
        texts = [(SAMPLE_USER_DIR / split / f"{i:03d}.txt").read_text().strip() for i in idxs]
        assert texts == [SENTENCES[i] for i in idxs]


@pytest.mark.skipif(not (shutil.which("flite") and shutil.which("sox")), reason="needs flite and sox")
def test_voices_render_one_clip(tmp_path):
    from benchmarks.voices import VOICES_BY_USER, render_users
    rows = render_users(tmp_path, [VOICES_BY_USER["flite_awb"]], n_sentences=1)
    assert rows[0]["path"] == "flite_awb/000.wav" and rows[0]["engine"] == "flite"
    [clip] = load_clips(tmp_path / "manifest.jsonl", with_text=True)
    assert clip.text == rows[0]["text"]
    # deterministic: the shipped sample clip came out of the same code path
    shipped = SAMPLE_USER_DIR / "calib" / "000.wav"
    if shipped.read_bytes() != (tmp_path / "flite_awb" / "000.wav").read_bytes():
        pytest.skip("different flite/sox build than the one that rendered the sample user")
