"""Scheme + loaded model -> ExecuTorch program -> `.pte` + `.vocab.json` on disk.

    from myqasr_export.exporter import export_scheme
    report = export_scheme(scheme, loaded, "model.pte")      # also writes model.vocab.json

ExecuTorch is imported only inside the functions that lower (so `myqasr --help` stays fast). The `.pte` and its
vocabulary file are written as a pair (temp files, then renames; `myqasr.fileio.write_atomic_group`): a failed
export leaves the user's earlier pair untouched, never one file without the other.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from myqasr.errors import MyqasrError
from myqasr.fileio import check_output_path, write_atomic_group
from myqasr.config import Target
from myqasr.models import tokenizer_json
from myqasr.plan import check_shared_table, scheme_target
from myqasr.scheme import check_runs_on_backend, check_scheme_matches


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
        files = self.pte_path + (f" + {Path(self.ptd_path).name} + {RUNNER_PREPROCESSOR} + {RUNNER_TOKENIZER}"
                                 if self.ptd_path else "")
        return (f"wrote {files} ({self.pte_bytes / 1e6:.2f} MB; predicted {self.predicted_bytes / 1e6:.2f} MB, "
                f"{err:+.2f}%) and {self.vocab_path}\n"
                f"  methods: {', '.join(self.methods)}; XNNPACK subgraphs: {subgraphs}; "
                f"export {self.export_s:.1f} s")


def check_scheme_for_model(scheme, loaded) -> None:
    """A scheme applies only to the architecture and exact weights it was planned for, on a backend that runs it."""
    if scheme.arch != loaded.arch:
        raise MyqasrError(f"scheme: planned for a {scheme.arch} model, but {loaded.model_id!r} is {loaded.arch}")
    check_scheme_matches(scheme, loaded.model_id, loaded.weights_sha256)
    missing = [p.name for p in scheme.layers if p.weight_scale_key and p.weight_scale_key not in scheme.weight_scales]
    if missing:
        raise MyqasrError(f"scheme: corrupted (no weight scale for layer {missing[0]})")
    if scheme.backend != "xnnpack":
        raise MyqasrError(f"scheme: planned for the {scheme.backend} ladder, which no phone kernel runs; "
                          "plan with --ladder xnnpack to export")
    check_runs_on_backend(scheme)
    check_shared_table(scheme)


RUNNER_PREPROCESSOR = "preprocessor.pte"     # the asr-runner target's front end, beside model.pte / model.ptd
RUNNER_TOKENIZER = "tokenizer.json"           # the asr-runner target's tokenizer (`myqasr.models.tokenizer_json`)


def runner_files(pte) -> dict[str, Path]:
    """The files ExecuTorch's ASR runner loads with an asr-runner `model.pte` (`AsrModule(model, tokenizer, data,
    preprocessor)`): its `.ptd`, and the model-wide preprocessor and tokenizer in the same folder."""
    pte = Path(pte)
    return {"data": ptd_path_for(pte), "preprocessor": pte.with_name(RUNNER_PREPROCESSOR),
            "tokenizer": pte.with_name(RUNNER_TOKENIZER)}


def build_program(scheme, loaded, *, max_new_tokens: int = 128):
    """(ExecutorchProgramManager, GateReport, Vocab, side files {name: bytes}) for a scheme on a loaded model;
    nothing is written. Side files: the asr-runner target's preprocessor and tokenizer (none for one `.pte`)."""
    from .vocab import ctc_vocab, whisper_vocab

    side = {}
    if loaded.arch == "whisper":
        from .whisper import export_preprocessor_program, export_whisper, whisper_prompt

        fe = getattr(loaded.processor, "feature_extractor", None)
        vocab = whisper_vocab(loaded.processor.tokenizer, loaded.model.generation_config, max_new_tokens,
                              prompt=whisper_prompt(loaded.model))
        runner = scheme_target(scheme) == Target.asr_runner
        if runner:
            vocab.whisper.update(contract="asr-runner", preprocessor=RUNNER_PREPROCESSOR, tokenizer=RUNNER_TOKENIZER)
            side = {RUNNER_PREPROCESSOR: export_preprocessor_program(loaded.model, fe).buffer,
                    RUNNER_TOKENIZER: tokenizer_json(loaded)}
        pm, report = export_whisper(loaded.model, scheme, feature_extractor=fe, max_new_tokens=max_new_tokens,
                                    runner_rules=vocab.whisper if runner else None)
    elif loaded.arch == "wav2vec2":
        if scheme_target(scheme) != Target.module:
            raise MyqasrError(f"scheme: target {scheme_target(scheme)} is for Whisper (ExecuTorch's seq2seq ASR "
                              "runner); a CTC model exports as one .pte (--target module)")
        from .wav2vec2 import export_wav2vec2, frame_range, hop_of, normalizes

        norm = normalizes(loaded.processor)
        pm, report = export_wav2vec2(loaded.model, scheme, normalize=norm)
        vocab = ctc_vocab(loaded.processor.tokenizer, loaded.model.config.vocab_size, norm)
        vocab.ctc["input_multiple"] = hop_of(loaded.model)
        vocab.ctc["min_frames"] = frame_range(loaded.model)[0]
    else:
        raise MyqasrError(f"export: no exporter for architecture {loaded.arch!r}")
    return pm, report, vocab, side


def export_scheme(scheme, loaded, out_path: str | os.PathLike, *, scheme_path: str | None = None,
                  max_new_tokens: int = 128) -> ExportReport:
    """Export `scheme` applied to `loaded` (a myqasr.models.LoadedModel) as `out_path` (.pte) + `.vocab.json`."""
    from .size import predicted_bytes
    from .vocab import vocab_path_for

    out = check_output_path(out_path, ".pte")
    check_scheme_for_model(scheme, loaded)
    t0 = time.perf_counter()
    try:
        pm, report, vocab, side = build_program(scheme, loaded, max_new_tokens=max_new_tokens)
    except KeyError as e:
        raise MyqasrError(f"scheme: corrupted (missing {e})") from None
    buf = pm.buffer
    data = external_data(pm)
    export_s = time.perf_counter() - t0
    vocab.model_id, vocab.scheme = loaded.model_id, scheme_path
    vocab.pte_sha256 = hashlib.sha256(buf).hexdigest()
    vocab.ptd_sha256 = hashlib.sha256(data).hexdigest() if data is not None else None
    vpath, dpath = vocab_path_for(out), ptd_path_for(out)
    text = (json.dumps(vocab.to_dict(), ensure_ascii=False) + "\n").encode("utf-8")
    files = {out: buf, vpath: text, **({dpath: data} if data is not None else {}),
             **{out.with_name(name): content for name, content in side.items()}}
    write_atomic_group(files)                      # the files are replaced together, or not at all
    if data is None:
        dpath.unlink(missing_ok=True)              # a stale .ptd of an earlier asr-runner export would be loaded with it
    return ExportReport(str(out), str(vpath), loaded.arch, loaded.model_id,
                        len(buf) + len(data or b"") + sum(len(c) for c in side.values()),
                        predicted_bytes(scheme), vocab.pte_sha256, export_s, sorted(pm.methods),
                        report.delegated_subgraphs, report.undelegated,
                        ptd_path=str(dpath) if data is not None else None)


def ptd_path_for(pte) -> Path:
    """`model.pte` -> `model.ptd`: the external data (the shared token table) the runtime loads with it."""
    return Path(pte).with_suffix(".ptd")


def external_data(pm) -> bytes | None:
    """The program's one external data file (`.ptd`) as bytes, or None for a single-file program."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        pm.write_tensor_data_to_file(tmp)
        files = sorted(Path(tmp).glob("*.ptd"))
        if len(files) > 1:
            raise MyqasrError(f"export: the program has {len(files)} external data files, expected at most one")
        return files[0].read_bytes() if files else None
