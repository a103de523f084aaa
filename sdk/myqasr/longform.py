"""Recordings of any length: the rules every runner shares (host `.pte` runner, Android app, statistics pass).

Whisper, longer than its 30 s window: the sequential long-form method of openai/whisper `transcribe` and of
transformers `WhisperForConditionalGeneration.generate` (greedy, no temperature fallback, not conditioned on the
previous window's text):

  1. decode the window that starts at `seek` (30 s, or what is left) with timestamps: prompt <|startoftranscript|>
     alone, `timestamp_rules` applied to the logits at every step (after suppress_tokens / begin_suppress_tokens);
  2. `window_segments` keeps the window's complete segments and says how far to move: to the end of the window if
     it ended with one lone timestamp (no speech after it) or had no segment boundary at all, otherwise to the start
     timestamp of its unfinished last segment (that text is decoded again from the next window);
  3. repeat until `seek` reaches the end. The transcript is the kept tokens' text.

CTC models (Wav2Vec2) take a recording in `ctc_windows`: windows of CTC_WINDOW_S plus CTC_CONTEXT_S of context
on each side, whose frames are dropped before the greedy CTC decoding of all kept frames (`ctc_keep`).

Calibration: `pause_cuts` splits a long recording into segments of at most CALIBRATION_SEGMENT_S, each cut at the
quietest 100 ms of the last CALIBRATION_SEARCH_S before the limit (a pause between words when there is one);
`calibration_segments` applies it to a clip list (views of the samples, no copies). A `StreamedClip` (a long
recording left in its file) is cut by `streamed_pause_cuts` while it is read block by block, at the same samples,
into `StreamedClip` segments that are read again only when a pass uses them: memory stays flat in the length.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np

from .constants import (CALIBRATION_SEARCH_S, CALIBRATION_SEGMENT_S, CTC_CONTEXT_S, CTC_WINDOW_S, SAMPLE_RATE,
                        WHISPER_MAX_INITIAL_TIMESTAMP, WHISPER_N_SAMPLES, WHISPER_SAMPLES_PER_TIMESTAMP)

NEG_INF = float("-inf")
ENERGY_FRAME = SAMPLE_RATE // 50          # 20 ms frames for the pause search
ENERGY_SMOOTH = 5                         # ... averaged over 100 ms, so a cut lands in a pause, not between phones


# ---- Whisper: one decoding step ----------------------------------------------------------------------------------

def logsumexp(x: np.ndarray) -> float:
    """log(sum(exp(x))) in float64; -inf for an empty or all -inf array."""
    if x.size == 0:
        return NEG_INF
    m = float(np.max(x))
    if m == NEG_INF:
        return NEG_INF
    return m + math.log(float(np.sum(np.exp(x.astype(np.float64) - m))))


def timestamp_rules(scores: np.ndarray, generated: list[int], *, timestamp_begin: int, eos_id: int,
                    no_timestamps_id: int, max_initial_timestamp: int = WHISPER_MAX_INITIAL_TIMESTAMP) -> np.ndarray:
    """Whisper's timestamp rules on one step's logits (in place; transformers `WhisperTimeStampLogitsProcessor`).

    `generated`: the window's ids so far, prompt excluded. Timestamps come in pairs (end of one segment, start of
    the next) except right before <|endoftext|>; they never decrease; the first id of a window is a timestamp of at
    most <|max_initial_timestamp * 0.02|>; and when the timestamps together are more probable than any single text
    token, the step must pick a timestamp."""
    tb = timestamp_begin
    scores[no_timestamps_id] = NEG_INF
    last_ts = len(generated) >= 1 and generated[-1] >= tb
    penultimate_ts = len(generated) < 2 or generated[-2] >= tb
    if last_ts:
        if penultimate_ts:
            scores[tb:] = NEG_INF             # after a pair (or the first timestamp): text must follow
        else:
            scores[:eos_id] = NEG_INF         # after text + timestamp: the pair's second timestamp or the end
    stamps = [t for t in generated if t >= tb]
    if stamps:
        floor = stamps[-1] if (last_ts and not penultimate_ts) else stamps[-1] + 1
        scores[tb:floor] = NEG_INF
    if not generated:
        scores[:tb] = NEG_INF
        scores[tb + max_initial_timestamp + 1:] = NEG_INF
    if logsumexp(scores[tb:]) > float(np.max(scores[:tb])):
        scores[:tb] = NEG_INF
    return scores


# ---- Whisper: one window's segments and the next seek --------------------------------------------------------------

def window_segments(tokens: list[int], window_samples: int, timestamp_begin: int) -> tuple[list[int], int]:
    """(tokens to keep, samples to move on) for one decoded window (`tokens` without the prompt and <|endoftext|>).

    transformers `_retrieve_segment`: with at least one pair of consecutive timestamps, the window is cut into
    segments there; if it ends in a lone timestamp every token is kept and the next window starts after this one,
    otherwise the unfinished last segment is dropped and the next window starts at its first timestamp. Without a
    pair the whole window is one segment and the next window starts after it."""
    tb = timestamp_begin
    is_ts = [t >= tb for t in tokens]
    single_ending = len(tokens) >= 2 and not is_ts[-2] and is_ts[-1]
    pairs = [i + 1 for i in range(len(tokens) - 1) if is_ts[i] and is_ts[i + 1]]
    if not pairs or single_ending:
        return list(tokens), window_samples
    end = pairs[-1] + 1
    advance = (tokens[end - 2] - tb) * WHISPER_SAMPLES_PER_TIMESTAMP
    return list(tokens[:end]), max(advance, WHISPER_SAMPLES_PER_TIMESTAMP)


@dataclass
class Window:
    """One decoded window: where it started and how long it was (samples), what it produced and kept."""
    start: int
    samples: int
    tokens: list[int]
    kept: int
    advance: int


@dataclass
class LongForm:
    tokens: list[int] = field(default_factory=list)      # kept ids of every window, timestamps included
    windows: list[Window] = field(default_factory=list)


def whisper_longform(n_samples: int, decode_window: Callable[[int, int], list[int]], timestamp_begin: int,
                     progress: bool = False, desc: str = "long-form") -> LongForm:
    """Run Whisper's sequential long-form method over a recording of `n_samples`.

    `decode_window(start, samples)` decodes the window pcm[start:start + samples] (zero-padded to 30 s) and returns
    its generated ids (timestamps included, <|endoftext|> excluded). Progress (tqdm, in seconds of audio) when asked."""
    from tqdm.auto import tqdm

    out, seek = LongForm(), 0
    with tqdm(total=round(n_samples / SAMPLE_RATE, 1), unit="s", desc=desc, disable=not progress,
              bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s audio [{elapsed}<{remaining}]") as bar:
        while seek < n_samples:
            samples = min(WHISPER_N_SAMPLES, n_samples - seek)
            tokens = decode_window(seek, samples)
            kept, advance = window_segments(tokens, samples, timestamp_begin)
            advance = min(advance, n_samples - seek)
            out.tokens += kept
            out.windows.append(Window(seek, samples, list(tokens), len(kept), advance))
            seek += advance
            bar.update(round(advance / SAMPLE_RATE, 1) if seek < n_samples else bar.total - bar.n)
    return out


# ---- CTC -------------------------------------------------------------------------------------------------------------

def ctc_windows(n_samples: int, hop: int, window_s: float = CTC_WINDOW_S,
                context_s: float = CTC_CONTEXT_S) -> list[tuple[int, int, int, int]]:
    """(start, end, keep_from, keep_to) in samples: the model reads pcm[start:end] and its frames for
    [keep_from, keep_to) are kept. The kept ranges tile [0, n_samples); everything is a multiple of `hop` except
    the recording's end. A recording no longer than one window plus its context is one window."""
    step = max(hop, int(window_s * SAMPLE_RATE) // hop * hop)
    ctx = int(context_s * SAMPLE_RATE) // hop * hop
    if n_samples <= step + 2 * ctx:
        return [(0, n_samples, 0, n_samples)]
    out, k = [], 0
    while k < n_samples:
        keep_to = min(k + step, n_samples)
        out.append((max(0, k - ctx), min(n_samples, keep_to + ctx), k, keep_to))
        k = keep_to
    return out


def ctc_keep(window: tuple[int, int, int, int], n_frames: int, hop: int, last: bool) -> tuple[int, int]:
    """The frame range [a, b) of a window's `n_frames` logits that `window`'s kept samples cover."""
    start, _, keep_from, keep_to = window
    a = min(n_frames, (keep_from - start) // hop)
    b = n_frames if last else min(n_frames, a + (keep_to - keep_from) // hop)
    return a, b


# ---- calibration segments -------------------------------------------------------------------------------------------

def quietest_point(audio: np.ndarray, lo: int, hi: int) -> int:
    """The sample index in [lo, hi) at the centre of the quietest 100 ms (20 ms frames, energy smoothed)."""
    n_frames = max(1, (hi - lo) // ENERGY_FRAME)
    x = np.asarray(audio[lo: lo + n_frames * ENERGY_FRAME], dtype=np.float32).reshape(n_frames, -1)
    energy = np.einsum("ij,ij->i", x, x)
    smooth = np.convolve(energy, np.ones(ENERGY_SMOOTH), mode="same")
    return lo + int(np.argmin(smooth)) * ENERGY_FRAME + ENERGY_FRAME // 2


def pause_cuts(audio: np.ndarray, max_s: float = CALIBRATION_SEGMENT_S,
               search_s: float = CALIBRATION_SEARCH_S) -> list[tuple[int, int]]:
    """[start, end) sample ranges of at most `max_s` covering `audio`, each cut at the quietest point of the last
    `search_s` before the limit. Reads only the searched stretches (memory does not grow with the recording)."""
    n, limit, search = len(audio), int(max_s * SAMPLE_RATE), int(search_s * SAMPLE_RATE)
    out, start = [], 0
    while n - start > limit:
        cut = quietest_point(audio, start + limit - search, start + limit)
        out.append((start, cut))
        start = cut
    out.append((start, n))
    return out


def streamed_pause_cuts(blocks: Iterable[np.ndarray], max_s: float = CALIBRATION_SEGMENT_S,
                        search_s: float = CALIBRATION_SEARCH_S) -> Iterator[tuple[int, np.ndarray]]:
    """(start, samples) of each `pause_cuts` segment of the recording that `blocks` yields, cut while reading: the
    same cuts, holding at most one segment limit plus one block. `samples` is a view, valid until the next item."""
    limit, search = int(max_s * SAMPLE_RATE), int(search_s * SAMPLE_RATE)
    buffer, start = np.zeros(0, dtype=np.float32), 0
    for block in blocks:
        buffer = np.concatenate([buffer, block])
        while len(buffer) > limit:
            cut = quietest_point(buffer, limit - search, limit)
            yield start, buffer[:cut]
            buffer, start = buffer[cut:], start + cut
    yield start, buffer


def keeps_segment(piece: np.ndarray, min_samples: int, min_peak: float) -> bool:
    """Whether a segment of a long recording has enough samples and sound for the statistics pass."""
    return len(piece) >= min_samples and float(np.max(np.abs(piece))) >= min_peak


def calibration_segments(clips, min_samples: int | None = None, min_peak: float | None = None) -> list:
    """The clips as the statistics pass reads them: a clip of at most CALIBRATION_SEGMENT_S as it is, a longer one
    as `pause_cuts` segments (views of its samples, named `<path>@<start>s`; a `StreamedClip`'s segments are
    `StreamedClip`s of the same file); too short or silent pieces dropped."""
    from .audio import MIN_PEAK, MIN_SECONDS, Clip, StreamedClip

    min_samples = int(MIN_SECONDS * SAMPLE_RATE) if min_samples is None else min_samples
    min_peak = MIN_PEAK if min_peak is None else min_peak
    out = []
    for clip in clips:
        if isinstance(clip, StreamedClip):
            if clip.seconds <= CALIBRATION_SEGMENT_S:
                out.append(clip)
                continue
            for a, piece in streamed_pause_cuts(clip.blocks()):
                if keeps_segment(piece, min_samples, min_peak):
                    out.append(StreamedClip(f"{clip.path}@{a / SAMPLE_RATE:.2f}s", clip.source,
                                            clip.start + a, clip.start + a + len(piece)))
            continue
        cuts = pause_cuts(clip.audio)
        if len(cuts) == 1:
            out.append(clip)
            continue
        for a, b in cuts:
            piece = clip.audio[a:b]
            if keeps_segment(piece, min_samples, min_peak):
                out.append(Clip(f"{clip.path}@{a / SAMPLE_RATE:.2f}s", piece, None))
    return out


class SegmentAudios:
    """The segments' samples as a sequence that reads each one when asked (a `StreamedClip` from its file): a pass
    over them holds one segment (or one batch of them) at a time."""

    def __init__(self, segments: list):
        self.segments = segments

    def __len__(self) -> int:
        return len(self.segments)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [c.audio for c in self.segments[i]]
        return self.segments[i].audio
