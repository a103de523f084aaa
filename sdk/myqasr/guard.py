"""The label-free guard of `--calibration auto`: pick the calibration whose model transcribes the user's own clips
most like the full-precision model does, and never one that loops when min-max does not.

Each candidate scheme (same formats, scales from min-max, cosine or Hessian search) is simulated and transcribes
the user's clips greedily. Its transcripts are scored against the full-precision model's own transcripts of the
same clips ("pseudo-label WER": no references needed, and far less noisy than WER on a few labelled sentences).
A transcript *loops* when it has more than twice the words of the full-precision one (plus `LOOP_SLACK`), or
repeats one n-gram (n <= `MAX_NGRAM`) `LOOP_REPEATS` times in a row where the full-precision one does not: the
failure searched scales showed on hard users (benchmarks/results/personalization.md).

Candidates are ranked by (clips that loop, pseudo-label WER, `CANDIDATES` order): a candidate with fewer loops
always wins, so one that loops is never chosen over a min-max that does not; ties go to the simpler method.
"""
from __future__ import annotations

from .config import Calibration

CANDIDATES = (Calibration.minmax, Calibration.cosine, Calibration.hessian)
LOOP_SLACK = 4
LOOP_REPEATS = 4
MAX_NGRAM = 6


def longest_run(words: list[str], max_n: int = MAX_NGRAM) -> int:
    """The most times any n-gram (n <= max_n) repeats back to back in `words` (1 if nothing repeats)."""
    best = 1
    for n in range(1, max_n + 1):
        for start in range(n):
            run, prev = 1, None
            for i in range(start, len(words) - n + 1, n):
                gram = tuple(words[i:i + n])
                run = run + 1 if gram == prev else 1
                prev = gram
                best = max(best, run)
    return best


def loops(hyp: str, ref: str) -> bool:
    """Whether transcript `hyp` runs away from the full-precision transcript `ref` (see the module docstring)."""
    h, r = hyp.split(), ref.split()
    if len(h) > 2 * len(r) + LOOP_SLACK:
        return True
    return longest_run(h) >= LOOP_REPEATS > longest_run(r)


def score(hyps: list[str], refs: list[str]) -> dict:
    """{"pseudo_wer": WER of `hyps` against the full-precision transcripts `refs`, "loops": clips that loop}."""
    from .evaluate import normalize_text, wer

    norm_h = [normalize_text(h) for h in hyps]
    norm_r = [normalize_text(r) for r in refs]
    n_loops = sum(loops(h, r) for h, r in zip(norm_h, norm_r))
    scorable = [(r, h) for r, h in zip(norm_r, norm_h) if r]          # normalized once, scored as they are
    pseudo = wer([r for r, _ in scorable], [h for _, h in scorable], normalizer="none") if scorable else 0.0
    return {"pseudo_wer": round(pseudo, 6), "loops": n_loops}


def choose(scores: dict[str, dict]) -> str:
    """The candidate to keep: fewest looping clips, then lowest pseudo-label WER, then the `CANDIDATES` order."""
    order = [c.value for c in CANDIDATES]
    return min(scores, key=lambda m: (scores[m]["loops"], scores[m]["pseudo_wer"],
                                      order.index(m) if m in order else len(order)))
