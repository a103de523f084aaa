"""Simulated quantization: a copy of the model that computes what the backend format computes.

Each quantized layer is replaced by a module holding its fake-quantized (integer-grid) weight and applying the
format's activation quantization, so the simulated model's transcripts predict the .pte's.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .errors import MyqasrError
from .formats import Format
from .layers import set_module
from .quant import fake_quant_dynamic_per_token, fake_quant_static, fake_quant_weight
from .scheme import LayerPlan, Scheme


class SimLinear(nn.Module):
    """Linear with fake-quantized weights and dynamic per-token (or static) int8 input activations."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, fmt: Format, plan: LayerPlan | None = None):
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)
        self.fmt = fmt
        self.input_scale = plan.input_scale if plan else None
        self.output_scale = plan.output_scale if plan else None

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fmt.activation == "dynamic_int8":
            x = fake_quant_dynamic_per_token(x)
        elif self.fmt.activation == "static_int8":
            x = fake_quant_static(x, self.input_scale)
        y = F.linear(x, self.weight, self.bias)
        if self.fmt.activation == "static_int8" and self.output_scale:
            y = fake_quant_static(y, self.output_scale)
        return y


class SimConv1d(nn.Module):
    """Conv1d with fake-quantized weights and static int8 input and output activations."""

    def __init__(self, conv: nn.Conv1d, weight: torch.Tensor, plan: LayerPlan):
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().clone(), requires_grad=False)
        self.stride, self.padding, self.dilation, self.groups = conv.stride, conv.padding, conv.dilation, conv.groups
        self.fmt = plan.format
        self.input_scale, self.output_scale = plan.input_scale, plan.output_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fmt.activation == "static_int8":
            x = fake_quant_static(x, self.input_scale)
        y = F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        if self.fmt.activation == "static_int8":
            y = fake_quant_static(y, self.output_scale)
        return y


def simulate(model: nn.Module, scheme: Scheme, inplace: bool = False) -> nn.Module:
    """Return a copy of `model` in which every layer of `scheme` computes in its format."""
    sim = model if inplace else copy.deepcopy(model)
    for plan in scheme.layers:
        fmt = plan.format
        if not fmt.quantized:
            continue
        module = sim.get_submodule(plan.name)
        scale = scheme.weight_scales[plan.weight_scale_key]
        wq = fake_quant_weight(module.weight.detach().float(), fmt, scale)
        if plan.layer.kind == "linear":
            set_module(sim, plan.name, SimLinear(wq, module.bias, fmt, plan))
        elif plan.layer.kind == "conv1d":
            set_module(sim, plan.name, SimConv1d(module, wq, plan))
        elif plan.layer.kind == "embedding":
            # The lookup returns the quantized rows. A new Parameter unties it from a tied projection (Whisper's
            # proj_out), which is a layer of its own.
            module.weight = nn.Parameter(wq, requires_grad=False)
        else:
            raise MyqasrError(f"scheme: layer {plan.name}: unknown layer kind {plan.layer.kind!r}")
    return sim
