"""`myqasr export` and `myqasr run`, and the Python functions behind them.

    myqasr export --scheme scheme.json --out model.pte [--model ID]
    myqasr run model.pte CLIPS... [--threads N]

ExecuTorch is imported only when a command runs (this module is imported by `myqasr --help`).
Outputs are written to a temp file in the output directory and renamed into place: a failed export leaves no
`.pte` behind, and an existing file is replaced only by a complete new one.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from myqasr.errors import MyqasrError


@dataclass
class ExportReport:
    pte_path: str
    vocab_path: str
    arch: str
    model_id: str
    pte_bytes: int
    predicted_bytes: int
    pte_sha256: str
    export_s: float
    methods: list[str] = field(default_factory=list)
    delegated_subgraphs: dict = field(default_factory=dict)
    undelegated_ops: dict = field(default_factory=dict)
    ptd_path: str | None = None

    def summary(self) -> str:
        err = (self.predicted_bytes - self.pte_bytes) / self.pte_bytes * 100 if self.pte_bytes else 0.0
        subgraphs = ", ".join(f"{m} {n}" for m, n in self.delegated_subgraphs.items())
        return (f"wrote {self.pte_path} ({self.pte_bytes / 1e6:.2f} MB; predicted {self.predicted_bytes / 1e6:.2f} MB, "
                f"{err:+.2f}%) and {self.vocab_path}\n"
                f"  methods: {', '.join(self.methods)}; XNNPACK subgraphs: {subgraphs}; "
                f"export {self.export_s:.1f} s")


def _check_out_dir(out: Path) -> None:
    """Fail fast (before minutes of export) if the output cannot be written."""
    if not out.name.endswith(".pte"):
        raise MyqasrError(f"{out}: output must be a .pte file")
    if not out.parent.is_dir():
        raise MyqasrError(f"{out}: output directory {out.parent} does not exist")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".probe", dir=out.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise MyqasrError(f"{out}: cannot write to {out.parent} ({e.strerror or e})") from None


def _write_atomic(path: Path, write) -> None:
    """Write through `write(file)` into a temp file next to `path`, then rename it into place."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise MyqasrError(f"{path}: cannot write output ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise MyqasrError(f"{path}: cannot write output ({e.strerror or e})") from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _check_scheme(scheme, loaded) -> None:
    from myqasr.scheme import check_scheme_matches

    if scheme.arch != loaded.arch:
        raise MyqasrError(f"scheme: planned for a {scheme.arch} model, but {loaded.model_id!r} is {loaded.arch}")
    check_scheme_matches(scheme, loaded.model_id, loaded.weights_sha256)
    missing = [p.name for p in scheme.layers if p.weight_scale_key and p.weight_scale_key not in scheme.weight_scales]
    if missing:
        raise MyqasrError(f"scheme: corrupted (no weight scale for layer {missing[0]})")


def build_program(scheme, loaded, *, max_new_tokens: int = 128):
    """(ExecutorchProgramManager, GateReport, Vocab) for a scheme on a loaded model; nothing is written."""
    from .vocab import ctc_vocab, whisper_vocab

    if loaded.arch == "whisper":
        from .whisper import export_whisper, whisper_prompt

        fe = getattr(loaded.processor, "feature_extractor", None)
        pm, report = export_whisper(loaded.model, scheme, feature_extractor=fe, max_new_tokens=max_new_tokens)
        vocab = whisper_vocab(loaded.processor.tokenizer, loaded.model.generation_config, max_new_tokens,
                              prompt=whisper_prompt(loaded.model))
    elif loaded.arch == "wav2vec2":
        from .wav2vec2 import export_wav2vec2, frame_range, hop_of, normalizes

        norm = normalizes(loaded.processor)
        pm, report = export_wav2vec2(loaded.model, scheme, normalize=norm)
        vocab = ctc_vocab(loaded.processor.tokenizer, loaded.model.config.vocab_size, norm)
        vocab.ctc["input_multiple"] = hop_of(loaded.model)
        vocab.ctc["min_frames"] = frame_range(loaded.model)[0]
    else:
        raise MyqasrError(f"export: no exporter for architecture {loaded.arch!r}")
    return pm, report, vocab


def export_scheme(scheme, loaded, out_path: str | os.PathLike, *, scheme_path: str | None = None,
                  max_new_tokens: int = 128) -> ExportReport:
    """Export `scheme` applied to `loaded` (a myqasr.models.LoadedModel) as `out_path` (.pte) + `.vocab.json`."""
    from .size import predicted_bytes
    from .vocab import vocab_path_for

    out = Path(out_path)
    _check_out_dir(out)
    _check_scheme(scheme, loaded)
    t0 = time.perf_counter()
    try:
        pm, report, vocab = build_program(scheme, loaded, max_new_tokens=max_new_tokens)
    except KeyError as e:
        raise MyqasrError(f"scheme: corrupted (missing {e})") from None
    buf = pm.buffer
    export_s = time.perf_counter() - t0
    vocab.model_id, vocab.scheme = loaded.model_id, scheme_path
    vocab.pte_sha256 = hashlib.sha256(buf).hexdigest()
    vpath = vocab_path_for(out)
    text = (json.dumps(vocab.to_dict(), ensure_ascii=False) + "\n").encode("utf-8")
    _write_atomic(out, lambda f: f.write(buf))
    try:
        _write_atomic(vpath, lambda f: f.write(text))
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return ExportReport(str(out), str(vpath), loaded.arch, loaded.model_id, len(buf), predicted_bytes(scheme),
                        vocab.pte_sha256, export_s, sorted(pm.methods), report.delegated_subgraphs,
                        report.undelegated)


def run_pte(path: str | os.PathLike, clips, threads: int | None = None):
    """Transcribe clips with a `.pte` -> list[RunResult] (text, ids, timings, RTF)."""
    from .runner import run_pte as _run

    return _run(path, clips, threads=threads)


# ------------------------------------------------------------------------------------------------- command line

def _expand_clips(args: list[str]):
    from myqasr.audio import load_clips

    clips = []
    for a in args:
        clips += load_clips(a)
    return clips


def cmd_export(a) -> int:
    from myqasr.models import load_model
    from myqasr.scheme import load_scheme

    scheme = load_scheme(a.scheme)
    _check_out_dir(Path(a.out))
    loaded = load_model(a.model or scheme.model_id)
    report = export_scheme(scheme, loaded, a.out, scheme_path=str(a.scheme))
    print(report.summary())
    return 0


def cmd_run(a) -> int:
    clips = _expand_clips(a.clips)
    results = run_pte(a.pte, clips, threads=a.threads)
    for r in results:
        print(r.line())
    if results:
        total = sum(r.timings["total_s"] for r in results)
        audio = sum(r.audio_s for r in results)
        print(f"{len(results)} clips, load {results[0].timings['load_s']:.3f} s, total {total:.2f} s for "
              f"{audio:.1f} s of audio, RTF {total / audio if audio else float('nan'):.3f}, threads {results[0].threads}")
    return 0


def add_parsers(subparsers) -> None:
    p = subparsers.add_parser("export", help="export a scheme as an ExecuTorch .pte (+ .vocab.json)")
    p.add_argument("--scheme", required=True, help="scheme JSON from `myqasr plan`")
    p.add_argument("--out", required=True, help="output .pte path")
    p.add_argument("--model", default=None, help="model id (default: the scheme's model)")
    p.set_defaults(func=cmd_export)

    p = subparsers.add_parser("run", help="transcribe clips with a .pte on this machine (ExecuTorch runtime)")
    p.add_argument("pte", help=".pte file (its .vocab.json must be next to it)")
    p.add_argument("clips", nargs="+", help="audio files or folders")
    p.add_argument("--threads", type=int, default=None, help="XNNPACK threads (default: runtime default)")
    p.set_defaults(func=cmd_run)
