"""Loading a user's clips: audio files (+ optional transcripts) -> float32 mono 16 kHz arrays.

`load_audio` reads one file; `load_clips` reads a directory, a file, a list of paths or a `.jsonl` manifest;
`clips_hash` names a clip set. Every bad input raises `MyqasrError`
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
from typing import Iterable, Sequence, Union

import numpy as np

from .errors import MyqasrError

from .constants import MAX_RECORDING_S, SAMPLE_RATE
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg")
MAX_SECONDS = float(MAX_RECORDING_S)   # longer recordings are refused (transcription and statistics window them)
MIN_PEAK = 1e-4             # below this peak a clip counts as silence
MIN_SECONDS = 0.1           # shorter than this, a clip holds no word to learn from (and CTC models need 25 ms)
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
    must have one (the error names the first clip without). Any unreadable clip raises `MyqasrError`.
    """
    clips = []
    for path, text in _sources(source):
        if text is None:
            text = read_sidecar_text(path)
        if with_text and text is None:
            sidecar = path.with_suffix(".txt").name
            raise _fail(path, f'no transcript (expected {sidecar} next to it, or "text" in the manifest)')
        clips.append(Clip(path=str(path), audio=load_audio(path, max_seconds=max_seconds), text=text))
    return clips


def clips_hash(clips: Iterable[Clip]) -> str:
    """sha256 (hex) over the clips' float32 samples in order, each preceded by its length; names a clip set."""
    h = hashlib.sha256()
    for c in clips:
        a = np.ascontiguousarray(c.audio, dtype="<f4")
        h.update(len(a).to_bytes(8, "little"))
        h.update(memoryview(a).cast("B"))        # the samples' bytes without a copy (a 10 min clip is 38 MB)
    return h.hexdigest()
