"""Size truth: the bytes a `.pte` (and its `.ptd`) really take, next to what `myqasr.size` predicts for the scheme."""
from __future__ import annotations

import os
from pathlib import Path

from myqasr.scheme import Scheme
from myqasr.plan import scheme_profile
from myqasr.size import BackendProfile, model_bytes


def pte_bytes(path: str | os.PathLike) -> int:
    """Bytes on disk of `path`, plus, for an asr-runner export (one with a `.ptd`), every file the runner loads
    with it: the `.ptd`, the preprocessor and the tokenizer (what a budget must cover)."""
    from .exporter import runner_files

    p = Path(path)
    total = p.stat().st_size
    if p.with_suffix(".ptd").is_file():
        total += sum(f.stat().st_size for f in runner_files(p).values() if f.is_file())
    return total


def predicted_bytes(scheme: Scheme, profile: BackendProfile | None = None) -> int:
    """`myqasr.size.model_bytes` for the scheme's layers and formats under a backend profile (default: the one the
    scheme was planned with, which its target decides: one `.pte`, or `.pte` + `.ptd` with the tied table once)."""
    profile = profile or scheme_profile(scheme)
    return model_bytes([p.layer for p in scheme.layers], scheme.formats(), scheme.rest_params, profile)
