"""Hand-built schemes for tests and size calibration: every layer of a kind in one format, min-max scales.

Not a planner: no sensitivity, no budget. Layers are listed the way the SDK lists them (every nn.Linear, the tied
output projection included, every Conv1d, the token embedding).
"""
from __future__ import annotations

import torch
from torch import nn

from myqasr.formats import FP32, Format, int_format
from myqasr.layers import Layer
from myqasr.quant import minmax_weight_scale, static_act_scale
from myqasr.scheme import LayerPlan, Scheme


def list_layers(model: nn.Module, arch: str) -> list[Layer]:
    """The SDK's layer list (myqasr.adapters): Whisper skips the positional tables; proj_out is tied_to the embedding."""
    from myqasr.adapters import adapter_for

    return adapter_for(arch, None).layers(model)


def rest_params(model: nn.Module, layers: list[Layer]) -> int:
    from myqasr.adapters import rest_params as _rest

    return _rest(model, layers)


@torch.no_grad()
def conv_act_scales(model: nn.Module, inputs: list, names: list[str]) -> dict[str, tuple[float, float]]:
    """Static (input, output) scales of the named convs from forward passes of the fp32 model over `inputs`."""
    amax = {n: [0.0, 0.0] for n in names}
    hooks = []
    for n in names:
        def hook(mod, args, out, n=n):
            amax[n][0] = max(amax[n][0], float(args[0].abs().max()))
            amax[n][1] = max(amax[n][1], float(out.abs().max()))
        hooks.append(model.get_submodule(n).register_forward_hook(hook))
    try:
        for x in inputs:
            model(**x) if isinstance(x, dict) else model(x)
    finally:
        for h in hooks:
            h.remove()
    return {n: (static_act_scale(a), static_act_scale(b)) for n, (a, b) in amax.items()}


def uniform_scheme(model: nn.Module, arch: str, formats: dict[str, Format], calib_inputs: list | None = None,
                   overrides: dict[str, Format] | None = None, model_id: str = "test", weights_sha256: str = "0" * 64,
                   ) -> Scheme:
    """One format per kind (`formats` = {"linear": fmt, "conv1d": fmt, "embedding": fmt}), per-layer overrides."""
    layers = list_layers(model, arch)
    overrides = overrides or {}
    plans, scales = [], {}
    static = [l.name for l in layers if (overrides.get(l.name) or formats.get(l.kind, FP32)).activation == "static_int8"]
    act = conv_act_scales(model, calib_inputs or [], static) if static else {}
    for layer in layers:
        fmt = overrides.get(layer.name) or formats.get(layer.kind, FP32)
        plan = LayerPlan(layer, fmt)
        if fmt.quantized:
            w = model.get_submodule(layer.name).weight.detach().float()
            scales[plan.weight_scale_key] = minmax_weight_scale(w, fmt)
        if layer.name in act:
            plan.input_scale, plan.output_scale = act[layer.name]
        plans.append(plan)
    return Scheme(model_id=model_id, arch=arch, weights_sha256=weights_sha256, backend="xnnpack", layers=plans,
                  weight_scales=scales, predicted_bytes=0, rest_params=rest_params(model, layers))


def ladder_formats(level: str, group_size: int = 32) -> dict[str, Format]:
    """"fp32" | "int8" | "int4": the xnnpack ladder at one rung for every kind (convs stay int8 at int4)."""
    if level == "fp32":
        return {"linear": FP32, "conv1d": FP32, "embedding": FP32}
    if level == "int8":
        return {"linear": int_format(8, "linear"), "conv1d": int_format(8, "conv1d"),
                "embedding": int_format(8, "embedding")}
    if level == "int4":
        return {"linear": int_format(4, "linear", group_size), "conv1d": int_format(8, "conv1d"),
                "embedding": int_format(4, "embedding", group_size)}
    raise ValueError(level)
