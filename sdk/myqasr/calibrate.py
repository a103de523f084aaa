"""Calibration: the weight and activation scales of every quantized layer.

"minmax": symmetric min-max weight scales per channel / group; static activation scales from the streamed
|max| of the layer's input and output. Stronger strategies (cosine, hessian) search around these.
"""
from __future__ import annotations

import torch

from .formats import Format
from .layers import Layer
from .quant import minmax_weight_scale, static_act_scale
from .stats import Statistics

def weight_of(model, layer: Layer) -> torch.Tensor:
    return model.get_submodule(layer.name).weight.detach().float()


def calibrate_minmax(model, layers: list[Layer], formats: dict[str, Format], stats: Statistics):
    """Returns (weight_scales {"<layer>.weight_scale": tensor}, act_scales {layer: (input_scale, output_scale)})."""
    weight_scales, act_scales = {}, {}
    for layer in layers:
        fmt = formats[layer.name]
        if not fmt.quantized:
            continue
        weight_scales[f"{layer.name}.weight_scale"] = minmax_weight_scale(weight_of(model, layer), fmt)
        if fmt.activation == "static_int8":
            s = stats.layers[layer.name]
            act_scales[layer.name] = (static_act_scale(s["input_abs_max"]), static_act_scale(s["abs_max"]))
    return weight_scales, act_scales
