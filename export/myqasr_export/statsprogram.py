"""The statistics program: the statistics pass as a `.pte` that a phone runs on its user's clips (the audio stays there).

    myqasr export-stats --out stats.pte          # stats.pte + stats.vocab.json + stats.layers.json

`stats.pte` is the full-precision Whisper export with the statistics taken on the way: the same three methods as
any myqasr Whisper `.pte` (`myqasr_export.whisper`), each quantizable layer probed, two more outputs each:

  preprocessor(pcm float32 [480000])                      -> features [1, 80, 3000]            (unchanged)
  encoder(features [1, 80, 3000], n_samples int64 [1])    -> k_0, v_0, ..., k_3, v_3, hist, moments
  text_decoder(token [1, 1], position [1], k_0, ..., v_3) -> logits [1, 1, V], hist, moments

`hist` float32 [rows, N_BINS] and `moments` float64 [rows, 6] are one call's partial statistics of |output| of the
method's layers (rows: `encoder_layers` / `decoder_layers` of `stats.layers.json`), exactly as the host pass
(`myqasr.stats.StreamingStats`) defines them: counts on the host's FIXED log-spaced bins (256 per octave from 2^-24 to
2^16, so histograms of calls add up) and `myqasr.stats.PARTIAL_MOMENTS` (count, sum |y|, sum y^2, max y, min y,
max |input|). Aggregation over calls and clips (`myqasr.stats.statistics_from_partials`, the app's
`core/PhoneStats.java`) is a sum, a max and a min per layer: fixed memory for any number of clips.

Why the decoder statistics come from the greedy loop itself: the host feeds the decoder the full-precision model's
own greedy transcript, teacher-forced; a cached decoder fed the same tokens one by one computes the same rows. So
the phone runs its usual greedy loop (`WhisperTranscriber`) on these methods, sums each step's partials, and feeds
the last token (<|endoftext|>, or the 128th id) once more, as the host's teacher-forced pass does. The encoder runs
once per clip, for both the transcript and the statistics. (A single `statistics` method would need a second full
forward per clip, and the greedy loop cannot be exported: its length depends on the data.)

Padding stays out as on the host (`WhisperAdapter.padding_axis`): the log-mel frames and encoder positions past the
clip (from `n_samples`, the host's `stats_context` rule) are masked with weight 0, not sliced, so shapes are static.
Portable / XNNPACK operators only (log2, floor, scatter_add, where, amax / amin, sum).

No cost pass: it needs a backward pass, which an ExecuTorch program does not have. The default plan of such a file
(`--allocator auto` without costs: the paper's walk + min-max calibration) needs only these statistics (the convs'
static ranges are `max`, `min`, `input_abs_max`).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass

import torch
from torch import nn

from myqasr.constants import (WHISPER_ENCODER_FRAMES, WHISPER_HOP, WHISPER_MAX_NEW_TOKENS, WHISPER_N_FRAMES,
                              WHISPER_N_SAMPLES)
from myqasr.errors import MyqasrError
from myqasr.fileio import check_output_path, write_atomic_group
from myqasr.stats import BINS_PER_OCTAVE, LOG2_HI, LOG2_LO, N_BINS, PARTIAL_MOMENTS, STATS_VERSION

PROGRAM_FORMAT, PROGRAM_VERSION = "myqasr-stats-program", "1"


def layers_path_for(pte) -> "os.PathLike":
    from pathlib import Path

    p = Path(pte)
    return p.with_name(p.name[:-4] + ".layers.json")


def partials(y: torch.Tensor, keep: torch.Tensor, x: torch.Tensor | None, keep_x: torch.Tensor | None):
    """One tensor's partial statistics on the host's fixed bins: (hist [N_BINS] float32, moments [6] float64).
    `keep` / `keep_x`: bool masks broadcastable to y / x (False on padding). Static shapes, portable operators."""
    kept = keep.expand(y.shape).reshape(-1)
    yf = y.reshape(-1)
    a = yf.abs()
    idx = ((torch.log2(a.clamp(min=2.0 ** LOG2_LO)) - LOG2_LO) * BINS_PER_OCTAVE).floor()
    idx = idx.clamp(0, N_BINS - 1).to(torch.int64)
    w = kept.to(torch.float32)
    hist = torch.zeros(N_BINS, dtype=torch.float32).scatter_add(0, idx, w)
    ad = torch.where(kept, a, 0.0).to(torch.float64)
    if x is None:
        in_max = torch.zeros((), dtype=torch.float64)
    else:
        in_max = torch.where(keep_x.expand(x.shape), x.abs(), 0.0).amax().to(torch.float64)
    moments = torch.stack([w.to(torch.float64).sum(), ad.sum(), (ad * ad).sum(),
                           torch.where(kept, yf, float("-inf")).amax().to(torch.float64),
                           torch.where(kept, yf, float("inf")).amin().to(torch.float64), in_max])
    return hist, moments


class Probes:
    """Forward hooks on every quantizable layer of a (copied) model: each call records `partials` of the layer's
    output (and its max |input|), masked by the current padding `lengths` (traced into the programs by torch.export)."""

    def __init__(self, model: nn.Module, layer_names: list[str], adapter):
        self.adapter, self.rows, self.lengths = adapter, {}, {}
        for name in layer_names:
            model.get_submodule(name).register_forward_hook(self.probe(name))

    def keep(self, name: str, t: torch.Tensor, is_input: bool) -> torch.Tensor:
        """0/1 mask broadcastable to `t`: 1 on the positions the host pass keeps (`adapter.trim`)."""
        axis, key = self.adapter.padding_axis(name, is_input)
        size = t.shape[axis]
        if key not in self.lengths:                 # a decoder step: one real token, nothing padded
            return torch.ones([1] * t.dim(), dtype=torch.bool)
        shape = [1] * t.dim()
        shape[axis] = size
        return (torch.arange(size) < self.lengths[key]).view(shape)

    def probe(self, name: str):
        def hook(module, inputs, output):
            x = inputs[0] if inputs and torch.is_tensor(inputs[0]) and inputs[0].is_floating_point() else None
            self.rows[name] = partials(output, self.keep(name, output, False), x,
                                       None if x is None else self.keep(name, x, True))
        return hook

    def collect(self, names: list[str]):
        missing = [n for n in names if n not in self.rows]
        if missing:
            raise MyqasrError(f"export-stats: layer {missing[0]} was not called where the program expects it")
        out = torch.stack([self.rows[n][0] for n in names]), torch.stack([self.rows[n][1] for n in names])
        self.rows = {}
        return out


def padding_lengths(n_samples: torch.Tensor) -> dict:
    """The host's `WhisperAdapter.stats_context` on a tensor: mel = min(3000, n // 160 + 1) log-mel frames,
    enc = min(1500, ceil(mel / 2)) encoder positions."""
    mel = torch.clamp(torch.div(n_samples, WHISPER_HOP, rounding_mode="floor") + 1, max=WHISPER_N_FRAMES)
    return {"mel": mel, "enc": torch.clamp(torch.div(mel + 1, 2, rounding_mode="floor"), max=WHISPER_ENCODER_FRAMES)}


class StatsEncoder(nn.Module):
    """encoder(features, n_samples) -> (*cross K/V, hist, moments) of the encoder-side layers."""

    def __init__(self, encoder: nn.Module, probes: Probes, names: list[str]):
        super().__init__()
        self.encoder, self.names = encoder, names
        self._probes = [probes]

    def forward(self, features, n_samples):
        probes = self._probes[0]
        probes.lengths = padding_lengths(n_samples)
        kv = self.encoder(features)
        probes.lengths = {}
        return (*kv, *probes.collect(self.names))


class StatsDecoder(nn.Module):
    """text_decoder(token, position, *cross K/V) -> (logits, hist, moments) of the decoder-side layers."""

    def __init__(self, decoder: nn.Module, probes: Probes, names: list[str]):
        super().__init__()
        self.decoder, self.names = decoder, names
        self._probes = [probes]

    def forward(self, input_ids, cache_position, *kv):
        probes = self._probes[0]
        probes.lengths = {}
        logits = self.decoder(input_ids, cache_position, *kv)
        return (logits, *probes.collect(self.names))


def split_layers(adapter, layer_names: list[str]) -> tuple[list[str], list[str]]:
    """(encoder-method layers, decoder-method layers): a layer padded along the audio runs in the encoder method."""
    enc = [n for n in layer_names if adapter.padding_axis(n, False)[1] != "tokens"]
    return enc, [n for n in layer_names if n not in enc]


@dataclass
class StatsProgramReport:
    pte_path: str
    layers_path: str
    pte_bytes: int
    layers: int
    export_s: float

    def summary(self) -> str:
        return (f"wrote {self.pte_path} ({self.pte_bytes / 1e6:.2f} MB, {self.layers} layers) and "
                f"{self.layers_path}; export {self.export_s:.1f} s")


def program_contract(loaded, layer_names: list[str], split: tuple, max_ids: int, pte_sha256: str) -> dict:
    """`stats.layers.json`: what the phone needs to turn the program's outputs into a statistics file."""
    return {"format": PROGRAM_FORMAT, "version": PROGRAM_VERSION, "stats_version": STATS_VERSION,
            "model_id": loaded.model_id, "weights_sha256": loaded.weights_sha256, "arch": loaded.arch,
            "layers": layer_names, "encoder_layers": split[0], "decoder_layers": split[1],
            "moments": list(PARTIAL_MOMENTS),
            "bins": {"log2_lo": LOG2_LO, "log2_hi": LOG2_HI, "bins_per_octave": BINS_PER_OCTAVE, "n": N_BINS},
            "max_decoder_ids": max_ids, "pte_sha256": pte_sha256}


def load_contract(pte) -> dict:
    path = layers_path_for(pte)
    try:
        c = json.loads(open(path, encoding="utf-8").read())
    except FileNotFoundError:
        raise MyqasrError(f"{path}: not found (written by `myqasr export-stats` next to the .pte)") from None
    except (OSError, ValueError) as e:
        raise MyqasrError(f"{path}: not a readable statistics program description ({e})") from None
    if c.get("format") != PROGRAM_FORMAT or c.get("version") != PROGRAM_VERSION:
        raise MyqasrError(f"{path}: not a {PROGRAM_FORMAT} version {PROGRAM_VERSION} file")
    if c.get("moments") != list(PARTIAL_MOMENTS) or c.get("bins", {}).get("n") != N_BINS:
        raise MyqasrError(f"{path}: other bins or moments than this myqasr's statistics")
    return c


def export_statistics_program(loaded, out_path, *, max_new_tokens: int = WHISPER_MAX_NEW_TOKENS) -> StatsProgramReport:
    """Write `out_path` (.pte), its `.vocab.json` and `.layers.json` together (or none of them)."""
    from myqasr.adapters import adapter_for

    from .lower import lower
    from .vocab import vocab_path_for, whisper_vocab
    from .whisper import EncoderWrapper, TextDecoder, prepare_for_export, preprocessor_for, whisper_prompt

    out = check_output_path(out_path, ".pte")
    if loaded.arch != "whisper":
        raise MyqasrError(f"export-stats: supports Whisper models (got {loaded.arch}); compute the statistics of a "
                          "CTC model on the host with `myqasr stats`")
    t0 = time.perf_counter()
    adapter = adapter_for(loaded.arch, loaded.processor)
    layer_names = [l.name for l in adapter.layers(loaded.model)]
    split = split_layers(adapter, layer_names)
    prompt = whisper_prompt(loaded.model)
    max_ids = len(prompt) + max_new_tokens
    fe = getattr(loaded.processor, "feature_extractor", None)
    model = prepare_for_export(loaded.model)
    probes = Probes(model, layer_names, adapter)
    n_mels, frames = model.config.num_mel_bins, 2 * model.config.max_source_positions
    with torch.no_grad():
        pre = torch.export.export(preprocessor_for(loaded.model, fe), (torch.zeros(WHISPER_N_SAMPLES),), strict=True)
        enc = StatsEncoder(EncoderWrapper(model), probes, split[0]).eval()
        features, n = torch.zeros(1, n_mels, frames), torch.tensor([WHISPER_N_SAMPLES], dtype=torch.long)
        kv = enc(features, n)[:-2]
        dec = StatsDecoder(TextDecoder(model, max_ids), probes, split[1]).eval()
        token, position = torch.tensor([[prompt[0]]], dtype=torch.long), torch.tensor([0], dtype=torch.long)
        programs = {"preprocessor": pre, "encoder": torch.export.export(enc, (features, n), strict=False),
                    "text_decoder": torch.export.export(dec, (token, position, *kv), strict=False)}
    pm, _ = lower(programs)
    buf = pm.buffer
    vocab = whisper_vocab(loaded.processor.tokenizer, loaded.model.generation_config, max_new_tokens, prompt=prompt)
    vocab.model_id = loaded.model_id
    sha = hashlib.sha256(buf).hexdigest()
    vocab.pte_sha256 = sha
    contract = program_contract(loaded, layer_names, split, max_ids, sha)
    vpath, lpath = vocab_path_for(out), layers_path_for(out)
    write_atomic_group({out: buf, vpath: (json.dumps(vocab.to_dict(), ensure_ascii=False) + "\n").encode(),
                        lpath: (json.dumps(contract, indent=1) + "\n").encode()})
    return StatsProgramReport(str(out), str(lpath), len(buf), len(layer_names), time.perf_counter() - t0)
