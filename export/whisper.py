"""Whisper -> one `.pte` with three methods (the contract the Android app and the host runner rely on):

  preprocessor(pcm float32 [480000])                                   -> features float32 [1, 80, 3000]
  encoder(features float32 [1, 80, 3000])                              -> hidden float32 [1, 1500, d_model]
  text_decoder(input_ids int64 [1, 1], hidden [1, 1500, d_model], cache_position int64 [1]) -> logits [1, 1, V]

The decoder keeps a static KV cache (transformers' Seq2SeqLMDecoderExportableModuleWithStaticCache); feeding
position 0 starts a new clip. The preprocessor is Whisper's log-mel spectrogram in exportable ops: reflect pad, a
Conv1d whose fixed kernels are the Hann-windowed DFT basis, power, mel filterbank matmul, log10, max-8 clamp.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from myqasr.scheme import Scheme

from .lower import apply_scheme, lower

N_SAMPLES = 480_000          # 30 s at 16 kHz
N_FRAMES = 3000
PROMPT_IDS = (50257, 50362)  # <|startoftranscript|> <|notimestamps|> (English-only models)
EOS_ID = 50256
MAX_NEW_TOKENS = 128
METHODS = ("preprocessor", "encoder", "text_decoder")


class LogMel(nn.Module):
    """pcm [480000] -> Whisper log-mel features [1, n_mels, 3000] (WhisperFeatureExtractor, torch path)."""

    def __init__(self, mel_filters, n_fft: int = 400, hop_length: int = 160):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop_length
        n_bins = n_fft // 2 + 1
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(n_bins, dtype=torch.float64)
        window = 0.5 - 0.5 * torch.cos(2 * math.pi * n / n_fft)           # periodic Hann (torch.hann_window)
        ang = 2 * math.pi * k[:, None] * n[None, :] / n_fft
        basis = torch.cat([torch.cos(ang) * window, -torch.sin(ang) * window])  # [2 * n_bins, n_fft]
        self.n_bins = n_bins
        self.register_buffer("basis", basis.float().unsqueeze(1).contiguous())   # Conv1d weight [2B, 1, n_fft]
        mel = torch.as_tensor(mel_filters, dtype=torch.float32)                   # [n_bins, n_mels]
        self.register_buffer("mel", mel.T.contiguous())                           # [n_mels, n_bins]

    def forward(self, pcm: torch.Tensor) -> torch.Tensor:
        x = pcm.reshape(1, 1, -1)
        x = F.pad(x, (self.n_fft // 2, self.n_fft // 2), mode="reflect")
        spec = F.conv1d(x, self.basis, stride=self.hop)                             # [1, 2B, frames + 1]
        re, im = spec[:, : self.n_bins, :-1], spec[:, self.n_bins:, :-1]
        power = re * re + im * im                                                   # [1, B, frames]
        mel = torch.matmul(self.mel, power)                                         # [1, n_mels, frames]
        log_spec = torch.log10(torch.clamp(mel, min=1e-10))
        log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
        return (log_spec + 4.0) / 4.0


class EncoderWrapper(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.encoder = model.get_encoder()

    def forward(self, input_features: torch.Tensor) -> torch.Tensor:
        return self.encoder(input_features=input_features).last_hidden_state


def whisper_prompt(model) -> list[int]:
    """<|startoftranscript|> <|notimestamps|> of an English-only model (tiny.en: 50257, 50362)."""
    gc = getattr(model, "generation_config", None)
    sot = getattr(gc, "decoder_start_token_id", None) or model.config.decoder_start_token_id
    no_ts = getattr(gc, "no_timestamps_token_id", None)
    if sot is None or no_ts is None:
        return list(PROMPT_IDS)
    return [int(sot), int(no_ts)]


def mel_filters_for(model, feature_extractor=None):
    if feature_extractor is None:
        from transformers import WhisperFeatureExtractor
        feature_extractor = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins)
    return feature_extractor.mel_filters


def prepare_for_export(model: nn.Module) -> nn.Module:
    """A deep copy in eval mode with eager attention everywhere (SDPA leaves undelegated ops)."""
    m = copy.deepcopy(model).eval()
    if hasattr(m, "set_attn_implementation"):
        try:
            m.set_attn_implementation("eager")
        except Exception:   # noqa: BLE001  (older configs): fall back to the config attribute
            pass
    for cfg in (m.config, getattr(m.config, "encoder", None), getattr(m.config, "decoder", None)):
        if cfg is not None:
            cfg._attn_implementation = "eager"
    return m


def export_programs(qmodel: nn.Module, mel_filters, max_cache_len: int) -> dict:
    """torch.export every method of a (quantized) Whisper model: {method: ExportedProgram}."""
    from transformers.integrations.executorch import Seq2SeqLMDecoderExportableModuleWithStaticCache

    d_model = qmodel.config.d_model
    n_mels = qmodel.config.num_mel_bins
    qmodel.lm_head = qmodel.proj_out
    frames = 2 * qmodel.config.max_source_positions
    with torch.no_grad():
        pre = torch.export.export(LogMel(mel_filters).eval(), (torch.zeros(N_SAMPLES),), strict=True)
        enc = torch.export.export(EncoderWrapper(qmodel).eval(), (torch.zeros(1, n_mels, frames),), strict=True)
        dec_mod = Seq2SeqLMDecoderExportableModuleWithStaticCache(qmodel, max_static_cache_length=max_cache_len,
                                                                  batch_size=1).eval()
        dec = torch.export.export(
            dec_mod, (torch.tensor([[0]], dtype=torch.long),
                      torch.zeros(1, frames // 2, d_model), torch.tensor([0], dtype=torch.long)), strict=True)
    return {"preprocessor": pre, "encoder": enc, "text_decoder": dec}


def export_whisper(model: nn.Module, scheme: Scheme, *, feature_extractor=None,
                   max_new_tokens: int = MAX_NEW_TOKENS):
    """fp32 HF Whisper + scheme -> (ExecutorchProgramManager, GateReport)."""
    qmodel = apply_scheme(prepare_for_export(model), scheme, inplace=True)
    programs = export_programs(qmodel, mel_filters_for(model, feature_extractor),
                               max_cache_len=len(PROMPT_IDS) + max_new_tokens)
    return lower(programs)
