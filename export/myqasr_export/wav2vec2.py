"""Wav2Vec2-CTC -> `.pte` with one method, dynamic length:

  forward(waveform float32 [1, N]) -> logits float32 [1, T, V],   N = hop * k, 0.5 s <= N / 16000 <= 30 s

hop = the product of the conv strides (320 for every released wav2vec2). The waveform is raw 16 kHz audio
zero-padded to a multiple of hop (the runner pads; the vocabulary file records hop and the minimum frames); when the model's feature extractor normalizes
(`do_normalize`), the zero-mean / unit-variance step is part of the graph. Export prep (notes §2): weight_norm
parametrization removed from the positional conv, Dropout -> Identity, eager attention.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from myqasr.constants import SAMPLE_RATE, WHISPER_N_SAMPLES
from myqasr.errors import MyqasrError
from myqasr.scheme import Scheme

from .lower import apply_scheme, lower

MIN_SAMPLES, MAX_SAMPLES = SAMPLE_RATE // 2, WHISPER_N_SAMPLES       # 0.5 s to 30 s


def hop_of(model) -> int:
    hop = 1
    for s in model.config.conv_stride:
        hop *= int(s)
    return hop


def frame_range(model) -> tuple[int, int]:
    hop = hop_of(model)
    return -(-MIN_SAMPLES // hop), MAX_SAMPLES // hop


class CtcWrapper(nn.Module):
    def __init__(self, model: nn.Module, normalize: bool):
        super().__init__()
        self.model, self.normalize = model, normalize

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        x = waveform
        if self.normalize:
            mean = x.mean(dim=-1, keepdim=True)
            var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
            x = (x - mean) / torch.sqrt(var + 1e-7)
        return self.model(x).logits


def _plain_conv1d(conv: nn.Conv1d) -> nn.Conv1d:
    """A plain Conv1d holding a parametrized conv's current weight (weight_norm folded in)."""
    new = nn.Conv1d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                    conv.groups, conv.bias is not None, conv.padding_mode)
    new.weight = nn.Parameter(conv.weight.detach().clone(), requires_grad=False)
    if conv.bias is not None:
        new.bias = nn.Parameter(conv.bias.detach().clone(), requires_grad=False)
    return new


def prepare_for_export(model: nn.Module) -> nn.Module:
    """A copy ready for export. Parametrized convs are rebuilt as plain Conv1d: `remove_parametrizations` on a
    deep copy would delete the `weight` property from the class it shares with the original model."""
    from torch.nn.utils import parametrize

    m = copy.deepcopy(model).eval()
    for name, module in list(m.named_modules()):
        for child_name, child in list(module.named_children()):
            if parametrize.is_parametrized(child):
                if not isinstance(child, nn.Conv1d):
                    raise MyqasrError(f"{name}.{child_name}: parametrized {type(child).__name__} is not supported")
                setattr(module, child_name, _plain_conv1d(child))
    for name, module in list(m.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.Dropout):
                setattr(module, child_name, nn.Identity())
    if hasattr(m, "set_attn_implementation"):
        try:
            m.set_attn_implementation("eager")
        except Exception:   # noqa: BLE001
            pass
    m.config._attn_implementation = "eager"
    return m


def normalizes(processor) -> bool:
    fe = getattr(processor, "feature_extractor", processor)
    return bool(getattr(fe, "do_normalize", False))


def export_wav2vec2(model: nn.Module, scheme: Scheme, *, normalize: bool = True):
    """fp32 HF Wav2Vec2ForCTC + scheme -> (ExecutorchProgramManager, GateReport)."""
    from torch.export import Dim

    qmodel = apply_scheme(prepare_for_export(model), scheme, inplace=True)
    wrapper = CtcWrapper(qmodel, normalize).eval()
    hop, (lo, hi) = hop_of(model), frame_range(model)
    frames = Dim("_frames", min=lo, max=hi)
    with torch.no_grad():
        ep = torch.export.export(wrapper, (torch.zeros(1, hop * (lo * 2)),), dynamic_shapes={"waveform": {1: hop * frames}},
                                 strict=True)
    return lower({"forward": ep})


def reference_logits(sim_model: nn.Module, waveform: torch.Tensor, normalize: bool) -> torch.Tensor:
    """What the `.pte` computes, in eager PyTorch (the same normalization on the same padded input)."""
    with torch.no_grad():
        return CtcWrapper(sim_model, normalize).eval()(waveform)
