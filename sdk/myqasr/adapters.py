"""Model adapters: one small class per architecture.

An adapter knows three things about its architecture: which layers are quantizable (`layers`), how to run the
label-free forward pass whose activations feed the statistics (`stats_forward`, with `trim` dropping padding),
and how to transcribe (`transcribe`).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .constants import (SAMPLE_RATE, WHISPER_ENCODER_FRAMES, WHISPER_HOP, WHISPER_MAX_NEW_TOKENS, WHISPER_N_FRAMES,
                        WHISPER_N_SAMPLES)
from .errors import MyqasrError
from .layers import Layer


def _kind(module: nn.Module) -> str | None:
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, nn.Conv1d):
        return "conv1d"
    if isinstance(module, nn.Embedding):
        return "embedding"
    return None


def list_layers(model: nn.Module, skip: tuple[str, ...] = ()) -> list[Layer]:
    """Every Linear / Conv1d / Embedding of `model`; a module whose weight is the same tensor as an earlier
    one's is a layer of its own with `tied_to` naming the earlier one."""
    layers: dict[str, Layer] = {}
    by_weight: dict[int, str] = {}
    for name, module in model.named_modules():
        kind = _kind(module)
        if kind is None or name in skip:
            continue
        w = module.weight
        tied_to = by_weight.get(id(w))
        by_weight.setdefault(id(w), name)
        layers[name] = Layer(name, kind, tuple(w.shape), getattr(module, "bias", None) is not None, tied_to=tied_to)
    return list(layers.values())


def rest_params(model: nn.Module, layers: list[Layer]) -> int:
    """Parameters (and persistent buffers of weights) outside the quantizable layers' weights and biases."""
    seen, total = set(), 0
    covered = set()
    for layer in layers:
        m = model.get_submodule(layer.name)
        covered.add(id(m.weight))
        if getattr(m, "bias", None) is not None:
            covered.add(id(m.bias))
    for p in model.parameters():
        if id(p) in seen or id(p) in covered:
            continue
        seen.add(id(p))
        total += p.numel()
    return total


class WhisperAdapter:
    """Whisper (WhisperForConditionalGeneration): encoder on the 30 s log-mel window, decoder fed the
    full-precision model's own greedy transcript (no labels)."""
    arch = "whisper"

    def __init__(self, processor, max_new_tokens: int = WHISPER_MAX_NEW_TOKENS):
        self.processor = processor
        self.max_new_tokens = max_new_tokens

    def layers(self, model) -> list[Layer]:
        """Linears (proj_out included: tied to the token embedding), the two convs and the token embedding. The
        positional tables are not layers (they are added, not multiplied) and stay fp32."""
        skip = tuple(n for n, _ in model.named_modules() if n.endswith("embed_positions"))
        return list_layers(model, skip=skip)

    def features(self, audios: list[np.ndarray]) -> torch.Tensor:
        return self.processor.feature_extractor(audios, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features

    @torch.inference_mode()
    def generate_ids(self, model, audios: list[np.ndarray]) -> torch.Tensor:
        """Greedy token ids including the decoder prompt (<|startoftranscript|><|notimestamps|>)."""
        feats = self.features(audios)
        out = model.generate(feats, num_beams=1, do_sample=False, max_new_tokens=self.max_new_tokens,
                             return_dict_in_generate=True)
        return out.sequences

    @torch.inference_mode()
    def generate_longform(self, model, audio: np.ndarray, progress: bool = True) -> torch.Tensor:
        """transformers' own long-form generation (sequential 30 s windows with timestamps, greedy) on one recording
        longer than the window: the reference that `myqasr.longform` follows."""
        from tqdm.auto import tqdm

        fe = self.processor.feature_extractor(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt", truncation=False,
                                              padding="longest", return_attention_mask=True)
        with tqdm(total=round(len(audio) / SAMPLE_RATE, 1), unit="s", desc="long-form (transformers)",
                  disable=not progress, bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s audio [{elapsed}]") as bar:
            def monitor(p):   # [batch, (seek, max_frames)] in log-mel frames
                bar.update(round(float(p[0, 0]) * WHISPER_HOP / SAMPLE_RATE, 1) - bar.n)

            out = model.generate(fe.input_features, attention_mask=fe.attention_mask, return_timestamps=True,
                                 num_beams=1, do_sample=False, monitor_progress=monitor)
            bar.update(bar.total - bar.n)
            return out

    def transcribe(self, model, audios: list[np.ndarray], batch_size: int = 8, progress: bool = False) -> list[str]:
        """Greedy transcripts; a recording longer than the 30 s window goes through `generate_longform`."""
        texts: list[str | None] = [None] * len(audios)
        short = [i for i, a in enumerate(audios) if len(a) <= WHISPER_N_SAMPLES]
        for k in range(0, len(short), batch_size):
            idx = short[k:k + batch_size]
            seqs = self.generate_ids(model, [audios[i] for i in idx])
            for i, t in zip(idx, self.processor.batch_decode(seqs, skip_special_tokens=True)):
                texts[i] = t.strip()
        for i, a in enumerate(audios):
            if texts[i] is None:
                seqs = self.generate_longform(model, a, progress)
                texts[i] = self.processor.batch_decode(seqs, skip_special_tokens=True)[0].strip()
        return texts

    def stats_context(self, audio: np.ndarray) -> dict:
        mel = min(WHISPER_N_FRAMES, len(audio) // WHISPER_HOP + 1)
        return {"mel": mel, "enc": min(WHISPER_ENCODER_FRAMES, math.ceil(mel / 2))}

    @torch.inference_mode()
    def stats_forward(self, model, audio: np.ndarray, decoder_ids: torch.Tensor) -> None:
        """One teacher-forced forward pass on the model's own transcript (ids from `generate_ids`)."""
        model(input_features=self.features([audio]), decoder_input_ids=decoder_ids.reshape(1, -1))

    def own_loss(self, model, audio: np.ndarray, decoder_ids: torch.Tensor) -> tuple[torch.Tensor, int]:
        """(-log p(own transcript) summed over its tokens, number of tokens), with a graph from the input features:
        the label-free loss whose gradients weight the cost pass. The forced <|notimestamps|> is not a prediction."""
        ids = decoder_ids.reshape(-1)
        feats = self.features([audio]).requires_grad_(True)
        logits = model(input_features=feats, decoder_input_ids=ids[:-1].reshape(1, -1)).logits[0]
        return F.cross_entropy(logits[1:].float(), ids[2:], reduction="sum"), max(len(ids) - 2, 0)

    @staticmethod
    def padding_axis(name: str, is_input: bool) -> tuple[int, str]:
        """(axis, length) of a layer's input or output that padding can fill: the log-mel frames ("mel") of the
        convs, the encoder positions ("enc") of the encoder and of the cross-attention K/V projections, the decoder
        positions ("tokens") of every other decoder layer (no padding on the host: one clip's transcript per pass;
        the phone's statistics program pads the transcript to a fixed length, `myqasr_export.statsprogram`)."""
        if name.endswith("encoder.conv1"):
            return -1, "mel"
        if name.endswith("encoder.conv2"):
            return -1, "mel" if is_input else "enc"
        if ".encoder." in f".{name}" or "encoder_attn.k_proj" in name or "encoder_attn.v_proj" in name:
            return 1, "enc"
        return 1, "tokens"

    def trim(self, name: str, t: torch.Tensor, ctx: dict, is_input: bool) -> torch.Tensor:
        """Drop the zero-padded part of the 30 s window (the clip only fills `ctx` frames of it)."""
        axis, key = self.padding_axis(name, is_input)
        if key not in ctx:
            return t
        return t[..., :ctx[key]] if axis == -1 else t[:, :ctx[key]]


class Wav2Vec2Adapter:
    """Wav2Vec2ForCTC: raw waveform in, greedy CTC out. One clip per forward pass, so nothing is padded."""
    arch = "wav2vec2"

    def __init__(self, processor):
        self.processor = processor

    def layers(self, model) -> list[Layer]:
        return list_layers(model)

    def inputs(self, audio: np.ndarray) -> torch.Tensor:
        return self.processor(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_values

    @torch.inference_mode()
    def logits(self, model, audio: np.ndarray) -> torch.Tensor:
        """[T, V] logits of a recording of any length, in `ctc_windows` (attention memory grows with T^2)."""
        from .longform import ctc_keep, ctc_windows

        hop = int(np.prod(model.config.conv_stride))
        windows = ctc_windows(len(audio), hop)
        kept = []
        for i, win in enumerate(windows):
            logits = model(self.inputs(audio[win[0]:win[1]])).logits[0]
            a, b = ctc_keep(win, int(logits.shape[0]), hop, last=i == len(windows) - 1)
            kept.append(logits[a:b])
        return torch.cat(kept)

    def transcribe(self, model, audios: list[np.ndarray], batch_size: int = 1, progress: bool = False) -> list[str]:
        texts = []
        for audio in audios:
            ids = self.logits(model, audio).argmax(-1)
            texts.append(self.processor.batch_decode(ids[None])[0].strip())
        return texts

    def stats_context(self, audio: np.ndarray) -> dict:
        return {}

    @torch.inference_mode()
    def stats_forward(self, model, audio: np.ndarray, decoder_ids=None) -> None:
        model(self.inputs(audio))

    def own_loss(self, model, audio: np.ndarray, decoder_ids=None) -> tuple[torch.Tensor, int]:
        """(-log p(own frame-wise argmax) summed over frames, number of frames): the label-free CTC loss."""
        logits = model(self.inputs(audio).requires_grad_(True)).logits[0].float()
        return F.cross_entropy(logits, logits.argmax(-1).detach(), reduction="sum"), logits.shape[0]

    def trim(self, name, t, ctx, is_input):
        return t


def adapter_for(arch: str, processor):
    if arch == "whisper":
        return WhisperAdapter(processor)
    if arch == "wav2vec2":
        return Wav2Vec2Adapter(processor)
    raise MyqasrError(f"model: no adapter for architecture {arch!r} (supported: whisper, wav2vec2)")


def strip_padding(seq: torch.Tensor, pad_id) -> torch.Tensor:
    """Drop trailing padding that batched generation adds after a sequence's end token (keep one end token)."""
    if pad_id is None:
        return seq
    ids = seq.tolist()
    while len(ids) > 2 and ids[-1] == pad_id and ids[-2] == pad_id:
        ids.pop()
    return torch.tensor(ids)


def own_transcripts(model, adapter, audios: list, batch_size: int = 4, progress: bool = False,
                    after_batch=None) -> list:
    """The full-precision model's own greedy token ids per clip (Whisper, prompt included, padding dropped): the
    label-free decoder input of the statistics and calibration passes. None per clip for CTC models."""
    from tqdm.auto import tqdm

    if not hasattr(adapter, "generate_ids"):
        return [None] * len(audios)
    pad = getattr(model.generation_config, "pad_token_id", None)
    ids = []
    for i in tqdm(range(0, len(audios), batch_size), desc="transcribing (full precision)", disable=not progress):
        ids += [strip_padding(s, pad) for s in adapter.generate_ids(model, audios[i:i + batch_size])]
        if after_batch:
            after_batch()
    return ids
