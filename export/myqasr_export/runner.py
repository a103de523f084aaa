"""Host runtime for myqasr `.pte` files (ExecuTorch Python runtime, XNNPACK + quantized kernels).

Whisper: preprocessor -> encoder (once per clip: the decoder's cross-attention K/V) -> greedy text_decoder loop
(prompt <|startoftranscript|><|notimestamps|> fed one token at a time at positions 0, 1, each call also given the
encoder's K/V; suppress_tokens every step, begin_suppress_tokens on the first generated step; stop at
<|endoftext|> or max_new_tokens) — the same ids as HF `generate(num_beams=1, do_sample=False)`.
Longer than 30 s: Whisper's sequential long-form method (`myqasr.longform`: windows decoded with timestamps, prompt
<|startoftranscript|> alone, each next window starting at the last complete segment's end), CTC in overlapping
windows. Wav2Vec2-CTC: forward -> greedy CTC. Every clip reports load / preprocess / encode / decode / total seconds
and RTF.

An asr-runner export (`--target asr-runner`: model.pte + model.ptd + preprocessor.pte + tokenizer.json, see
`myqasr_export.whisper`) runs a clip the way ExecuTorch's seq2seq ASR runner does (`runner_loop`: start token,
text_decoder with the packed encoder output and cache_position, the program's sampler, stop at an id of
get_eos_ids): the program applies Whisper's rules itself. Long recordings and verification call its text_decoder
in raw mode (negative positions) and apply the rules above in Python, as for a single-file program.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from myqasr.constants import SAMPLE_RATE, WHISPER_MAX_INITIAL_TIMESTAMP
from myqasr.errors import MyqasrError
from myqasr.longform import ctc_keep, ctc_windows, timestamp_rules, whisper_longform

from .vocab import Vocab, load_vocab



@dataclass
class RunResult:
    path: str
    text: str
    ids: list[int]
    audio_s: float
    timings: dict = field(default_factory=dict)   # load_s (program, once), preprocess_s, encode_s, decode_s, total_s
    threads: int = 1
    n_steps: int = 0
    spans: list = field(default_factory=list)      # (start, samples) of each decoded window of a long recording

    @property
    def windows(self) -> int:
        return max(1, len(self.spans))

    @property
    def rtf(self) -> float:
        return self.timings.get("total_s", 0.0) / self.audio_s if self.audio_s else float("nan")

    def line(self) -> str:
        t = self.timings
        return (f"{self.path}: {self.text!r} | audio {self.audio_s:.2f} s, preprocess {t.get('preprocess_s', 0):.3f} s, "
                f"encode {t.get('encode_s', 0):.3f} s, decode {t.get('decode_s', 0):.3f} s ({self.n_steps} steps), "
                f"total {t.get('total_s', 0):.3f} s, RTF {self.rtf:.3f}, threads {self.threads}"
                + (f", {self.windows} windows" if self.windows > 1 else ""))


def set_threads(n: int | None) -> int:
    """XNNPACK thread pool size for this process, and torch's intra-op threads with it (the greedy loop's argmax and
    masking over the vocabulary; with more torch threads than free cores they cost more than a decoder step).
    None: leave both as they are. Returns the XNNPACK count."""
    from executorch.extension.pybindings import portable_lib

    if n:
        portable_lib._unsafe_reset_threadpool(int(n))
        torch.set_num_threads(int(n))
    try:
        return int(portable_lib._threadpool_get_thread_count())
    except Exception:   # noqa: BLE001
        return int(n or 0)


def _load_methods(rt, path: Path, ptd: Path | None = None):
    """(program, {method name: loaded method}) of a `.pte` (+ its external data); one MyqasrError line on failure."""
    try:
        program = rt.load_program(path, data_path=ptd) if ptd else rt.load_program(path)
        return program, {name: program.load_method(name) for name in program.method_names}
    except Exception as e:   # noqa: BLE001  (the runtime raises RuntimeError with a status code)
        raise MyqasrError(f"{path}: cannot load program ({str(e).splitlines()[0] if str(e) else e})") from e


def _ptd_for(pte: Path) -> Path | None:
    p = pte.with_suffix(".ptd")
    return p if p.is_file() else None


class PteModel:
    """A loaded `.pte` (+ its `.ptd` and `.vocab.json` side files)."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, vocab: Vocab | None = None):
        import executorch.kernels.quantized  # noqa: F401  (embedding_byte / embedding_4bit kernels)
        from executorch.runtime import Runtime

        self.path = Path(path)
        if not self.path.is_file():
            raise MyqasrError(f"{self.path}: no such .pte file")
        self.vocab = vocab if vocab is not None else load_vocab(self.path)
        self.threads = set_threads(threads)
        t0 = time.perf_counter()
        ptd = _ptd_for(self.path)
        if ptd is None and self.vocab.ptd_sha256:
            raise MyqasrError(f"{self.path.with_suffix('.ptd')}: external data file missing (the program keeps its "
                              "token table there; copy it next to the .pte)")
        self.asr_runner = self.vocab.whisper.get("contract") == "asr-runner"
        rt = Runtime.get()
        self.program, self.methods = _load_methods(rt, self.path, ptd)
        if self.asr_runner:
            from .exporter import runner_files

            pre = runner_files(self.path)["preprocessor"]
            if not pre.is_file():
                raise MyqasrError(f"{pre}: preprocessor program missing (an asr-runner export keeps its front end "
                                  "there; copy it next to the .pte)")
            self.methods["preprocessor"] = _load_methods(rt, pre)[1]["forward"]
        self.load_s = time.perf_counter() - t0

    def run(self, method: str, *inputs) -> list:
        return self.methods[method].execute(list(inputs))

    # --- Whisper ------------------------------------------------------------------------------------------------

    def whisper_features(self, pcm: np.ndarray) -> torch.Tensor:
        n = self.vocab.whisper["n_samples"]
        a = torch.as_tensor(np.asarray(pcm, dtype=np.float32)[:n])
        if self.asr_runner:                              # preprocessor.pte pads the clip itself (as on the phone)
            return self.run("preprocessor", torch.cat([a, torch.zeros(max(0, 2 - a.numel()))]))[0]
        x = torch.zeros(n, dtype=torch.float32)
        x[: a.numel()] = a
        return self.run("preprocessor", x)[0]

    def decoder_logits(self, token: int, pos: int, encoded: list) -> torch.Tensor:
        """Raw logits [1, 1, V] of one decoder step (no rules applied), for either contract."""
        tok = torch.tensor([[token]], dtype=torch.long)
        if self.asr_runner:
            return self.run("text_decoder", tok, encoded[0], torch.tensor([-1 - pos], dtype=torch.long))[0]
        return self.run("text_decoder", tok, torch.tensor([pos], dtype=torch.long), *encoded)[0]

    def cross_kv_list(self, encoded: list) -> list[torch.Tensor]:
        """The encoder's cross K/V as one tensor per layer and kind (unpacked views for an asr-runner program)."""
        if self.asr_runner:
            return [encoded[0][:, i] for i in range(encoded[0].shape[1])]
        return list(encoded)

    def runner_loop(self, encoded: list) -> tuple[list[int], int]:
        """ExecuTorch's seq2seq runner loop (extension/asr/runner/seq2seq_runner.cpp) on an asr-runner program:
        feed the start token at position 0, then each sampled token at the next position, until an id of
        get_eos_ids or max_new_tokens tokens -> (generated ids without the prompt and the end, decoder calls).
        max_new_tokens is what the app passes: the prompt's forced tokens + the vocabulary's max_new_tokens."""
        w = self.vocab.whisper
        prompt = [int(t) for t in w["decoder_start_ids"]]
        eos = {int(e) for e in self.run("get_eos_ids")}
        max_new = len(prompt) - 1 + int(w["max_new_tokens"])
        tokens, pos = [prompt[0]], 0
        while pos < max_new:
            logits = self.run("text_decoder", torch.tensor([[tokens[-1]]], dtype=torch.long), encoded[0],
                              torch.tensor([pos], dtype=torch.long))
            tokens.append(int(self.run("sampler", *logits)[0][0]))
            pos += 1
            if tokens[-1] in eos:
                break
        if tokens[: len(prompt)] != prompt:
            raise MyqasrError(f"{self.path}: the program did not force the prompt {prompt} (got {tokens[:len(prompt)]})")
        ids = tokens[len(prompt):]
        return (ids[:-1] if ids and ids[-1] in eos else ids), pos

    def whisper_greedy(self, cross_kv: list, timestamps: bool = False) -> tuple[list[int], int]:
        """Greedy ids from the encoder's outputs (cross K/V) -> (generated ids without eos, decoder calls).

        timestamps=True: one window of a long recording (prompt <|startoftranscript|> alone, Whisper's timestamp
        rules at every step, as many ids as the program's self-attention cache holds)."""
        w = self.vocab.whisper
        suppress = torch.tensor(w["suppress_tokens"], dtype=torch.long)
        begin = torch.tensor(w["begin_suppress_tokens"], dtype=torch.long)
        eos, max_new = int(w["eos_id"]), int(w["max_new_tokens"])
        prompt = list(w["decoder_start_ids"])
        if timestamps:
            no_ts = self.vocab.no_timestamps_id()
            prompt = [t for t in prompt if t != no_ts]
            max_new += len(w["decoder_start_ids"]) - len(prompt)      # the same cache positions
            rules = dict(timestamp_begin=no_ts + 1, eos_id=eos, no_timestamps_id=no_ts,
                         max_initial_timestamp=int(w.get("max_initial_timestamp", WHISPER_MAX_INITIAL_TIMESTAMP)))
        logits, pos = None, 0
        for tok in prompt:
            logits = self.decoder_logits(tok, pos, cross_kv)
            pos += 1
        ids: list[int] = []
        steps = len(prompt)
        while True:
            scores = logits[0, -1].clone()
            if suppress.numel():
                scores[suppress] = -float("inf")
            if not ids and begin.numel():
                scores[begin] = -float("inf")
            if timestamps:
                timestamp_rules(scores.numpy(), ids, **rules)
            nxt = int(torch.argmax(scores))
            if nxt == eos:
                break
            ids.append(nxt)
            if len(ids) >= max_new:
                break
            logits = self.decoder_logits(nxt, pos, cross_kv)
            pos += 1
            steps += 1
        return ids, steps

    def transcribe_whisper_long(self, pcm: np.ndarray, path: str = "", progress: bool = True) -> RunResult:
        """A recording longer than the window: Whisper's sequential long-form method (`myqasr.longform`)."""
        t = {"preprocess_s": 0.0, "encode_s": 0.0, "decode_s": 0.0}
        steps = 0

        def decode_window(start: int, samples: int) -> list[int]:
            nonlocal steps
            t0 = time.perf_counter()
            feats = self.whisper_features(pcm[start:start + samples])
            t1 = time.perf_counter()
            cross_kv = self.encode_whisper(feats)
            t2 = time.perf_counter()
            ids, n = self.whisper_greedy(cross_kv, timestamps=True)
            t["preprocess_s"] += t1 - t0
            t["encode_s"] += t2 - t1
            t["decode_s"] += time.perf_counter() - t2
            steps += n
            return ids

        t0 = time.perf_counter()
        long = whisper_longform(len(pcm), decode_window, self.vocab.no_timestamps_id() + 1, progress=progress,
                                desc=Path(path).name or "long-form")
        text = self.vocab.decode(long.tokens).strip()
        return RunResult(path, text, long.tokens, len(pcm) / SAMPLE_RATE,
                         {"load_s": self.load_s, **t, "total_s": time.perf_counter() - t0}, self.threads, steps,
                         [(w.start, w.samples) for w in long.windows])

    def encode_whisper(self, feats: torch.Tensor) -> list:
        cross_kv = self.run("encoder", feats)
        if len(cross_kv) < 2 and not self.asr_runner:
            raise MyqasrError(f"{self.path}: its encoder returns hidden states, not the decoder's cross-attention K/V "
                              "(exported by an older myqasr): export it again")
        return cross_kv

    def transcribe_whisper(self, pcm: np.ndarray, path: str = "", progress: bool = True) -> RunResult:
        if len(pcm) > self.vocab.whisper["n_samples"]:
            return self.transcribe_whisper_long(pcm, path, progress)
        t0 = time.perf_counter()
        feats = self.whisper_features(pcm)
        t1 = time.perf_counter()
        cross_kv = self.encode_whisper(feats)
        t2 = time.perf_counter()
        ids, steps = self.runner_loop(cross_kv) if self.asr_runner else self.whisper_greedy(cross_kv)
        t3 = time.perf_counter()
        text = self.vocab.decode(ids).strip()
        return RunResult(path, text, ids, len(pcm) / SAMPLE_RATE,
                         {"load_s": self.load_s, "preprocess_s": t1 - t0, "encode_s": t2 - t1, "decode_s": t3 - t2,
                          "total_s": time.perf_counter() - t0}, self.threads, steps)

    # --- CTC ----------------------------------------------------------------------------------------------------

    def ctc_logits(self, pcm: np.ndarray) -> torch.Tensor:
        hop = int(self.vocab.ctc.get("input_multiple", 320))
        a = np.asarray(pcm, dtype=np.float32)
        n = max(hop * int(self.vocab.ctc.get("min_frames", 1)), -(-len(a) // hop) * hop)
        x = torch.zeros(1, n, dtype=torch.float32)
        x[0, : len(a)] = torch.as_tensor(a)
        return self.run("forward", x)[0]

    def ctc_logits_long(self, pcm: np.ndarray, progress: bool = True) -> torch.Tensor:
        """[T, V] logits of a recording of any length: `ctc_windows` (one window up to 24 s), kept frames joined."""
        from tqdm.auto import tqdm

        hop = int(self.vocab.ctc.get("input_multiple", 320))
        windows = ctc_windows(len(pcm), hop)
        kept = []
        for i, win in enumerate(tqdm(windows, desc="CTC windows", disable=not progress or len(windows) == 1)):
            logits = self.ctc_logits(pcm[win[0]:win[1]])[0]
            a, b = ctc_keep(win, int(logits.shape[0]), hop, last=i == len(windows) - 1)
            kept.append(logits[a:b])
        return torch.cat(kept) if len(kept) > 1 else kept[0]

    def transcribe_ctc(self, pcm: np.ndarray, path: str = "", progress: bool = True) -> RunResult:
        t0 = time.perf_counter()
        logits = self.ctc_logits_long(pcm, progress)[None]
        t1 = time.perf_counter()
        ids = ctc_greedy_ids(logits[0], int(self.vocab.ctc["blank_id"]))
        text = self.vocab.decode_ctc(ids)
        t2 = time.perf_counter()
        return RunResult(path, text, ids, len(pcm) / SAMPLE_RATE,
                         {"load_s": self.load_s, "preprocess_s": 0.0, "encode_s": t1 - t0, "decode_s": t2 - t1,
                          "total_s": t2 - t0}, self.threads, int(logits.shape[1]))

    def transcribe(self, pcm: np.ndarray, path: str = "", progress: bool = True) -> RunResult:
        """Any length: one window, or the long-form method (progress bar on stderr for long recordings)."""
        if self.vocab.arch == "whisper":
            return self.transcribe_whisper(pcm, path, progress)
        return self.transcribe_ctc(pcm, path, progress)


def ctc_greedy_ids(logits: torch.Tensor, blank_id: int) -> list[int]:
    """[T, V] -> token ids: argmax per frame, repeats merged, blanks dropped."""
    best = torch.argmax(logits, dim=-1).tolist()
    out, prev = [], None
    for t in best:
        if t != prev and t != blank_id:
            out.append(t)
        prev = t
    return out


def run_pte(path: str | os.PathLike, clips, threads: int | None = None, progress: bool = True) -> list[RunResult]:
    """Transcribe clips of any length (paths, or objects with `.path` and `.audio` float32 16 kHz) with a `.pte`."""
    from myqasr.audio import load_audio

    model = PteModel(path, threads=threads)
    results = []
    for clip in clips:
        if hasattr(clip, "audio"):
            audio, name = clip.audio, str(getattr(clip, "path", ""))
        else:
            audio, name = load_audio(clip), str(clip)
        results.append(model.transcribe(audio, name, progress))
    return results
