"""Streaming activation statistics in fixed memory.

One forward-only pass over the user's clips feeds every layer's output into a `StreamingStats`: exact running
count / sum / sum of squares / extremes plus a fine log-spaced histogram of |y| (256 bins per octave from 2^-24
to 2^16, i.e. 0.27 % wide), from which the median and any percentile are read to within 0.14 % relative error.
Memory is ~80 KB per layer whatever the number or length of clips. One pass serves every sensitivity metric and
every later budget.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .adapters import own_transcripts
from .config import Metric
from .constants import CALIBRATION_TRANSCRIBE_BATCH
from .errors import MyqasrError
from .fileio import write_atomic

LOG2_LO, LOG2_HI, BINS_PER_OCTAVE = -24, 16, 256
N_BINS = (LOG2_HI - LOG2_LO) * BINS_PER_OCTAVE
UPDATE_CHUNK = 1 << 20


class StreamingStats:
    """Running statistics of |y| (and signed extremes of y) over any number of tensors."""

    def __init__(self):
        self.hist = torch.zeros(N_BINS, dtype=torch.float64)
        self.count = 0
        self.sum_abs = 0.0
        self.sum_sq = 0.0
        self.max = -math.inf
        self.min = math.inf
        self.input_abs_max = 0.0

    def update(self, y: torch.Tensor) -> None:
        """Add every element of `y`, UPDATE_CHUNK elements at a time: the temporaries (|y|, bin indices) stay a few
        MB even for Whisper's logits over a 30 s segment's transcript ([1, 130, 51864])."""
        y = y.detach().reshape(-1)
        for start in range(0, y.numel(), UPDATE_CHUNK):
            self.update_chunk(y[start:start + UPDATE_CHUNK].float())

    def update_chunk(self, y: torch.Tensor) -> None:
        if y.numel() == 0:
            return
        a = y.abs()
        idx = ((torch.log2(a.clamp_min(2.0 ** LOG2_LO)) - LOG2_LO) * BINS_PER_OCTAVE).floor()
        idx = idx.clamp_(0, N_BINS - 1).long()
        self.hist += torch.bincount(idx, minlength=N_BINS).double()
        self.count += y.numel()
        self.sum_abs += float(a.double().sum())
        self.sum_sq += float((a.double() ** 2).sum())
        self.max = max(self.max, float(y.max()))
        self.min = min(self.min, float(y.min()))

    def add_partial(self, hist, moments) -> None:
        """Add one clip's partial statistics as the phone's statistics program returns them (PARTIAL_MOMENTS):
        the same fixed bins, so histograms and sums add up; extremes take the max / min."""
        m = dict(zip(PARTIAL_MOMENTS, (float(v) for v in moments)))
        if m["count"] <= 0:
            return
        self.hist += torch.as_tensor(np.asarray(hist, dtype=np.float64))
        self.count += int(round(m["count"]))
        self.sum_abs += m["sum_abs"]
        self.sum_sq += m["sum_sq"]
        self.max = max(self.max, m["max"])
        self.min = min(self.min, m["min"])
        self.input_abs_max = max(self.input_abs_max, m["input_abs_max"])

    def update_input(self, x: torch.Tensor) -> None:
        if x.numel():
            self.input_abs_max = max(self.input_abs_max, float(x.detach().abs().max()))

    def quantile(self, q: float) -> float:
        """q-quantile of |y| from the histogram (log-linear interpolation inside the bin)."""
        if self.count == 0:
            return 0.0
        cum = torch.cumsum(self.hist, 0)
        target = q * self.count
        i = int(torch.searchsorted(cum, torch.tensor([target], dtype=torch.float64)).item())
        i = min(i, N_BINS - 1)
        before = float(cum[i - 1]) if i > 0 else 0.0
        frac = (target - before) / max(float(self.hist[i]), 1.0)
        return 2.0 ** (LOG2_LO + (i + min(max(frac, 0.0), 1.0)) / BINS_PER_OCTAVE)

    def summary(self) -> dict:
        n = max(self.count, 1)
        mean = self.sum_abs / n
        return {
            "count": self.count,
            "median": self.quantile(0.5),
            "mean": mean,
            "std": math.sqrt(max(self.sum_sq / n - mean * mean, 0.0)),
            "max": self.max,
            "min": self.min,
            "abs_max": max(abs(self.max), abs(self.min)) if self.count else 0.0,
            "p90": self.quantile(0.90),
            "p99": self.quantile(0.99),
            "p999": self.quantile(0.999),
            "input_abs_max": self.input_abs_max,
        }


@dataclass
class Statistics:
    """The result of one statistics pass: per-layer summaries (+ histograms) and what they were computed on."""
    model_id: str
    weights_sha256: str
    clips: dict                       # {"count", "seconds", "sha256"}
    layers: dict[str, dict]           # name -> summary (see StreamingStats.summary)
    histograms: dict[str, np.ndarray] | None = None
    costs: dict[str, dict[str, float]] = field(default_factory=dict)   # layer -> {format name: cost} (myqasr.cost)
    provenance: dict = field(default_factory=lambda: {"computed_on": "host"})   # where and by what (see PROVENANCE)

    def metric(self, name: Metric) -> dict[str, float]:
        key = Metric.parse(name, "metric").value
        return {layer: s[key] for layer, s in self.layers.items()}


def release_freed_memory() -> None:
    """Hand memory freed by the last forward pass back to the OS (glibc `malloc_trim`; a no-op elsewhere).

    Without it glibc keeps the holes that growing decoder caches and temporaries leave in its heap, and a
    process's peak RSS creeps up with the number of clips although nothing is kept (measured in
    benchmarks/results/perf.md). Called once per clip: the cost is one system call."""
    global _libc
    if _libc is None:
        try:
            import ctypes
            lib = ctypes.CDLL("libc.so.6")
            _libc = lib if hasattr(lib, "malloc_trim") else False
        except OSError:
            _libc = False
    if _libc:
        _libc.malloc_trim(0)


_libc = None
# 2: a tied output projection is a layer of its own; 3: per-layer format costs; 4: `provenance` (where the statistics
# were computed), costs optional (a phone computes no cost pass: the default `auto` allocator then runs the paper's
# walk, and `--allocator knapsack` asks for host costs).
STATS_VERSION = "4"
READABLE_VERSIONS = ("3", "4")
COMPUTED_ON = ("host", "phone")
# One clip's partial statistics per layer, as the phone's statistics program returns them (columns of its
# `moments` output, next to a histogram of N_BINS counts on the bins above): they add up over clips.
PARTIAL_MOMENTS = ("count", "sum_abs", "sum_sq", "max", "min", "input_abs_max")


def statistics_from_partials(layer_names: list[str], partials, *, model_id: str, weights_sha256: str, clips: dict,
                             provenance: dict) -> Statistics:
    """Stream partial statistics into statistics, in fixed memory whatever the number of clips: `partials` yields
    (row layer names, hist [rows, N_BINS], moments [rows, len(PARTIAL_MOMENTS)]), e.g. one per call of the phone's
    statistics program. The Python twin of the app's `core/PhoneStats.java`."""
    try:
        provenance = check_provenance(provenance)
    except ValueError as e:
        raise MyqasrError(str(e)) from None
    streams = {name: StreamingStats() for name in layer_names}
    for rows, hist, moments in partials:
        hist, moments = np.asarray(hist), np.asarray(moments)
        if hist.shape != (len(rows), N_BINS) or moments.shape != (len(rows), len(PARTIAL_MOMENTS)):
            raise MyqasrError(f"partials: expected [{len(rows)}, {N_BINS}] and [{len(rows)}, {len(PARTIAL_MOMENTS)}], "
                              f"got {list(hist.shape)} and {list(moments.shape)}")
        unknown = [r for r in rows if r not in streams]
        if unknown:
            raise MyqasrError(f"partials: layer {unknown[0]} is not a layer of {model_id}")
        for i, name in enumerate(rows):
            streams[name].add_partial(hist[i], moments[i])
    return Statistics(model_id, weights_sha256, clips, {k: s.summary() for k, s in streams.items()},
                      {k: s.hist.numpy() for k, s in streams.items()}, {}, provenance)


def check_provenance(p) -> dict:
    """Where statistics came from: {"computed_on": "host" | "phone", ...}; a ValueError names the problem."""
    if not isinstance(p, dict) or p.get("computed_on") not in COMPUTED_ON:
        raise ValueError(f"provenance: computed_on must be one of {', '.join(COMPUTED_ON)}")
    return p


def save_statistics(stats: Statistics, path) -> None:
    """Statistics file: safetensors of histograms, with the summaries as JSON metadata (written atomically)."""
    from safetensors.numpy import save

    meta = {"format": "myqasr-stats", "version": STATS_VERSION, "model_id": stats.model_id,
            "weights_sha256": stats.weights_sha256, "clips": json.dumps(stats.clips),
            "layers": json.dumps(stats.layers), "provenance": json.dumps(check_provenance(stats.provenance))}
    if stats.costs:
        meta["costs"] = json.dumps(stats.costs)
    hists = {k: v.astype(np.float64) for k, v in (stats.histograms or {}).items()} or {"_empty": np.zeros(0)}
    write_atomic(path, save(hists, metadata=meta))


def load_statistics(path) -> Statistics:
    from safetensors import safe_open
    from safetensors.numpy import load_file

    try:
        with safe_open(str(path), "np") as f:
            meta = f.metadata() or {}
        if meta.get("format") != "myqasr-stats":
            raise ValueError("not a myqasr statistics file")
        version = meta.get("version")
        if version not in READABLE_VERSIONS:
            raise ValueError(f"statistics version {version}, this myqasr reads versions "
                             f"{', '.join(READABLE_VERSIONS)}: recompute them with `myqasr stats`")
        if version == "3" and "costs" not in meta:
            raise ValueError("statistics version 3 without costs")
        provenance = {"computed_on": "host"} if version == "3" else json.loads(meta["provenance"])
        hists = load_file(str(path))
        hists.pop("_empty", None)
        return Statistics(meta["model_id"], meta["weights_sha256"], json.loads(meta["clips"]),
                          json.loads(meta["layers"]), hists, check_costs(json.loads(meta.get("costs", "{}"))),
                          check_provenance(provenance))
    except FileNotFoundError:
        raise MyqasrError(f"{path}: statistics file not found") from None
    except Exception as e:  # safetensors raises several types for a damaged file
        raise MyqasrError(f"{path}: not a readable myqasr statistics file ({e})") from None


def check_costs(costs) -> dict[str, dict[str, float]]:
    """The costs of a statistics file: {layer: {format: finite number >= 0}}, or a ValueError naming the problem."""
    if not isinstance(costs, dict):
        raise ValueError("costs must map layers to {format: cost}")
    for layer, per in costs.items():
        if not isinstance(per, dict) or not all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0
                                                for v in per.values()):
            raise ValueError(f"costs of layer {layer}: expected finite numbers >= 0 per format")
    return costs


def collect_statistics(model, adapter, audios: list[np.ndarray], layers, *, model_id: str = "", weights_sha256: str = "",
                       clips: dict | None = None, progress: bool = True, decoder_ids: list | None = None) -> Statistics:
    """The statistics pass: forward-only, hooks on every quantizable layer, padding excluded.

    Whisper: the full-precision model first transcribes the clips (greedy); its own tokens are then fed to the
    decoder in one teacher-forced pass per clip. Every layer is measured at its own output (Whisper's token
    embedding at the looked-up rows, its tied proj_out at the logits).
    """
    from tqdm.auto import tqdm

    streams = {layer.name: StreamingStats() for layer in layers}
    ctx: dict = {}
    handles = []

    def make_hook(layer_name: str):
        s = streams[layer_name]

        def hook(module, inputs, output):
            if inputs and torch.is_tensor(inputs[0]) and inputs[0].is_floating_point():
                s.update_input(adapter.trim(layer_name, inputs[0], ctx, True))
            s.update(adapter.trim(layer_name, output, ctx, False))
        return hook

    if decoder_ids is None:
        decoder_ids = own_transcripts(model, adapter, audios, batch_size=CALIBRATION_TRANSCRIBE_BATCH,
                                      progress=progress, after_batch=release_freed_memory)
    try:
        for layer in layers:
            module = model.get_submodule(layer.name)
            handles.append(module.register_forward_hook(make_hook(layer.name)))
        for i in tqdm(range(len(audios)), desc="statistics pass", disable=not progress):
            audio, ids = audios[i], decoder_ids[i]       # one clip at a time (`audios` may read it from its file)
            ctx.clear()
            ctx.update(adapter.stats_context(audio))
            adapter.stats_forward(model, audio, ids)
            release_freed_memory()
    finally:
        for h in handles:
            h.remove()
    return Statistics(model_id, weights_sha256, clips or {}, {k: s.summary() for k, s in streams.items()},
                      {k: s.hist.numpy() for k, s in streams.items()})

