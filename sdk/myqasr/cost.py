"""Costs: what each format of each layer would cost *this user*, label-free, in one comparable unit.

The paper ranks layers by a statistic of their output (median |y|). That statistic separates layer *types*, not
speakers (rank correlation 0.996-0.999 between voices), and it says nothing about how much a layer's rounding
hurts, so it cannot trade a 9 MB token-table step against a handful of small linears. The allocator needs, for
every (layer, format), the loss of quality that format causes, on a scale shared by all layers.

The cost here is a second-order estimate of how far the model's output moves, on the user's own clips:

    cost(layer, format) = 1/T * sum over the user's clips, rows r and output channels o of  (g[r, o] * dy[r, o])^2

- `dy = y_format - y` is the change of the layer's output when that layer alone takes the format, computed as the
  simulated model computes it (fake-quantized weights with min-max scales, dynamic int8 tokens for linears, static
  int8 input for convs, quantized rows for the token lookup) from the layer's real input on the clip;
- `g = d(-log p(own transcript)) / dy` is the gradient of the full-precision model's loss on its *own* greedy
  transcript (teacher-forced; frame-wise argmax for CTC): no labels. `g^2` is the diagonal empirical Fisher of the
  output, so the sum is the usual Fisher estimate of the KL divergence the rounding causes (HAWQ / PTQ4ViT-style
  weighting, applied at the output so that errors of one row do not cancel across rows);
- `T` is the number of predicted tokens (frames for CTC): the unit is nats-squared per token, the same for every
  layer, so a 51,864-row head and a 384-row projection are priced on one scale.

One forward and one backward pass per clip, no parameter gradients (the input carries `requires_grad`). Memory is
that of one clip's autograd graph, flat in the number of clips. Full precision costs 0.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import MyqasrError
from .formats import Format
from .layers import Layer
from .quant import (fake_quant_dynamic_per_token, fake_quant_static, fake_quant_weight, minmax_weight_scale,
                    static_act_scale, storable_scale)

COST_VERSION = "1"


def priced_formats(layers: list[Layer], ladder: dict[str, list[Format]]) -> dict[str, list[Format]]:
    """The quantized formats each layer can take on `ladder` (what the cost pass prices)."""
    from .allocate import layer_ladder

    return {l.name: [f for f in layer_ladder(l, ladder) if f.quantized] for l in layers}


def quantized_weight(w: torch.Tensor, fmt: Format) -> torch.Tensor:
    """The weight as the simulated model holds it with min-max scales."""
    return fake_quant_weight(w, fmt, storable_scale(minmax_weight_scale(w, fmt), fmt))


def output_change(module, layer: Layer, fmt: Format, x: torch.Tensor, y: torch.Tensor, wq: torch.Tensor):
    """y_format - y for one layer, from its input `x` (token ids for an embedding) and fp32 output `y`."""
    if layer.kind == "embedding":
        return F.embedding(x, wq) - y
    if layer.kind == "linear":
        xq = fake_quant_dynamic_per_token(x) if fmt.activation == "dynamic_int8" else x
        return F.linear(xq, wq, module.bias) - y
    if layer.kind == "conv1d":
        xq = fake_quant_static(x, static_act_scale(float(x.abs().max()))) if fmt.activation == "static_int8" else x
        return F.conv1d(xq, wq, module.bias, module.stride, module.padding, module.dilation, module.groups) - y
    raise MyqasrError(f"cost: layer {layer.name}: unknown layer kind {layer.kind!r}")


def collect_costs(model, adapter, audios, decoder_ids, layers: list[Layer], formats: dict[str, list[Format]],
                  progress: bool = True) -> dict[str, dict[str, float]]:
    """{layer: {format name: cost}} on the user's clips (see the module docstring)."""
    from tqdm.auto import tqdm

    from .stats import release_freed_memory

    modules = {l.name: model.get_submodule(l.name) for l in layers}
    # one fake-quantized copy per weight and format (a tied table is rounded once for both of its uses)
    owner = {l.name: l.tied_to or l.name for l in layers}
    quantized: dict[tuple[str, str], torch.Tensor] = {}
    for l in layers:
        w = modules[l.name].weight.detach().float()
        for fmt in formats[l.name]:
            if (owner[l.name], fmt.name) not in quantized:
                quantized[(owner[l.name], fmt.name)] = quantized_weight(w, fmt)
    totals = {l.name: {f.name: 0.0 for f in formats[l.name]} for l in layers}
    tokens = 0

    def make_hook(layer: Layer):
        module = modules[layer.name]

        def on_grad(x, y, g):
            with torch.no_grad():
                for fmt in formats[layer.name]:
                    dy = output_change(module, layer, fmt, x, y, quantized[(owner[layer.name], fmt.name)])
                    totals[layer.name][fmt.name] += float(((g * dy) ** 2).sum(dtype=torch.float64))

        def hook(mod, inputs, output):
            x, y = inputs[0].detach(), output.detach()
            if not output.requires_grad:          # a lookup of integer ids: make its output a leaf of the graph
                output = y.clone().requires_grad_(True)
            output.register_hook(lambda g: on_grad(x, y, g.detach()))
            return output
        return hook

    for p in model.parameters():
        p.requires_grad_(False)
    handles = [modules[l.name].register_forward_hook(make_hook(l)) for l in layers if formats[l.name]]
    was_training = model.training
    model.eval()
    try:
        for i in tqdm(range(len(audios)), desc="cost pass", disable=not progress):
            audio, ids = audios[i], decoder_ids[i]       # one clip at a time (`audios` may read it from its file)
            with torch.enable_grad():
                loss, n = adapter.own_loss(model, audio, ids)
                loss.backward()
            tokens += n
            release_freed_memory()
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return {name: {f: v / max(tokens, 1) for f, v in per.items()} for name, per in totals.items()}
