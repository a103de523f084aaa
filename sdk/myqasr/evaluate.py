"""Evaluation: transcribe clips with the full-precision or simulated model and score them.

Scoring: corpus WER with jiwer after Whisper's English normalizer ("english", as shipped in transformers: number
words -> digits, contractions, fillers dropped), or "basic" (lowercase, punctuation -> spaces), or "none".
transformers does not ship Whisper's British->American spelling table (`normalizer.json` comes with a hub model
repo), so the English normalizer runs with an empty mapping: "colour" and "color" count as different words.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Sequence, Union

from .errors import MyqasrError

NORMALIZERS = ("english", "basic", "none")
DEFAULT_NORMALIZER = "english"


@lru_cache(maxsize=None)
def _normalizer(name: str) -> Callable[[str], str]:
    if name == "english":
        from transformers.models.whisper.english_normalizer import EnglishTextNormalizer
        return EnglishTextNormalizer({})
    if name == "basic":
        from transformers.models.whisper.english_normalizer import BasicTextNormalizer
        return BasicTextNormalizer()
    if name == "none":
        return lambda s: s
    raise MyqasrError(f"normalizer: unknown {name!r}; choose one of {', '.join(NORMALIZERS)}")


def normalize_text(text: str, normalizer: str = DEFAULT_NORMALIZER) -> str:
    """`text` normalized for scoring, words separated by single spaces."""
    return " ".join(_normalizer(normalizer)(text).split())


def _as_list(x: Union[str, Sequence[str]]) -> list[str]:
    return [x] if isinstance(x, str) else list(x)


def wer(refs: Union[str, Sequence[str]], hyps: Union[str, Sequence[str]],
        normalizer: str = DEFAULT_NORMALIZER) -> float:
    """Corpus word error rate (substitutions + deletions + insertions) / reference words, after normalizing both."""
    import jiwer

    refs, hyps = _as_list(refs), _as_list(hyps)
    if len(refs) != len(hyps):
        raise MyqasrError(f"wer: {len(refs)} references but {len(hyps)} hypotheses")
    refs = [normalize_text(r, normalizer) for r in refs]
    hyps = [normalize_text(h, normalizer) for h in hyps]
    n_ref_words = sum(len(r.split()) for r in refs)
    if n_ref_words == 0:
        raise MyqasrError("wer: the references have no words after normalization")
    out = jiwer.process_words(refs, hyps)
    return (out.substitutions + out.deletions + out.insertions) / n_ref_words


@dataclass
class ModelResult:
    """Transcripts of one model on a clip set, their WER, and the time it took."""
    name: str
    texts: list[str]
    wer: float | None
    seconds: float


@dataclass
class EvalResult:
    clips: list[str]
    refs: list[str | None]
    results: list[ModelResult] = field(default_factory=list)
    info: dict = field(default_factory=dict)


def transcribe(loaded, model, clips, batch_size: int = 8, progress: bool = True) -> list[str]:
    """Greedy transcripts of `clips` of any length with `model` (the full-precision one or a simulated copy); a
    Whisper recording longer than 30 s goes through transformers' long-form generation (progress on stderr)."""
    from .adapters import adapter_for
    return adapter_for(loaded.arch, loaded.processor).transcribe(model, [c.audio for c in clips], batch_size,
                                                                 progress=progress)


def evaluate_models(loaded, models: dict, clips, normalizer: str = DEFAULT_NORMALIZER) -> EvalResult:
    """Transcribe `clips` with every model in `models` ({name: module}); WER where every clip has a transcript."""
    refs = [c.text for c in clips]
    scored = all(r is not None for r in refs)
    out = EvalResult([c.path for c in clips], refs)
    for name, model in models.items():
        t = time.perf_counter()
        texts = transcribe(loaded, model, clips)
        out.results.append(ModelResult(name, texts, wer(refs, texts, normalizer) if scored else None,
                                       time.perf_counter() - t))
    return out


def evaluate_scheme(loaded, scheme, clips, full_precision: bool = True,
                    normalizer: str = DEFAULT_NORMALIZER) -> EvalResult:
    """WER of the simulated quantized model (and of the full-precision model for reference) on `clips`."""
    from .simulate import simulate
    models = {"full precision": loaded.model} if full_precision else {}
    models[f"simulated {scheme.predicted_bytes / 1e6:.2f} MB"] = simulate(loaded.model, scheme)
    result = evaluate_models(loaded, models, clips, normalizer)
    result.info = {"scheme_bytes": scheme.predicted_bytes, "budget_bytes": scheme.budget_bytes}
    return result


def format_eval(result: EvalResult, per_clip: bool = True) -> str:
    """A table: per clip the reference and each model's transcript, then WER and time per model."""
    import os
    lines = []
    if per_clip:
        for i, path in enumerate(result.clips):
            lines.append(f"{os.path.basename(path)}")
            if result.refs[i] is not None:
                lines.append(f"  {'reference':<24} {result.refs[i]}")
            for r in result.results:
                lines.append(f"  {r.name:<24} {r.texts[i]}")
    n = len(result.clips)
    for r in result.results:
        w = "n/a (no transcripts)" if r.wer is None else f"{100 * r.wer:.1f} %"
        lines.append(f"{r.name:<26} WER {w:<8} {n} clips, {r.seconds:.1f} s ({r.seconds / max(n, 1):.2f} s/clip)")
    return "\n".join(lines)
