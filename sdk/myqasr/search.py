"""Calibration by search: weight scales (and static activation scales) chosen on the user's own clips.

Both strategies start from the min-max scales of `calibrate.calibrate_minmax` and multiply them by factors from
a grid (`GRID` for weights, `ACT_GRID` for static activation scales; both contain 1.0, so min-max is always a
candidate and a search never scores worse than min-max on its own objective). A candidate is scored on the
layer's output, computed as `simulate` computes it (per-channel / per-group weight rounding with `fake_quant`,
bit-exact with `quant.fake_quant_weight`; dynamic int8 per-token input for linears and the tied head; static
int8 per-tensor input and output for convs), against the full-precision output of the same inputs. Every
candidate scale is first rounded as the backend stores it (`quant.storable_scale`: bf16 for 4-bit formats), so
the search scores the scale the .pte will hold. The scheme's formats are kept: only scale values change.

  "cosine"   cosine similarity between the fp32 and the quantized output of each output channel, along the
             rows (tokens, frames): cos(y[:, o], y_hat[:, o]). The score of channel o depends only on weight
             row o, so the best multiplier of every channel is found at the cost of one layer-wide evaluation
             per grid point (exact per-channel argmax, no coordinate descent).
  "hessian"  PTQ4ViT's Hessian-guided score, label-free: -sum_r (g[r, o] * (y[r, o] - y_hat[r, o]))^2 with
             g = dKL(p_target || p_fp) / d(layer output), i.e. a diagonal empirical-Fisher weighting of the
             output error. At the fp32 point KL(p_fp || p_fp) has zero gradient, so the target is the fp32
             model's own output distribution of the *same clip* at temperature 0 (one-hot on its own greedy
             prediction; for Whisper, the next token of its own transcript): g is the gradient of
             -log p_fp(own prediction), averaged over output positions, taken in the same hooked pass that
             caches the inputs (with autograd). No labels, no quantized model: the gradients do not depend on the
             budget, so one pass and one search per (layer, format) serve every budget, as for "cosine".
             The raw score (PTQ4ViT's) overfits a few clips: most rows and most of the 51,864 logit channels get
             almost no gradient, so their scale is picked on noise (held-out output MSE far worse than min-max's:
             benchmarks/results/design_notes.md). The weights are therefore damped,
             g^2 + HESSIAN_DAMP * mean(g^2) (as GPTQ damps its Hessian): rows without gradient fall back to MSE.

Granularity. Weight multipliers are searched per output channel for every format: exact and as cheap as one
per-layer multiplier (see above). For per-group formats (int4, group 32) a second pass refines one multiplier
per group by coordinate descent over the group index (`group_sweeps`), trying the channel's multiplier +-0.05,
0.10, 0.15 (`GROUP_STEPS`) for group j of every channel at once, scored from output moments (no recomputation);
a sweep costs about as much as the channel pass, and it lowers the int4 layers' held-out output MSE further
(benchmarks/results/design_notes.md). Static activation scales are per tensor (what the
backend stores): one multiplier each for the input and the output, scored on the whole output (cosine of the
flattened tensors, so clipping a few large channels counts; a mean of per-channel cosines clipped conv1's
output: design_notes.md), alternating with the weight search for `rounds` rounds.

Inputs. Layer inputs come from one hooked full-precision pass, the same label-free pass as the statistics
(`adapter.stats_forward` on the fp32 model's greedy transcript, padding dropped with `adapter.trim`). Memory is
bounded by keeping at most `max_tokens` rows per layer: every clip contributes at most
ceil(max_tokens / n_clips) rows, drawn without replacement by a generator seeded from the clip's index and row
count (so layers that read the same tensor keep the same rows), and a layer never keeps more than
`MAX_ELEMENTS` values (a very wide conv patch keeps fewer rows). A row is one token for a linear and one output
frame for a conv (its receptive field unfolded to C_in * k values; static int8 quantization is elementwise, so
quantizing the unfolded patch is quantizing the input). For "hessian" the output gradients of the same rows
are kept. The fp32 output is recomputed from the cached input when needed, never stored. Outputs are
evaluated in blocks of `CHUNK` output channels (Whisper's 51,864-row output projection included).

Not searched (min-max kept): token embeddings (a lookup returns its own table rows; Whisper's tied output
projection is a linear layer of its own and is searched), and convs with dilation, non-zero padding modes or
string padding.
"""
from __future__ import annotations

import contextlib
import math
import zlib
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .adapters import own_transcripts
from .calibrate import calibrate_minmax, weight_of
from .config import Calibration
from .errors import MyqasrError
from .formats import FP32, Format
from .layers import Layer
from .quant import grouped, fake_quant_dynamic_per_token, fake_quant_static, minmax_weight_scale, storable_scale

METHODS = (Calibration.cosine, Calibration.hessian)
GRID = tuple(round(0.5 + 0.05 * i, 2) for i in range(15))        # weight scale multipliers 0.50 ... 1.20
ACT_GRID = tuple(round(0.3 + 0.1 * i, 2) for i in range(10))     # static activation multipliers 0.3 ... 1.2
ROUNDS = 2
MAX_TOKENS = 2048
MAX_ELEMENTS = 1 << 23                                          # and at most 8 M cached values (32 MB) per layer
GROUP_SWEEPS = 1
GROUP_STEPS = (-0.15, -0.1, -0.05, 0.05, 0.1, 0.15)                # group pass: around the channel's multiplier
CHUNK = 4096
HESSIAN_DAMP = 1.0


@dataclass(frozen=True)
class SearchSettings:
    """The knobs of a search (defaults above); also the memo key of a finished layer search."""
    method: Calibration = Calibration.cosine
    grid: tuple = GRID
    act_grid: tuple = ACT_GRID
    rounds: int = ROUNDS
    group_sweeps: int = GROUP_SWEEPS
    max_tokens: int = MAX_TOKENS


@dataclass
class LayerProblem:
    """One layer's search: cached fp32 input rows `x` [n, in], the weight `w` [out, in] (conv: flattened) and bias
    `b`, its format, the min-max scales `s0`, conv `groups`, and the damped output gradients `g` ("hessian")."""
    x: torch.Tensor
    w: torch.Tensor
    b: torch.Tensor | None
    fmt: Format
    s0: torch.Tensor
    groups: int = 1
    g: torch.Tensor | None = None


@dataclass
class Block:
    """A block of output channels during the weight search: its inputs (`xq` quantized), weights, min-max scales,
    the fp32 output `y`, gradients, and the current best multipliers `mult`, fake-quantized weights `wq` and
    pre-quantization output `pre` (updated in place)."""
    xq: torch.Tensor
    w: torch.Tensor
    s0: torch.Tensor
    mult: torch.Tensor
    y: torch.Tensor
    g: torch.Tensor | None
    wq: torch.Tensor | None = None
    pre: torch.Tensor | None = None


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


def searchable(model, layer: Layer, fmt: Format) -> bool:
    if not fmt.quantized:
        return False
    if layer.kind == "embedding":
        return False
    if layer.kind == "conv1d":
        conv = model.get_submodule(layer.name)
        return (isinstance(conv.padding, tuple) and conv.padding_mode == "zeros"
                and all(d == 1 for d in conv.dilation))
    return layer.kind == "linear"


def _act_mode(layer: Layer, fmt: Format) -> str:
    """How simulate quantizes this layer's input (the scheme's activation mode)."""
    return fmt.activation


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

def capture_inputs(model, adapter, layers: list[Layer], audios, decoder_ids, max_tokens: int = MAX_TOKENS,
                   progress: bool = True, with_grads: bool = False) -> dict[str, LayerInputs]:
    """One hooked fp32 pass per clip (adapter.stats_forward): each layer's input rows, subsampled.

    With `with_grads`, the same pass runs with autograd and also keeps, for the same rows, the gradient of
    KL(onehot(argmax p_fp) || p_fp) = -log p_fp(own prediction), i.e. the fp32 model's own output distribution
    sharpened to temperature 0 as the target, with respect to each layer's output."""
    from tqdm.auto import tqdm

    n_clips = max(len(audios), 1)
    cache = {l.name: LayerInputs() for l in layers}
    ctx, state, out = {}, {"clip": 0}, {}
    handles = []

    def make_hook(layer: Layer):
        entry = cache[layer.name]

        def keep_grad(g):
            rows = _as_rows(adapter.trim(layer.name, g.detach().float(), ctx, False), layer.kind)
            entry.grads.append(rows[entry.picks[state["clip"]]].clone())

        def hook(module, inputs, output):
            x = inputs[0].detach().float()
            if layer.kind == "conv1d":
                rows = _as_rows(adapter.trim(layer.name, _conv_rows(x, module), ctx, False), "conv1d")
            else:
                rows = _as_rows(adapter.trim(layer.name, x, ctx, True), layer.kind)
            quota = math.ceil(max(1, min(max_tokens, MAX_ELEMENTS // rows.shape[1])) / n_clips)
            idx = _pick(rows.shape[0], quota, state["clip"])
            entry.picks[state["clip"]] = idx
            entry.rows.append(rows[idx].clone())
            if with_grads:
                if not output.requires_grad:       # nothing upstream needs a gradient: the graph starts here
                    output.requires_grad_(True)
                output.register_hook(keep_grad)
        return hook

    forward = type(adapter).stats_forward
    if with_grads:       # the same pass, without the inference-mode decorator
        forward = getattr(forward, "__wrapped__", None)
        if forward is None:
            raise RuntimeError(f"{type(adapter).__name__}.stats_forward cannot run with gradients")
    frozen = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for layer in layers:
            handles.append(model.get_submodule(layer.name).register_forward_hook(make_hook(layer)))
        if with_grads:
            handles.append(model.register_forward_hook(lambda m, i, o: out.__setitem__("logits", o.logits)))
            for p, _ in frozen:
                p.requires_grad_(False)
        for i, (audio, ids) in enumerate(tqdm(list(zip(audios, decoder_ids)), desc="calibration pass",
                                              disable=not progress)):
            state["clip"] = i
            ctx.clear()
            ctx.update(adapter.stats_context(audio))
            with torch.enable_grad() if with_grads else contextlib.nullcontext():
                forward(adapter, model, audio, ids)
                if with_grads:
                    logits = out.pop("logits")[0].float()
                    F.cross_entropy(logits, logits.detach().argmax(-1)).backward()
    finally:
        for h in handles:
            h.remove()
        for p, flag in frozen:
            p.requires_grad_(flag)
    return cache


# --------------------------------------------------------------------------- the search on one layer

def fake_quant(w: torch.Tensor, fmt: Format, scale: torch.Tensor) -> torch.Tensor:
    """`quant.fake_quant_weight` for a float32 weight, fused: the same float operations (w / s, round, clamp to
    +-qmax, * s) without the int8 round trip, so the result is bit for bit the same (tested), in half the time."""
    if not fmt.quantized:
        return w
    s = scale.reshape(scale.shape[0], -1, 1)
    q = torch.div(grouped(w, fmt), s).round_().clamp_(-fmt.qmax, fmt.qmax)
    return q.mul_(s).reshape(w.shape)


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


def _total_score(y: torch.Tensor, y_hat: torch.Tensor, g: torch.Tensor | None, method: str) -> float:
    """One number for a whole layer output (activation scales are per tensor): cosine of the flattened outputs
    (channels weighted by their energy, so clipping a few large channels counts), or the summed Hessian score."""
    if method == "cosine":
        return float(F.cosine_similarity(y.reshape(1, -1), y_hat.reshape(1, -1), eps=1e-20))
    return float(_score(y, y_hat, g, method).sum())


def _blocks(out: int, groups: int):
    """Channel blocks [o0, o1) of at most CHUNK channels, never crossing a conv group, with their input group."""
    per = out // groups
    for g in range(groups):
        for o0 in range(g * per, (g + 1) * per, CHUNK):
            yield o0, min(o0 + CHUNK, (g + 1) * per), g


def _search_weights(p: LayerProblem, xq: torch.Tensor, mult: torch.Tensor, s_out: float | None,
                    st: SearchSettings) -> None:
    """Per channel (then per group) the best multiplier of p.s0, everything else fixed. Updates `mult` in place."""
    fmt, method = p.fmt, st.method
    width = p.x.shape[1] // p.groups                 # a grouped conv's output channel sees its group's inputs only
    out_q = (lambda t: fake_quant_static(t, s_out)) if s_out else (lambda t: t)
    for o0, o1, grp in _blocks(p.w.shape[0], p.groups):
        cols = slice(grp * width, (grp + 1) * width)
        wb = p.w[o0:o1]
        bb = None if p.b is None else p.b[o0:o1]
        blk = Block(xq[:, cols], wb, p.s0[o0:o1], mult[o0:o1], F.linear(p.x[:, cols], wb, bb),
                    None if p.g is None else p.g[:, o0:o1])

        def evaluate(m):                               # m: [c] or [c, G]
            scale = storable_scale(blk.s0 * (m if m.dim() == blk.s0.dim() else m.unsqueeze(-1)), fmt)
            wq = fake_quant(blk.w, fmt, scale)
            pre = F.linear(blk.xq, wq, bb)
            return wq, pre, _score(blk.y, out_q(pre), blk.g, method)

        # channel pass: one multiplier per channel (per-group formats: shared by the channel's groups)
        blk.wq, blk.pre, best = evaluate(blk.mult)
        for m in st.grid:
            wq, pre, sc = evaluate(torch.full((blk.mult.shape[0],), m))
            win = sc > best
            if win.any():
                blk.mult[win], best[win] = m, sc[win]
                blk.wq[win], blk.pre[:, win] = wq[win], pre[:, win]
        if fmt.granularity != "per_group" or st.group_sweeps <= 0:
            continue
        # group passes: coordinate descent over the group index, all channels at once
        for _ in range(st.group_sweeps):
            for j in range(blk.s0.shape[1]):
                _group_step(j, blk, fmt, out_q if s_out else None, st)


def _group_step(j: int, blk: Block, fmt: Format, out_q, st: SearchSettings) -> None:
    """Best multiplier of group j of every channel, the other groups fixed; updates mult, wq, pre in place.

    Candidates are scored from moments of the current output instead of recomputing it: with
    d = xq_j @ (wq_j' - wq_j).T, cosine needs <y, d>, <y_hat, d> and |d|^2 (from the [32 x 32] Gram of xq_j);
    the Hessian score needs <g^2 e, d> and |g d|^2. A static output quantizer (not separable) is evaluated
    directly."""
    w, s0, mult, xq, y, g, wq, pre = blk.w, blk.s0, blk.mult, blk.xq, blk.y, blk.g, blk.wq, blk.pre
    method, grid = st.method, st.grid
    gs = fmt.group_size
    c = slice(j * gs, (j + 1) * gs)
    x_j, w_j, s_j, old = xq[:, c], w[:, c], s0[:, j:j + 1], wq[:, c].clone()
    lo, hi = min(grid), max(grid)
    mults = [(mult[:, j] + step).clamp(lo, hi) for step in GROUP_STEPS]              # [c] each
    cands = [fake_quant(w_j, fmt, storable_scale(s_j * m.unsqueeze(1), fmt)) - old for m in mults]  # [c, gs]
    if out_q is not None:
        scores = [_score(y, out_q(pre + F.linear(x_j, d)), g, method) for d in cands]
        now = _score(y, out_q(pre), g, method)
    elif method == "cosine":
        a, bb, h = x_j.T @ y, x_j.T @ pre, x_j.T @ x_j                  # [gs, c], [gs, c], [gs, gs]
        num, nn, ny = (y * pre).sum(0), (pre * pre).sum(0), y.norm(dim=0)
        def cos(d):
            n2 = nn + 2 * (d * bb.T).sum(1) + ((d @ h) * d).sum(1)
            return (num + (d * a.T).sum(1)) / (ny * n2.clamp_min(0).sqrt()).clamp_min(1e-20)
        scores, now = [cos(d) for d in cands], num / (ny * nn.sqrt()).clamp_min(1e-20)
    else:
        g2e = g * g * (y - pre)
        base, cross = (g2e * (y - pre)).sum(0), x_j.T @ g2e                # [c], [gs, c]
        scores = [-(base - 2 * (d * cross.T).sum(1) + ((g * F.linear(x_j, d)) ** 2).sum(0)) for d in cands]
        now = -base
    best, pick = now, torch.full_like(now, -1, dtype=torch.long)
    for i, sc in enumerate(scores):
        win = sc > best
        best, pick = torch.where(win, sc, best), torch.where(win, i, pick)
    moved = pick >= 0
    if not moved.any():
        return
    delta = torch.stack(cands)[pick.clamp_min(0), torch.arange(len(pick))] * moved.unsqueeze(1)   # [c, gs]
    wq[:, c] += delta
    pre += F.linear(x_j, delta)
    mult[moved, j] = torch.stack(mults, 1)[moved, pick[moved]]


def _full_output(p: LayerProblem, xq: torch.Tensor, fmt: Format, scale) -> torch.Tensor:
    wq = fake_quant(p.w, fmt, scale)
    if p.groups == 1:
        return F.linear(xq, wq, p.b)
    width, per = xq.shape[1] // p.groups, p.w.shape[0] // p.groups
    return torch.cat([F.linear(xq[:, g * width:(g + 1) * width], wq[g * per:(g + 1) * per],
                               None if p.b is None else p.b[g * per:(g + 1) * per]) for g in range(p.groups)], 1)


def _search_act(p: LayerProblem, y: torch.Tensor, scale, s_in: float, s_out: float | None, which: str,
                st: SearchSettings) -> float:
    """Best multiplier of the static input (`which`="in") or output scale; returns the new scale."""
    total = lambda y_hat: _total_score(y, y_hat, p.g, st.method)      # noqa: E731
    candidates = (1.0,) + tuple(v for v in st.act_grid if v != 1.0)
    if which == "in":
        best_s, best = s_in, None
        for m in candidates:
            s = s_in * m
            pre = _full_output(p, fake_quant_static(p.x, s), p.fmt, scale)
            sc = total(fake_quant_static(pre, s_out) if s_out else pre)
            if best is None or sc > best:
                best, best_s = sc, s
        return best_s
    pre = _full_output(p, fake_quant_static(p.x, s_in), p.fmt, scale)
    best_s, best = s_out, None
    for m in candidates:
        s = s_out * m
        sc = total(fake_quant_static(pre, s))
        if best is None or sc > best:
            best, best_s = sc, s
    return best_s


def search_layer(model, layer: Layer, fmt: Format, inputs: LayerInputs, act: tuple | None,
                 st: SearchSettings = SearchSettings()):
    """The searched (weight_scale, (input_scale, output_scale) or None) of one layer."""
    module = model.get_submodule(layer.name)
    w4 = weight_of(model, layer)
    b = getattr(module, "bias", None)
    s0 = minmax_weight_scale(w4, fmt)
    mult = torch.ones_like(s0)
    x, g = inputs.x(), inputs.g()
    if x.numel() == 0:
        return storable_scale(s0, fmt), act
    if st.method == "hessian":
        if g is None:
            raise MyqasrError(f"{layer.name}: no gradients captured for the hessian search")
        g2 = g * g
        g = (g2 + HESSIAN_DAMP * g2.mean()).sqrt()       # damped: rows / channels without gradient fall back to MSE
    p = LayerProblem(x, w4.reshape(w4.shape[0], -1), None if b is None else b.detach().float(), fmt, s0,
                     module.groups if layer.kind == "conv1d" else 1, g)
    mode = _act_mode(layer, fmt)
    s_in, s_out = act if act else (None, None)
    static = mode == "static_int8"
    y_full = None
    for _ in range(max(1, st.rounds) if static else 1):
        xq = _quant_input(x, mode, s_in)
        _search_weights(p, xq, mult, s_out, st)
        if static:
            if y_full is None:
                y_full = _full_output(p, x, FP32, None)
            scale = storable_scale(s0 * mult, fmt)
            s_in = _search_act(p, y_full, scale, s_in, s_out, "in", st)
            if s_out:
                s_out = _search_act(p, y_full, scale, s_in, s_out, "out", st)
    return storable_scale(s0 * mult, fmt), ((s_in, s_out) if static else act)


# --------------------------------------------------------------------------- the entry point used by plan()

def calibrate(loaded, layers: list[Layer], formats: dict[str, Format], stats, clips, method: str = "cosine",
              progress: bool = True, cache: dict | None = None, **settings):
    """Searched scales for every quantized layer; same return shapes as `calibrate.calibrate_minmax`:
    (weight_scales {"<layer>.weight_scale": tensor}, act_scales {layer: (input_scale, output_scale)}).

    `clips`: Clip objects or float32 16 kHz arrays (the user's recordings; no transcripts used).
    `cache`: optional dict reused across calls on the same clips (the fp32 transcripts, cached layer inputs and
    gradients, finished searches per layer and format), so several budgets cost one calibration pass and one
    search per (layer, format, method).
    `settings`: fields of `SearchSettings` to change (grid, act_grid, rounds, group_sweeps, max_tokens).
    """
    from .adapters import adapter_for
    from tqdm.auto import tqdm

    method = Calibration.parse(method, "calibration")
    if method not in METHODS:
        raise MyqasrError(f"calibration: {method} is not a search method (choose from {', '.join(METHODS)})")
    st = SearchSettings(method=method, **settings)
    audios = [getattr(c, "audio", c) for c in clips]
    adapter = adapter_for(loaded.arch, loaded.processor)
    model = loaded.model
    weight_scales, act_scales = calibrate_minmax(model, layers, formats, stats)
    todo = [l for l in layers if searchable(model, l, formats[l.name])]
    cache = {} if cache is None else cache
    need_grads = method == "hessian"
    if "decoder_ids" not in cache:
        with torch.no_grad():
            cache["decoder_ids"] = own_transcripts(model, adapter, audios, batch_size=8)
    have = cache.setdefault("inputs", {})
    missing = [l for l in todo if l.name not in have or (need_grads and not have[l.name].grads)]
    if missing:
        have.update(capture_inputs(model, adapter, missing, audios, cache["decoder_ids"], st.max_tokens, progress,
                                   with_grads=need_grads))
    # a search depends only on the layer, its format and the clips: reuse it across budgets
    memo = cache.setdefault("searched", {})
    with torch.no_grad():
        for layer in tqdm(todo, desc=f"{method} search", disable=not progress):
            fmt = formats[layer.name]
            act = act_scales.get(layer.name)
            key = (st, layer.name, fmt, act)
            if key not in memo:
                memo[key] = search_layer(model, layer, fmt, have[layer.name], act, st)
            ws, act = memo[key]
            weight_scales[f"{layer.name}.weight_scale"] = ws.clone()
            if act is not None:
                act_scales[layer.name] = act
    return weight_scales, act_scales
