"""Loading a user's clips: audio files (+ optional transcripts) -> float32 mono 16 kHz arrays.

`load_audio` reads one file; `load_clips` reads a directory, a file, a list of paths or a `.jsonl` manifest;
`clips_hash` names a clip set. A recording longer than STREAM_OVER_S is not held in memory: `load_clips` gives a
`StreamedClip` whose samples are read from its file in blocks (`read_blocks`) or by range when used, so the
statistics pass costs the same memory for 10 minutes as for 1. Every bad input raises `MyqasrError`
with one line "<file>: <problem>"; nothing from soundfile/soxr/audioread leaks out (no traceback, no warnings).
Decoding and resampling match `librosa.load(path, sr=16000)` (soundfile, else audioread; soxr HQ) sample for
sample, without librosa's multi-second import.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence, Union

import numpy as np

from .errors import MyqasrError

from .constants import CALIBRATION_SEGMENT_S, MAX_RECORDING_S, SAMPLE_RATE
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg")
MAX_SECONDS = float(MAX_RECORDING_S)   # longer recordings are refused (transcription and statistics window them)
MIN_PEAK = 1e-4             # below this peak a clip counts as silence
MIN_SECONDS = 0.1           # shorter than this, a clip holds no word to learn from (and CTC models need 25 ms)
STREAM_OVER_S = CALIBRATION_SEGMENT_S   # longer recordings stay in their file (`StreamedClip`)
BLOCK_S = 10                # seconds of a file read at a time when streaming it
SAMPLE_USER_DIR = Path(__file__).parent / "data" / "sample_user"   # demo user: calib/ and test/, see its README

PathLike = Union[str, os.PathLike]


@dataclass
class Clip:
    """One recording of the user: where it came from, its samples (float32 mono 16 kHz), its transcript if any."""
    path: str
    audio: np.ndarray
    text: str | None = None

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def _fail(path: PathLike, problem: str) -> MyqasrError:
    """The one-line error for `path`."""
    return MyqasrError(f"{os.fspath(path)}: {problem}".replace("\n", " "))


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    """(channels, n) float32 samples and rate via libsndfile (wav, flac, ogg, mp3 with libsndfile >= 1.1)."""
    import soundfile as sf

    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    return audio.T, int(sr)


def _read_audioread(path: Path) -> tuple[np.ndarray, int]:
    """(channels, n) float32 samples and rate via audioread (ffmpeg/gstreamer): librosa's fallback, without librosa."""
    import audioread

    with audioread.audio_open(str(path)) as f:
        sr, channels = int(f.samplerate), int(f.channels)
        pcm = b"".join(f)
    audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    return audio[: len(audio) // channels * channels].reshape(-1, channels).T, sr


def _decode(path: Path) -> tuple[np.ndarray, int]:
    """(channels, n) float32 samples at the file's own rate: soundfile first, then audioread, like `librosa.load`.

    Every library warning is silenced and every library exception becomes one `MyqasrError`.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for read in (_read_soundfile, _read_audioread):
            try:
                return read(path)
            except Exception:  # LibsndfileError, NoBackendError, DecodeError, ...: try the next reader
                continue
    raise _fail(path, "not an audio file or corrupt (could not decode as wav/flac/mp3/ogg)")


def _to_mono_16k(audio: np.ndarray, sr: int) -> np.ndarray:
    """Average the channels, resample to 16 kHz with soxr HQ (what `librosa.load(sr=16000)` does; finite input only)."""
    import soxr

    mono = audio.mean(axis=0, dtype=np.float64).astype(np.float32) if audio.shape[0] > 1 else audio[0]
    if sr != SAMPLE_RATE:
        n_out = int(np.ceil(len(mono) * SAMPLE_RATE / sr))
        mono = soxr.resample(mono, sr, SAMPLE_RATE, quality="HQ")
        mono = np.pad(mono[:n_out], (0, max(0, n_out - len(mono))))   # librosa's fix_length
    return np.ascontiguousarray(mono, dtype=np.float32)


def _duration_hint(path: Path) -> float | None:
    """Duration from the file header (cheap, no decoding), or None if soundfile cannot tell."""
    import soundfile as sf

    try:
        return sf.info(path).duration
    except Exception:
        return None


def load_audio(path: PathLike, *, max_seconds: float | None = MAX_SECONDS, min_peak: float = MIN_PEAK) -> np.ndarray:
    """Read one audio file as float32 mono 16 kHz.

    Stereo is averaged, any rate is resampled (soxr_hq). Raises `MyqasrError` ("<path>: <problem>") for a missing,
    empty, undecodable, zero-length, too short (< 0.1 s), non-finite, silent (peak < `min_peak`) or too long (> `max_seconds`) file.
    """
    p = Path(path)
    if not p.exists():
        raise _fail(path, "no such file")
    if p.is_dir():
        raise _fail(path, "is a directory, not an audio file")
    if not os.access(p, os.R_OK):
        raise _fail(path, "cannot read (permission denied)")
    if p.stat().st_size == 0:
        raise _fail(path, "empty file (0 bytes)")
    hint = _duration_hint(p)
    if max_seconds is not None and hint is not None and hint > max_seconds + 1.0:
        raise _fail(path, f"too long ({hint:.1f} s > {max_seconds:g} s); split it into shorter recordings")

    audio, sr = _decode(p)
    if audio.size == 0:
        raise _fail(path, "zero-length audio (no samples)")
    if not np.isfinite(np.sum(audio, dtype=np.float64)):    # NaN / inf propagate; no n-sized temporary
        raise _fail(path, "contains NaN or infinite samples")
    audio = _to_mono_16k(audio, sr)
    if audio.size == 0:  # a few samples at a high rate can resample to none
        raise _fail(path, "zero-length audio (no samples)")
    seconds = audio.size / SAMPLE_RATE
    if max_seconds is not None and audio.size > round(max_seconds * SAMPLE_RATE):
        raise _fail(path, f"too long ({seconds:.1f} s > {max_seconds:g} s); split it into shorter recordings")
    if seconds < MIN_SECONDS:
        raise _fail(path, f"too short ({seconds * 1000:.0f} ms < {MIN_SECONDS * 1000:.0f} ms): no speech to use")
    peak = max(float(np.max(audio)), -float(np.min(audio)))
    if peak < min_peak:
        raise _fail(path, f"silence only (peak {peak:.1e} < {min_peak:g})")
    return audio


def read_sidecar_text(audio_path: PathLike) -> str | None:
    """The transcript in `<stem>.txt` next to the audio file (stripped), or None if absent or blank."""
    txt = Path(audio_path).with_suffix(".txt")
    if not txt.is_file():
        return None
    try:
        text = txt.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        raise _fail(txt, "cannot read transcript (expected UTF-8 text)") from None
    return text or None


def _is_audio_name(p: Path) -> bool:
    return p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".")


def list_audio_files(directory: PathLike) -> list[Path]:
    """Audio files directly inside `directory` (not recursive), sorted by name; dotfiles skipped."""
    d = Path(directory)
    files = sorted((p for p in d.iterdir() if p.is_file() and _is_audio_name(p)), key=lambda p: p.name)
    if not files:
        raise _fail(directory, f"no audio files ({'/'.join(e[1:] for e in AUDIO_EXTENSIONS)}) in this directory")
    return files


def read_manifest(manifest: PathLike) -> list[tuple[Path, str | None]]:
    """Rows of a `.jsonl` manifest as (audio path, text or None); `path` is relative to the manifest's folder."""
    m = Path(manifest)
    rows = []
    try:
        lines = m.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        raise _fail(manifest, "cannot read manifest (expected UTF-8 JSON lines)") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise _fail(f"{m}:{lineno}", "not valid JSON") from None
        if not isinstance(row, dict) or not isinstance(row.get("path"), str) or not row["path"]:
            raise _fail(f"{m}:{lineno}", 'row needs a "path" string')
        text = row.get("text")
        if text is not None and not isinstance(text, str):
            raise _fail(f"{m}:{lineno}", '"text" must be a string')
        rows.append((m.parent / row["path"], text.strip() if text and text.strip() else None))
    if not rows:
        raise _fail(manifest, "manifest has no rows")
    return rows


def _sources(source: PathLike | Sequence[PathLike]) -> list[tuple[Path, str | None]]:
    """(audio path, manifest text or None) for each clip named by `source`."""
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        if not p.exists():
            raise _fail(source, "no such file or directory")
        if p.is_dir():
            return [(f, None) for f in list_audio_files(p)]
        if p.suffix.lower() == ".jsonl":
            return read_manifest(p)
        return [(p, None)]
    paths = list(source)
    if not paths:
        raise MyqasrError("load_clips: empty list of clips")
    return [(Path(x), None) for x in paths]


def load_clips(source: PathLike | Sequence[PathLike], *, with_text: bool = False,
               max_seconds: float | None = MAX_SECONDS) -> list[Clip]:
    """Load a user's clips from a directory (non-recursive, sorted), one file, a list of paths or a `.jsonl` manifest.

    Transcripts come from the manifest's `text`, else from a `<stem>.txt` sidecar. With `with_text=True` every clip
    must have one (the error names the first clip without). Any unreadable clip raises `MyqasrError`. A recording
    longer than STREAM_OVER_S comes back as a `StreamedClip` (its samples stay in the file until used).
    """
    clips = []
    for path, text in _sources(source):
        if text is None:
            text = read_sidecar_text(path)
        if with_text and text is None:
            sidecar = path.with_suffix(".txt").name
            raise _fail(path, f'no transcript (expected {sidecar} next to it, or "text" in the manifest)')
        if streams(path):
            clips.append(stream_recording(path, text, max_seconds=max_seconds))
        else:
            clips.append(Clip(path=str(path), audio=load_audio(path, max_seconds=max_seconds), text=text))
    return clips


def clips_hash(clips: Iterable[Clip]) -> str:
    """sha256 (hex) over the clips' float32 samples in order, each preceded by its length; names a clip set.
    A `StreamedClip` is hashed block by block (the same digest as its samples in memory)."""
    h = hashlib.sha256()
    for c in clips:
        h.update(clip_samples(c).to_bytes(8, "little"))
        for block in clip_blocks(c):
            h.update(memoryview(np.ascontiguousarray(block, dtype="<f4")).cast("B"))   # no copy of float32 samples
    return h.hexdigest()


def clip_samples(clip) -> int:
    """How many samples a clip has, without reading a `StreamedClip`'s file."""
    return clip.n_samples if isinstance(clip, StreamedClip) else len(clip.audio)


def clip_blocks(clip) -> Iterable[np.ndarray]:
    """A clip's samples in order: a `StreamedClip` block by block from its file, an in-memory clip as one block."""
    return clip.blocks() if isinstance(clip, StreamedClip) else (clip.audio,)


# ---- recordings read in blocks ----------------------------------------------------------------------------------------

def read_blocks(path: PathLike, start: int = 0, stop: int | None = None,
                block_s: float = BLOCK_S) -> Iterator[np.ndarray]:
    """Samples [start, stop) of a 16 kHz mono file as float32 blocks of `block_s`: one block in memory at a time."""
    import soundfile as sf

    with sf.SoundFile(path) as f:
        if f.samplerate != SAMPLE_RATE or f.channels != 1:
            raise _fail(path, f"cannot stream {f.channels} channel(s) at {f.samplerate} Hz (expected 16 kHz mono)")
        f.seek(start)
        left = (f.frames if stop is None else stop) - start
        while left > 0:
            block = f.read(min(left, int(block_s * SAMPLE_RATE)), dtype="float32")
            if len(block) == 0:
                return
            left -= len(block)
            yield block


def decoded_blocks(path: PathLike, block_s: float = BLOCK_S) -> Iterator[np.ndarray]:
    """Any soundfile-readable file as float32 mono 16 kHz blocks, as `load_audio` would decode it (channels averaged,
    soxr HQ resampling in its streaming form, librosa's length), holding one block at a time."""
    import soundfile as sf
    import soxr

    with sf.SoundFile(path) as f:
        sr, n_out, done = f.samplerate, int(np.ceil(f.frames * SAMPLE_RATE / f.samplerate)), 0
        stream = None if sr == SAMPLE_RATE else soxr.ResampleStream(sr, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
        while True:
            x = f.read(int(block_s * sr), dtype="float32", always_2d=True)
            last = len(x) < int(block_s * sr)
            mono = x.mean(axis=1, dtype=np.float64).astype(np.float32) if x.shape[1] > 1 else x[:, 0]
            if stream is not None:
                mono = stream.resample_chunk(mono, last=last)
            mono = mono[: max(0, n_out - done)]
            if last and done + len(mono) < n_out:                      # librosa's fix_length
                mono = np.pad(mono, (0, n_out - done - len(mono)))
            done += len(mono)
            if len(mono):
                yield np.ascontiguousarray(mono, dtype=np.float32)
            if last:
                return


def spool_16k(path: Path) -> Path:
    """A 16 kHz mono float32 WAV copy of `path` in a temporary folder (removed at exit), written block by block."""
    import atexit
    import shutil
    import tempfile

    import soundfile as sf

    folder = Path(tempfile.mkdtemp(prefix="myqasr-stream-"))
    atexit.register(shutil.rmtree, folder, True)
    out = folder / (path.stem + ".wav")
    with sf.SoundFile(out, "w", SAMPLE_RATE, 1, subtype="FLOAT") as w:
        for block in decoded_blocks(path):
            w.write(block)
    return out


class StreamedClip:
    """A recording that stays in its file: samples [start, stop) of `source` (16 kHz mono), read when used.

    `audio` reads the range into memory (for callers that need an array); `blocks()` streams it."""

    def __init__(self, path: str, source: Path, start: int, stop: int, text: str | None = None):
        self.path, self.source, self.start, self.stop, self.text = path, Path(source), start, stop, text

    @property
    def n_samples(self) -> int:
        return self.stop - self.start

    @property
    def seconds(self) -> float:
        return self.n_samples / SAMPLE_RATE

    @property
    def audio(self) -> np.ndarray:
        import soundfile as sf
        return sf.read(self.source, start=self.start, stop=self.stop, dtype="float32")[0]

    def blocks(self, block_s: float = BLOCK_S) -> Iterator[np.ndarray]:
        return read_blocks(self.source, self.start, self.stop, block_s)

    def __repr__(self) -> str:
        return f"StreamedClip({self.path!r}, {self.seconds:.2f} s)"


def stream_recording(path: PathLike, text: str | None = None, *, max_seconds: float | None = MAX_SECONDS,
                     min_peak: float = MIN_PEAK) -> StreamedClip:
    """A long recording as a `StreamedClip`, checked like `load_audio` (finite, not silent, not too long) in one
    streamed pass. A file that is not 16 kHz mono is first decoded block by block into a temporary 16 kHz file."""
    p = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import soundfile as sf
            info = sf.info(p)
            source = p if (info.samplerate, info.channels) == (SAMPLE_RATE, 1) else spool_16k(p)
            n, peak, finite = 0, 0.0, True
            for block in read_blocks(source):
                n += len(block)
                finite = finite and bool(np.isfinite(np.sum(block, dtype=np.float64)))
                if len(block):
                    peak = max(peak, float(np.max(block)), -float(np.min(block)))
        except MyqasrError:
            raise
        except Exception:
            raise _fail(path, "not an audio file or corrupt (could not decode as wav/flac/mp3/ogg)") from None
    if not finite:
        raise _fail(path, "contains NaN or infinite samples")
    if max_seconds is not None and n > round(max_seconds * SAMPLE_RATE):
        raise _fail(path, f"too long ({n / SAMPLE_RATE:.1f} s > {max_seconds:g} s); split it into shorter recordings")
    if peak < min_peak:
        raise _fail(path, f"silence only (peak {peak:.1e} < {min_peak:g})")
    return StreamedClip(os.fspath(path), source, 0, n, text)


def streams(path: Path) -> bool:
    """Whether `load_clips` keeps this file in its file: soundfile reads it and it is longer than STREAM_OVER_S."""
    hint = _duration_hint(path) if path.is_file() and path.stat().st_size else None
    return hint is not None and hint > STREAM_OVER_S
