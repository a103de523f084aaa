"""Calibration by search: weight scales (and static activation scales) chosen on the user's own clips.

Both strategies start from the min-max scales of `calibrate.calibrate_minmax` and multiply them by factors from
a grid (`GRID` for weights, `ACT_GRID` for static activation scales; both contain 1.0, so min-max is always a
candidate and a search never scores worse than min-max on its own objective). A candidate is scored on the
layer's output, computed exactly as `simulate` computes it (same fake-quant functions: per-channel / per-group
weight rounding, dynamic int8 per-token input for linears and the tied head, static int8 per-tensor input and
output for convs), against the full-precision output of the same inputs:

  "cosine"   cosine similarity between the fp32 and the quantized output of each output channel, along the
             rows (tokens, frames): cos(y[:, o], y_hat[:, o]). The score of channel o depends only on weight
             row o, so the best multiplier of every channel is found at the cost of one layer-wide evaluation
             per grid point (exact per-channel argmax, no coordinate descent).
  "hessian"  PTQ4ViT's Hessian-guided score, label-free: -sum_r (g[r, o] * (y[r, o] - y_hat[r, o]))^2, with
             g = dKL(p_fp || p_q) / d(layer output). The KL divergence at the full-precision point has zero
             gradient, so g is taken through the *min-max quantized* model of the same scheme: each clip is
             run through the fp32 model (target p_fp, that clip's own softmax, detached) and through the
             simulated min-max model teacher-forced on the same transcript, and KL(p_fp || p_q), averaged over
             output positions, is back-propagated (rounding passes gradients straight through). No labels:
             Whisper's decoder is fed the fp32 model's own greedy transcript.

Granularity. Weight multipliers are searched per output channel for every format: exact and as cheap as one
per-layer multiplier (see above). For per-group formats (int4, group 32) a second pass refines one
multiplier per group by coordinate descent over the group index (`group_sweeps`; one sweep costs about as much
as the channel search, since updating group j of every channel at once is one [rows x 32] x [32 x out]
product per grid point). Static activation scales are per tensor (what the backend stores) and are searched
with one multiplier each for the input and the output, alternating with the weight search for `rounds` rounds.

Inputs. Layer inputs come from one hooked full-precision pass, the same label-free pass as the statistics
(`adapter.stats_forward` on the fp32 model's greedy transcript, padding dropped with `adapter.trim`). Memory is
bounded by keeping at most `max_tokens` rows per layer: every clip contributes at most
ceil(max_tokens / n_clips) rows, drawn without replacement by a generator seeded from the clip's index and row
count (so layers that read the same tensor keep the same rows). A row is one token for a linear and one output
frame for a conv (its receptive field unfolded to C_in * k values; static int8 quantization is elementwise, so
quantizing the unfolded patch is quantizing the input). For "hessian" the output gradients of the same rows
are kept. The fp32 output is recomputed from the cached input when needed, never stored. Outputs are
evaluated in blocks of `CHUNK` output channels (Whisper's 51,864-row tied head included).

Not searched (min-max kept): an embedding that is not tied to an output projection (its output is its own
table rows), and convs with dilation, non-zero padding modes or string padding.
"""
from __future__ import annotations

import contextlib
import math
import zlib
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .calibrate import calibrate_minmax, weight_of
from .formats import Format
from .layers import Layer
from .quant import fake_quant_dynamic_per_token, fake_quant_static, fake_quant_weight, minmax_weight_scale

METHODS = ("cosine", "hessian")
GRID = tuple(round(0.5 + 0.05 * i, 2) for i in range(15))        # weight scale multipliers 0.50 ... 1.20
ACT_GRID = tuple(round(0.3 + 0.05 * i, 2) for i in range(19))    # static activation multipliers 0.30 ... 1.20
ROUNDS = 2
MAX_TOKENS = 2048
GROUP_SWEEPS = 1
CHUNK = 4096


# --------------------------------------------------------------------------- what the search sees of a layer

@dataclass
class LayerInputs:
    """Cached full-precision inputs of one layer: `rows` [n, in] (conv: unfolded patches, in = C_in * k), which
    rows of which clip they are (`picks`), and for "hessian" the output gradients of the same rows [n, out]."""
    rows: list = field(default_factory=list)
    picks: dict = field(default_factory=dict)          # clip index -> LongTensor of row indices
    grads: list = field(default_factory=list)

    def x(self) -> torch.Tensor:
        return torch.cat(self.rows) if self.rows else torch.zeros(0)

    def g(self) -> torch.Tensor | None:
        return torch.cat(self.grads) if self.grads else None


def _head_module(layer: Layer) -> str:
    """The module whose input / output the search uses: a tied embedding is measured at its projection."""
    return layer.tied_to or layer.name


def searchable(model, layer: Layer, fmt: Format) -> bool:
    if not fmt.quantized:
        return False
    if layer.kind == "embedding":
        return layer.tied_to is not None
    if layer.kind == "conv1d":
        conv = model.get_submodule(layer.name)
        return (isinstance(conv.padding, tuple) and conv.padding_mode == "zeros"
                and all(d == 1 for d in conv.dilation))
    return layer.kind == "linear"


def _act_mode(layer: Layer, fmt: Format) -> str:
    """How simulate quantizes this layer's input: the tied head runs with dynamic int8 activations."""
    return "dynamic_int8" if layer.kind == "embedding" else fmt.activation


def _conv_rows(x: torch.Tensor, conv) -> torch.Tensor:
    """[1, C, T] conv input -> [1, C*k, T_out] unfolded receptive fields (weight.reshape(out, -1) order)."""
    (p,), (k,), (s,) = conv.padding, conv.kernel_size, conv.stride
    patches = F.pad(x, (p, p)).unfold(-1, k, s)             # [1, C, T_out, k]
    return patches.permute(0, 1, 3, 2).reshape(1, -1, patches.shape[2])


def _pick(n_rows: int, quota: int, clip: int) -> torch.Tensor:
    if n_rows <= quota:
        return torch.arange(n_rows)
    g = torch.Generator().manual_seed(zlib.crc32(f"{clip}/{n_rows}".encode()))
    return torch.randperm(n_rows, generator=g)[:quota].sort().values


def _as_rows(t: torch.Tensor, kind: str) -> torch.Tensor:
    """Layer-output-shaped tensor -> [rows, features] (conv: [1, C, T] -> [T, C])."""
    if kind == "conv1d":
        return t[0].transpose(0, 1)
    return t.reshape(-1, t.shape[-1])


# --------------------------------------------------------------------------- the passes over the clips

def transcripts(model, adapter, audios, batch_size: int = 8) -> list:
    """The fp32 model's greedy token ids per clip (Whisper), or None per clip (CTC models need none)."""
    from .stats import _strip_padding

    if not hasattr(adapter, "generate_ids"):
        return [None] * len(audios)
    ids = []
    pad = getattr(model.generation_config, "pad_token_id", None)
    for i in range(0, len(audios), batch_size):
        ids += [_strip_padding(s, pad) for s in adapter.generate_ids(model, audios[i:i + batch_size])]
    return ids


def capture_inputs(model, adapter, layers: list[Layer], audios, decoder_ids, max_tokens: int = MAX_TOKENS,
                   progress: bool = True, logits_out: list | None = None) -> dict[str, LayerInputs]:
    """One hooked fp32 forward pass per clip (adapter.stats_forward): each layer's input rows, subsampled.
    With `logits_out`, the fp32 logits of every clip are appended to it (the Hessian target)."""
    from tqdm.auto import tqdm

    quota = max(1, math.ceil(max_tokens / max(len(audios), 1)))
    cache = {l.name: LayerInputs() for l in layers}
    ctx, state = {}, {"clip": 0}
    handles = []

    def make_hook(layer: Layer):
        entry = cache[layer.name]

        def hook(module, inputs, output):
            x = inputs[0].detach().float()
            if layer.kind == "conv1d":
                rows = _as_rows(adapter.trim(layer.name, _conv_rows(x, module), ctx, False), "conv1d")
            else:
                rows = _as_rows(adapter.trim(layer.name, x, ctx, True), layer.kind)
            idx = _pick(rows.shape[0], quota, state["clip"])
            entry.picks[state["clip"]] = idx
            entry.rows.append(rows[idx].clone())
        return hook

    try:
        for layer in layers:
            handles.append(model.get_submodule(_head_module(layer)).register_forward_hook(make_hook(layer)))
        if logits_out is not None:
            handles.append(model.register_forward_hook(lambda m, i, o: logits_out.append(o.logits.detach()[0])))
        for i, (audio, ids) in enumerate(tqdm(list(zip(audios, decoder_ids)), desc="calibration pass",
                                              disable=not progress)):
            state["clip"] = i
            ctx.clear()
            ctx.update(adapter.stats_context(audio))
            adapter.stats_forward(model, audio, ids)
    finally:
        for h in handles:
            h.remove()
    return cache


@contextlib.contextmanager
def _straight_through():
    """Make simulate's activation rounding pass gradients straight through (values unchanged)."""
    from . import simulate as sim_mod

    dyn, static = sim_mod.fake_quant_dynamic_per_token, sim_mod.fake_quant_static
    sim_mod.fake_quant_dynamic_per_token = lambda x: x + (dyn(x) - x).detach()
    sim_mod.fake_quant_static = lambda x, s: x + (static(x, s) - x).detach()
    try:
        yield
    finally:
        sim_mod.fake_quant_dynamic_per_token, sim_mod.fake_quant_static = dyn, static


def _sim_scheme(loaded, layers, formats, weight_scales, act_scales):
    from .scheme import LayerPlan, Scheme
    plans = [LayerPlan(l, formats[l.name], input_scale=act_scales.get(l.name, (None, None))[0],
                       output_scale=act_scales.get(l.name, (None, None))[1]) for l in layers]
    return Scheme(loaded.model_id, loaded.arch, loaded.weights_sha256, "simulated", plans, weight_scales, 0, 0)


def capture_gradients(loaded, adapter, layers: list[Layer], formats, stats, audios, decoder_ids, fp_logits,
                      cache: dict[str, LayerInputs], progress: bool = True) -> None:
    """Fill `cache[..].grads`: dKL(p_fp || p_minmax) / d(layer output) at the cached rows, clip by clip."""
    from tqdm.auto import tqdm
    from .simulate import simulate

    forward = getattr(type(adapter).stats_forward, "__wrapped__", None)
    if forward is None:
        raise RuntimeError(f"{type(adapter).__name__}.stats_forward cannot run with gradients")
    ws, acts = calibrate_minmax(loaded.model, layers, formats, stats)
    sim = simulate(loaded.model, _sim_scheme(loaded, layers, formats, ws, acts))
    for p in sim.parameters():
        p.requires_grad_(False)
    ctx, state, out = {}, {"clip": 0}, {}
    handles = []

    def make_hook(layer: Layer):
        entry = cache[layer.name]

        def keep(g):
            rows = _as_rows(adapter.trim(layer.name, g.detach().float(), ctx, False), layer.kind)
            entry.grads.append(rows[entry.picks[state["clip"]]].clone())

        def hook(module, inputs, output):
            if not output.requires_grad:       # nothing upstream needs a gradient: start the graph here
                output.requires_grad_(True)
            output.register_hook(keep)
        return hook

    try:
        for layer in layers:
            if layer.name in cache:
                handles.append(sim.get_submodule(_head_module(layer)).register_forward_hook(make_hook(layer)))
        handles.append(sim.register_forward_hook(lambda m, i, o: out.__setitem__("logits", o.logits[0])))
        with _straight_through(), torch.enable_grad():
            for i, (audio, ids) in enumerate(tqdm(list(zip(audios, decoder_ids)), desc="gradient pass",
                                                  disable=not progress)):
                state["clip"] = i
                ctx.clear()
                ctx.update(adapter.stats_context(audio))
                forward(adapter, sim, audio, ids)
                target = F.log_softmax(fp_logits[i].float().clone(), -1)
                logq = F.log_softmax(out.pop("logits").float(), -1)
                kl = (target.exp() * (target - logq)).sum(-1).mean()
                kl.backward()
    finally:
        for h in handles:
            h.remove()
    del sim


# --------------------------------------------------------------------------- the search on one layer

def _quant_input(x: torch.Tensor, mode: str, s_in: float | None) -> torch.Tensor:
    if mode == "dynamic_int8":
        return fake_quant_dynamic_per_token(x)
    if mode == "static_int8":
        return fake_quant_static(x, s_in)
    return x


def _score(y: torch.Tensor, y_hat: torch.Tensor, g: torch.Tensor | None, method: str) -> torch.Tensor:
    """Per output channel (higher is better): [rows, c] x 2 -> [c]."""
    if method == "cosine":
        num = (y * y_hat).sum(0)
        return num / (y.norm(dim=0) * y_hat.norm(dim=0)).clamp_min(1e-20)
    return -((g * (y - y_hat)) ** 2).sum(0)


def _blocks(out: int, groups: int):
    """Channel blocks [o0, o1) of at most CHUNK channels, never crossing a conv group, with their input group."""
    per = out // groups
    for g in range(groups):
        for o0 in range(g * per, (g + 1) * per, CHUNK):
            yield o0, min(o0 + CHUNK, (g + 1) * per), g


def _search_weights(x, xq, w, b, fmt, s0, mult, s_out, g, method, grid, group_sweeps, groups):
    """Per channel (then per group) the best multiplier of s0, everything else fixed. Updates `mult` in place."""
    width = w.shape[1] // groups
    for o0, o1, grp in _blocks(w.shape[0], groups):
        cols = slice(grp * width, (grp + 1) * width)
        xb, xqb, wb = x[:, cols], xq[:, cols], w[o0:o1]
        bb = None if b is None else b[o0:o1]
        y = F.linear(xb, wb, bb)
        gb = None if g is None else g[:, o0:o1]
        s0b, mb = s0[o0:o1], mult[o0:o1]
        out_q = (lambda t: fake_quant_static(t, s_out)) if s_out else (lambda t: t)

        def evaluate(m):                               # m: [c] or [c, G]
            scale = s0b * (m if m.dim() == s0b.dim() else m.unsqueeze(-1))
            wq = fake_quant_weight(wb, fmt, scale)
            pre = F.linear(xqb, wq, bb)
            return wq, pre, _score(y, out_q(pre), gb, method)

        # channel pass: one multiplier per channel (per-group formats: shared by the channel's groups)
        best_wq, best_pre, best = evaluate(mb)
        for m in grid:
            wq, pre, sc = evaluate(torch.full((mb.shape[0],), m))
            win = sc > best
            if win.any():
                mb[win], best[win] = m, sc[win]
                best_wq[win], best_pre[:, win] = wq[win], pre[:, win]
        if fmt.granularity != "per_group" or group_sweeps <= 0:
            continue
        # group passes: coordinate descent over the group index, all channels at once
        gs = fmt.group_size
        for _ in range(group_sweeps):
            for j in range(s0b.shape[1]):
                c = slice(j * gs, (j + 1) * gs)
                w_j, s_j = wb[:, c], s0b[:, j:j + 1]
                xq_j = xqb[:, c]
                old_j = best_wq[:, c]
                cur_j = mb[:, j].clone()
                for m in grid:
                    wq_j = fake_quant_weight(w_j, fmt, s_j * m)
                    pre = best_pre + F.linear(xq_j, wq_j - old_j)
                    sc = _score(y, out_q(pre), gb, method)
                    win = sc > best
                    if win.any():
                        cur_j[win], best[win] = m, sc[win]
                        best_wq[win, c] = wq_j[win]
                        best_pre[:, win] = pre[:, win]
                        old_j = best_wq[:, c]
                mb[:, j] = cur_j


def _full_output(xq, w, b, fmt, scale, groups):
    wq = fake_quant_weight(w, fmt, scale)
    if groups == 1:
        return F.linear(xq, wq, b)
    width, per = w.shape[1] // groups, w.shape[0] // groups
    return torch.cat([F.linear(xq[:, g * width:(g + 1) * width], wq[g * per:(g + 1) * per],
                               None if b is None else b[g * per:(g + 1) * per]) for g in range(groups)], 1)


def _search_act(x, y, w, b, fmt, scale, s_in, s_out, g, method, act_grid, which, groups):
    """Best multiplier of the static input (`which`="in") or output scale; returns the new scale."""
    total = (lambda sc: sc.mean()) if method == "cosine" else (lambda sc: sc.sum())
    if which == "in":
        best_s, best = s_in, None
        for m in (1.0,) + tuple(act_grid):
            s = s_in * m
            pre = _full_output(fake_quant_static(x, s), w, b, fmt, scale, groups)
            sc = float(total(_score(y, fake_quant_static(pre, s_out) if s_out else pre, g, method)))
            if best is None or sc > best:
                best, best_s = sc, s
        return best_s
    pre = _full_output(fake_quant_static(x, s_in), w, b, fmt, scale, groups)
    best_s, best = s_out, None
    for m in (1.0,) + tuple(act_grid):
        s = s_out * m
        sc = float(total(_score(y, fake_quant_static(pre, s), g, method)))
        if best is None or sc > best:
            best, best_s = sc, s
    return best_s


def search_layer(model, layer: Layer, fmt: Format, inputs: LayerInputs, act: tuple | None, method: str,
                 grid=GRID, act_grid=ACT_GRID, rounds: int = ROUNDS, group_sweeps: int = GROUP_SWEEPS):
    """The searched (weight_scale, (input_scale, output_scale) or None) of one layer."""
    module = model.get_submodule(layer.name)
    w4 = weight_of(model, layer)
    w = w4.reshape(w4.shape[0], -1)
    head = model.get_submodule(_head_module(layer))
    b = getattr(head, "bias", None)
    b = None if b is None else b.detach().float()
    groups = module.groups if layer.kind == "conv1d" else 1
    s0 = minmax_weight_scale(w4, fmt)
    mult = torch.ones_like(s0)
    x, g = inputs.x(), inputs.g()
    if x.numel() == 0:
        return s0, act
    if method == "hessian" and g is None:
        raise ValueError(f"{layer.name}: no gradients captured")
    mode = _act_mode(layer, fmt)
    s_in, s_out = act if act else (None, None)
    static = mode == "static_int8"
    y_full = None
    for _ in range(max(1, rounds) if static else 1):
        xq = _quant_input(x, mode, s_in)
        _search_weights(x, xq, w, b, fmt, s0, mult, s_out, g, method, grid, group_sweeps, groups)
        if static:
            if y_full is None:
                y_full = _full_output(x, w, b, Format("fp32", 32), None, groups)
            scale = s0 * mult
            s_in = _search_act(x, y_full, w, b, fmt, scale, s_in, s_out, g, method, act_grid, "in", groups)
            if s_out:
                s_out = _search_act(x, y_full, w, b, fmt, scale, s_in, s_out, g, method, act_grid, "out", groups)
    return s0 * mult, ((s_in, s_out) if static else act)


# --------------------------------------------------------------------------- the entry point used by plan()

def calibrate(loaded, layers: list[Layer], formats: dict[str, Format], stats, clips, method: str = "cosine",
              progress: bool = True, grid=GRID, rounds: int = ROUNDS, max_tokens: int = MAX_TOKENS,
              act_grid=ACT_GRID, group_sweeps: int = GROUP_SWEEPS, cache: dict | None = None):
    """Searched scales for every quantized layer; same return shapes as `calibrate.calibrate_minmax`:
    (weight_scales {"<layer>.weight_scale": tensor}, act_scales {layer: (input_scale, output_scale)}).

    `clips`: Clip objects or float32 16 kHz arrays (the user's recordings; no transcripts used).
    `cache`: optional dict reused across calls on the same clips (holds the fp32 transcripts and cached layer
    inputs), so several budgets cost one calibration pass ("hessian" still needs one gradient pass per call).
    """
    from .adapters import adapter_for
    from tqdm.auto import tqdm

    if method not in METHODS:
        raise ValueError(f"unknown search method {method!r} (choose from {', '.join(METHODS)})")
    audios = [getattr(c, "audio", c) for c in clips]
    adapter = adapter_for(loaded.arch, loaded.processor)
    model = loaded.model
    weight_scales, act_scales = calibrate_minmax(model, layers, formats, stats)
    todo = [l for l in layers if searchable(model, l, formats[l.name])]
    cache = {} if cache is None else cache
    with torch.no_grad():
        if "decoder_ids" not in cache:
            cache["decoder_ids"] = transcripts(model, adapter, audios)
        have = cache.setdefault("inputs", {})
        missing = [l for l in todo if l.name not in have]
        if missing or (method == "hessian" and "fp_logits" not in cache):
            logits = [] if method == "hessian" and "fp_logits" not in cache else None
            have.update(capture_inputs(model, adapter, missing, audios, cache["decoder_ids"], max_tokens,
                                       progress, logits))
            if logits is not None:
                cache["fp_logits"] = logits
    inputs = {l.name: have[l.name] for l in todo}
    if method == "hessian":
        inputs = {k: LayerInputs(v.rows, v.picks) for k, v in inputs.items()}   # fresh gradient lists
        capture_gradients(loaded, adapter, layers, formats, stats, audios, cache["decoder_ids"],
                          cache["fp_logits"], inputs, progress)
    with torch.no_grad():
        for layer in tqdm(todo, desc=f"{method} search", disable=not progress):
            fmt = formats[layer.name]
            ws, act = search_layer(model, layer, fmt, inputs[layer.name], act_scales.get(layer.name), method,
                                   grid, act_grid, rounds, group_sweeps)
            weight_scales[f"{layer.name}.weight_scale"] = ws
            if act is not None:
                act_scales[layer.name] = act
    return weight_scales, act_scales
