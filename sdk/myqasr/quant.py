"""Quantizer arithmetic shared by calibration, simulation and export.

Weights: symmetric, restricted range [-qmax, qmax] (int8: +-127, int4: +-7), one fp32 scale per output
channel ("per_channel") or per group of `group_size` consecutive input weights ("per_group").
Activations: dynamic int8 per token, asymmetric (what XNNPACK's qd8 kernels compute at run time), or static
int8 per tensor, symmetric, with a scale fixed at calibration time.
"""
from __future__ import annotations

import torch

from .errors import MyqasrError
from .formats import Format

EPS = 1e-12


def grouped(w: torch.Tensor, fmt: Format) -> torch.Tensor:
    """View `w` as [out, n_groups, group] (per_group) or [out, 1, rest] (per_channel)."""
    out = w.shape[0]
    flat = w.reshape(out, -1)
    if fmt.granularity == "per_group":
        if flat.shape[1] % fmt.group_size:
            raise MyqasrError(f"format {fmt.name}: group size {fmt.group_size} does not divide {flat.shape[1]}")
        return flat.reshape(out, -1, fmt.group_size)
    return flat.reshape(out, 1, -1)


def minmax_weight_scale(w: torch.Tensor, fmt: Format) -> torch.Tensor:
    """Symmetric min-max scale: max|w| / qmax per channel ([out]) or per group ([out, n_groups])."""
    amax = grouped(w.detach().float(), fmt).abs().amax(dim=-1)
    scale = (amax / fmt.qmax).clamp_min(EPS)
    return scale.squeeze(1) if fmt.granularity != "per_group" else scale


def _expand(scale: torch.Tensor, fmt: Format) -> torch.Tensor:
    return scale.reshape(scale.shape[0], -1, 1)


def quantize_weight(w: torch.Tensor, fmt: Format, scale: torch.Tensor) -> torch.Tensor:
    """Integer weight values (int8 tensor, shape of w) for a scale from `minmax_weight_scale` or a search."""
    g = grouped(w.detach().float(), fmt)
    q = torch.clamp(torch.round(g / _expand(scale, fmt)), -fmt.qmax, fmt.qmax)
    return q.to(torch.int8).reshape(w.shape)


def dequantize_weight(q: torch.Tensor, fmt: Format, scale: torch.Tensor) -> torch.Tensor:
    g = grouped(q.float(), fmt)
    return (g * _expand(scale, fmt)).reshape(q.shape)


def fake_quant_weight(w: torch.Tensor, fmt: Format, scale: torch.Tensor) -> torch.Tensor:
    """What the backend computes with: w rounded onto the integer grid, back in float."""
    if not fmt.quantized:
        return w
    return dequantize_weight(quantize_weight(w, fmt, scale), fmt, scale).to(w.dtype)


def fake_quant_dynamic_per_token(x: torch.Tensor) -> torch.Tensor:
    """Dynamic int8 asymmetric quantization per token (last dim), zero always representable."""
    lo = x.amin(dim=-1, keepdim=True).clamp(max=0)
    hi = x.amax(dim=-1, keepdim=True).clamp(min=0)
    scale = ((hi - lo) / 255.0).clamp_min(torch.finfo(torch.float32).eps)
    zp = torch.clamp(torch.round(-128 - lo / scale), -128, 127)
    q = torch.clamp(torch.round(x / scale) + zp, -128, 127)
    return (q - zp) * scale


def static_act_scale(absmax: float) -> float:
    """Symmetric per-tensor int8 scale for an activation whose calibrated |max| is `absmax`."""
    return max(float(absmax), EPS) / 127.0


def fake_quant_static(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Static symmetric int8 per-tensor quantization with a fixed scale."""
    return torch.clamp(torch.round(x / scale), -128, 127) * scale


def storable_scale(scale: torch.Tensor, fmt: Format) -> torch.Tensor:
    """The scale as the kernels store it: XNNPACK keeps 4-bit weight scales in bf16 (8-bit ones in fp32), so a
    4-bit scale is rounded to bf16 here and the simulation computes with the very same value."""
    if fmt.quantized and fmt.bits <= 4:
        return scale.to(torch.bfloat16).float()
    return scale.float()
