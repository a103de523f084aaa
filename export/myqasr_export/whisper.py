"""Whisper -> one `.pte` with three methods (the contract the Android app and the host runner rely on):

  preprocessor(pcm float32 [480000])            -> features float32 [1, 80, 3000]
  encoder(features float32 [1, 80, 3000])       -> cross K/V: k_0, v_0, k_1, v_1, ..., k_{L-1}, v_{L-1}
                                                   k_l float32 [H, 1500, D], v_l float32 [H, D, 1500] (transposed)
  text_decoder(input_ids int64 [1, 1], cache_position int64 [1], k_0, v_0, ..., k_{L-1}, v_{L-1})
                                                -> logits float32 [1, 1, V]

L decoder layers, H heads of D = d_model / H (tiny.en: L = 4, H = 6, D = 64, V = 51864). The encoder method runs
the audio encoder and then every decoder layer's cross-attention `k_proj` / `v_proj` once per clip; the decoder
only reads them (cross-attention = out_proj(softmax(q K^T / sqrt(D)) V) with q = q_proj(x), K = k_l, V^T = v_l),
so a step never touches the 1500 encoder frames' projections again. The decoder keeps its self-attention K/V in a
static cache of `max_cache_len` positions inside the program: a call writes the token's K/V at `cache_position` and
attends to positions 0..cache_position only, so positions must be fed in order 0, 1, 2, ... and feeding 0 starts a
new clip (whatever a previous clip left at later positions is masked out). The preprocessor is ExecuTorch's own
`WhisperAudioProcessor` (torch.stft, the slaney mel filterbank, log10, max-8 clamp), the front end ExecuTorch's
Whisper runners use: within 4.6e-5 of transformers' features, 4.4x faster than our DFT-as-Conv1d `LogMel` (31 vs 137 ms per window)
and a ninth of its program size, the same transcripts (benchmarks/results/longform.md). `LogMel` stays for a feature extractor
whose filterbank is not the standard one.

The asr-runner target (`--target asr-runner`) follows instead the contract of ExecuTorch's own seq2seq ASR runner
(extension/asr/runner/seq2seq_runner.cpp, Android `AsrModule`), in three files beside a `.ptd`:

  model.pte:  encoder(features [1, 80, 3000])   -> ONE tensor: the cross K/V packed [H, 2L, T * D] (`pack_cross_kv`)
              text_decoder(input_ids int64 [1, 1], packed cross K/V, cache_position int64 [1]) -> logits [1, 1, V]
                  Whisper's rules are inside: the prompt's next token forced (<|notimestamps|> at position 1),
                  suppressed tokens, begin-suppressed tokens at the first text position, <|endoftext|> forced at the
                  last cache position. A negative cache_position -(p + 1) means position p with raw logits (no
                  rules): the host's long-form and verification loops apply their own rules.
              sampler(logits) -> int64 [1] (argmax: the runner uses it at temperature 0)
              get_eos_ids() -> [<|endoftext|>]
  preprocessor.pte:  forward(pcm float32 [n <= 480000]) -> features [1, 80, 3000] (padded to the window)
  tokenizer.json:    the Hugging Face tokenizer (`myqasr.vocab_files.tokenizer_json`)

The decoder copies the packed K/V into its own buffers at position 0 only (index_put_ of H rows at position 0, of
0 rows after: reinplaced, so a step does not touch the packed tensor) and then reads them as the single-file program's
decoder reads its inputs.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from myqasr.constants import WHISPER_EN_PROMPT, WHISPER_MAX_NEW_TOKENS, WHISPER_N_SAMPLES
from myqasr.scheme import Scheme

from .lower import apply_scheme, lower

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


def _heads(attn) -> tuple[int, int]:
    return attn.num_heads, attn.head_dim


def attend(q: torch.Tensor, k: torch.Tensor, vt: torch.Tensor, visible: torch.Tensor | None = None) -> torch.Tensor:
    """One token's attention: q [1, 1, H * D] (already scaled), keys k [H, T, D], values stored transposed
    vt [H, D, T], optional mask `visible` [1, 1, T] -> [1, 1, H * D].

    With one token, [1, 1, H * D] is a view of [H, D, 1]: no transposes. The large operand is the left one of both
    bmm's because XNNPACK's batch matmul repacks its right operand at every call: keys and values are streamed
    instead of repacked (measured in benchmarks/results/perf_findings.md)."""
    h, t, d = k.shape
    scores = torch.bmm(k, q.view(h, d, 1)).view(h, 1, t)
    if visible is not None:
        scores = torch.where(visible, scores, float("-inf"))
    p = torch.softmax(scores, dim=-1).view(h, t, 1)
    return torch.bmm(vt, p).view(1, 1, h * d)


def cross_kv(model, hidden: torch.Tensor) -> list[torch.Tensor]:
    """Encoder hidden states [1, T, d] -> [k_0, v_0, ..., k_{L-1}, v_{L-1}] with each decoder layer's own
    encoder_attn.k_proj / v_proj (whatever modules the model holds: fp32, exportable quantized, simulated).
    k_l is [H, T, D]; v_l is stored transposed, [H, D, T] (the layouts `attend` reads)."""
    out = []
    t = hidden.shape[1]
    for layer in model.model.decoder.layers:
        attn = layer.encoder_attn
        h, d = _heads(attn)
        out.append(attn.k_proj(hidden).view(t, h, d).transpose(0, 1).contiguous())
        out.append(attn.v_proj(hidden).view(t, h, d).permute(1, 2, 0).contiguous())
    return out


class DelegatedLayerNorm(nn.Module):
    """nn.LayerNorm over the last dimension from ops XNNPACK runs (its partitioner has no layer norm, so the stock
    op stays in a portable kernel and splits every transformer layer into several delegate calls).

    The two means over channels are fp32 linears with a constant [1, C] weight of 1/C: XNNPACK's mean only averages
    the two inner dimensions of 4-D tensors, a fully-connected op takes any [..., C]."""

    def __init__(self, norm: nn.LayerNorm):
        super().__init__()
        (c,) = norm.normalized_shape
        self.eps = norm.eps
        self.weight, self.bias = norm.weight, norm.bias
        self.register_buffer("mean_w", torch.full((1, c), 1.0 / c), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centered = x - F.linear(x, self.mean_w)
        var = F.linear(centered * centered, self.mean_w)
        return centered * torch.rsqrt(var + self.eps) * self.weight + self.bias


def delegate_layer_norms(model: nn.Module) -> nn.Module:
    """Replace every nn.LayerNorm of `model` (in place) by a `DelegatedLayerNorm` sharing its parameters."""
    for name, mod in list(model.named_modules()):
        for child_name, child in list(mod.named_children()):
            if isinstance(child, nn.LayerNorm):
                setattr(mod, child_name, DelegatedLayerNorm(child))
    return model


class EncoderSelfAttention(nn.Module):
    """The encoder's full self-attention over its T frames, in place of HF's `WhisperAttention` in an encoder layer.

    3-D batch matmuls on [H, T, D] / [H, D, T]: HF's 4-D `matmul` broadcasts through `expand_copy`, which XNNPACK
    does not run, so every layer left the delegate twice. ExecuTorch's fused `llama::custom_sdpa` kernel on the same
    layout measured slower than XNNPACK's batch matmuls here (benchmarks/results/perf_findings.md)."""

    def __init__(self, attn):
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = attn.q_proj, attn.k_proj, attn.v_proj, attn.out_proj
        self.heads, self.head_dim = _heads(attn)
        self.scaling = attn.scaling

    def forward(self, hidden_states: torch.Tensor, attention_mask=None, **kwargs):
        t, h, d = hidden_states.shape[1], self.heads, self.head_dim
        q = self.q_proj(hidden_states).view(t, h, d).transpose(0, 1)                   # [H, T, D]
        kt = self.k_proj(hidden_states).view(t, h, d).permute(1, 2, 0)                 # [H, D, T]
        v = self.v_proj(hidden_states).view(t, h, d).transpose(0, 1)                   # [H, T, D]
        p = torch.softmax(torch.bmm(q, kt) * self.scaling, dim=-1)
        return self.out_proj(torch.bmm(p, v).transpose(0, 1).reshape(1, t, h * d)), None


def use_encoder_attention(model):
    """Swap every encoder layer's self-attention for `EncoderSelfAttention` (in place) on the (quantized) model."""
    for layer in model.model.encoder.layers:
        layer.self_attn = EncoderSelfAttention(layer.self_attn)
    return model


class EncoderWrapper(nn.Module):
    """The `encoder` method: features [1, n_mels, 3000] -> the decoder's cross K/V (see `cross_kv`)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        hidden = self.model.get_encoder()(input_features=input_features).last_hidden_state
        return tuple(cross_kv(self.model, hidden))


class SelfAttention(nn.Module):
    """One token's self-attention over a static cache: buffers K [H, max_len, D] and V^T [H, D, max_len].

    The token's K/V are written at `pos`; `visible` ([1, 1, max_len], True at positions <= pos) masks out every
    later position, whatever an earlier clip left there."""

    def __init__(self, attn, max_len: int):
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = attn.q_proj, attn.k_proj, attn.v_proj, attn.out_proj
        self.heads, self.head_dim = _heads(attn)
        self.scaling = attn.scaling
        self.register_buffer("k_cache", torch.zeros(self.heads, max_len, self.head_dim), persistent=False)
        self.register_buffer("vt_cache", torch.zeros(self.heads, self.head_dim, max_len), persistent=False)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        h, d = self.heads, self.head_dim
        self.k_cache.index_copy_(1, pos, self.k_proj(x).view(h, 1, d))
        self.vt_cache.index_copy_(2, pos, self.v_proj(x).view(h, d, 1))
        return self.out_proj(attend(self.q_proj(x) * self.scaling, self.k_cache, self.vt_cache, visible))


class CrossAttention(nn.Module):
    """One token's cross-attention on the encoder's precomputed k [H, T, D] / v^T [H, D, T]: no k/v projection."""

    def __init__(self, attn):
        super().__init__()
        self.q_proj, self.out_proj = attn.q_proj, attn.out_proj
        self.scaling = attn.scaling

    def forward(self, x: torch.Tensor, k: torch.Tensor, vt: torch.Tensor) -> torch.Tensor:
        return self.out_proj(attend(self.q_proj(x) * self.scaling, k, vt))


class DecoderLayer(nn.Module):
    """WhisperDecoderLayer (pre-norm) for one token, on the HF layer's own norms and (quantized) linears."""

    def __init__(self, layer, max_len: int):
        super().__init__()
        self.self_attn_layer_norm = layer.self_attn_layer_norm
        self.encoder_attn_layer_norm = layer.encoder_attn_layer_norm
        self.final_layer_norm, self.fc1, self.fc2 = layer.final_layer_norm, layer.fc1, layer.fc2
        self.activation_fn = layer.activation_fn
        self.self_attn = SelfAttention(layer.self_attn, max_len)
        self.encoder_attn = CrossAttention(layer.encoder_attn)

    def forward(self, x, pos, visible, k, vt):
        x = x + self.self_attn(self.self_attn_layer_norm(x), pos, visible)
        x = x + self.encoder_attn(self.encoder_attn_layer_norm(x), k, vt)
        return x + self.fc2(self.activation_fn(self.fc1(self.final_layer_norm(x))))


class TextDecoder(nn.Module):
    """The `text_decoder` method: (input_ids [1, 1], cache_position [1], k_0, v_0, ...) -> logits [1, 1, V].

    Token embedding (`embed_tokens`, an nn.Embedding or a quantized lookup) + learned position embedding at
    cache_position, the decoder layers, the final layer norm, `proj_out` (HF's WhisperDecoder + proj_out for one
    token). Self-attention K/V live in the layers' cache buffers (mutated in place, `max_len` positions); see the
    module docstring for the position rules."""

    def __init__(self, model, max_len: int):
        super().__init__()
        dec = model.model.decoder
        self.max_len = max_len
        self.embed_tokens, self.embed_positions = dec.embed_tokens, dec.embed_positions
        self.layers = nn.ModuleList(DecoderLayer(layer, max_len) for layer in dec.layers)
        self.layer_norm, self.proj_out = dec.layer_norm, model.proj_out

    def forward(self, input_ids: torch.Tensor, cache_position: torch.Tensor, *kv: torch.Tensor) -> torch.Tensor:
        x = self.embed_tokens(input_ids) + self.embed_positions.weight[cache_position]
        visible = (torch.arange(self.max_len) <= cache_position).view(1, 1, self.max_len)
        for i, layer in enumerate(self.layers):
            x = layer(x, cache_position, visible, kv[2 * i], kv[2 * i + 1])
        return self.proj_out(self.layer_norm(x))


def whisper_prompt(model) -> list[int]:
    """<|startoftranscript|> <|notimestamps|> of an English-only model (tiny.en: 50257, 50362)."""
    gc = getattr(model, "generation_config", None)
    sot = getattr(gc, "decoder_start_token_id", None) or model.config.decoder_start_token_id
    no_ts = getattr(gc, "no_timestamps_token_id", None)
    if sot is None or no_ts is None:
        return list(WHISPER_EN_PROMPT)
    return [int(sot), int(no_ts)]


def mel_filters_for(model, feature_extractor=None):
    if feature_extractor is None:
        from transformers import WhisperFeatureExtractor
        feature_extractor = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins)
    return feature_extractor.mel_filters


def preprocessor_for(model, feature_extractor=None) -> nn.Module:
    """pcm [480000] -> log-mel [1, n_mels, 3000]: ExecuTorch's `WhisperAudioProcessor` when its filterbank is the
    feature extractor's (every OpenAI Whisper), else our `LogMel` on the feature extractor's own filters."""
    from executorch.extension.audio.mel_spectrogram import WhisperAudioProcessor

    filters = torch.as_tensor(mel_filters_for(model, feature_extractor), dtype=torch.float32)   # [n_bins, n_mels]
    proc = WhisperAudioProcessor(feature_size=filters.shape[1]).eval()
    same = tuple(proc.mel_filters.shape) == tuple(filters.T.shape) and \
        torch.allclose(torch.as_tensor(proc.mel_filters, dtype=torch.float32), filters.T, atol=1e-6)
    return proc if same else LogMel(filters).eval()


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


def export_programs(qmodel: nn.Module, preprocessor: nn.Module, max_cache_len: int) -> dict:
    """torch.export every method of a (quantized) Whisper model: {method: ExportedProgram}.

    Strict tracing: non-strict tracing is faster (7 s instead of 18 s) but lifts every parameter of the wrapped model
    into every method, so the encoder method then carries the decoder's token table too (11 MB, measured)."""
    n_mels = qmodel.config.num_mel_bins
    frames = 2 * qmodel.config.max_source_positions
    with torch.no_grad():
        pre = torch.export.export(preprocessor, (torch.zeros(WHISPER_N_SAMPLES),), strict=True)
        enc = torch.export.export(EncoderWrapper(qmodel).eval(), (torch.zeros(1, n_mels, frames),), strict=True)
        kv = cross_kv(qmodel, torch.zeros(1, frames // 2, qmodel.config.d_model))      # example K/V: shapes only
        token, position = torch.tensor([[0]], dtype=torch.long), torch.tensor([0], dtype=torch.long)
        dec = torch.export.export(TextDecoder(qmodel, max_cache_len).eval(), (token, position, *kv), strict=True)
    return {"preprocessor": pre, "encoder": enc, "text_decoder": dec}


def pack_cross_kv(kv: list[torch.Tensor]) -> torch.Tensor:
    """[k_0, v_0, ..., k_{L-1}, v_{L-1}] (`cross_kv` layouts, each H * T * D values) -> one tensor [H, 2L, T * D]
    (heads first: the decoder's copy slices rows of dim 0, which keeps every stride static)."""
    return torch.stack([t.reshape(t.shape[0], -1) for t in kv], dim=1)


class RunnerEncoder(nn.Module):
    """The asr-runner `encoder` method: features [1, n_mels, 3000] -> the packed cross K/V (`pack_cross_kv`)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_features: torch.Tensor) -> torch.Tensor:
        hidden = self.model.get_encoder()(input_features=input_features).last_hidden_state
        return pack_cross_kv(cross_kv(self.model, hidden))


RULED_OUT = -1e9     # what the runner's rules add to a token's logit (finite: raw mode multiplies the rows by 0)


def rule_rows(rules: dict, vocab_size: int) -> torch.Tensor:
    """Whisper's greedy rules as rows to add to the logits, float32 [3 + len(prompt) - 1, V]:
    0 text (suppressed tokens ruled out), 1 the first text position (begin-suppressed tokens too),
    2 the end (all but <|endoftext|>), 3... the prompt's forced tokens (all but prompt[p + 1] at position p).
    One gather and one add per step: the same rules as masked `where`s cost 2.3 ms a step in the portable kernels
    against 0.1 ms (measured on tiny.en's 51,864 logits)."""
    prompt = [int(t) for t in rules["decoder_start_ids"]]
    forced = [int(rules["eos_id"])] + prompt[1:]
    rows = torch.zeros(2 + len(forced), vocab_size)
    rows[0, list(rules["suppress_tokens"])] = RULED_OUT
    rows[1] = rows[0]
    rows[1, list(rules["begin_suppress_tokens"])] = RULED_OUT
    for i, tok in enumerate(forced):
        rows[2 + i] = RULED_OUT
        rows[2 + i, tok] = 0.0
    return rows


def rule_row_at(rules: dict, max_len: int) -> torch.Tensor:
    """int64 [max_len]: the `rule_rows` row each cache position uses (the input token's position; its logits
    choose the token at position + 1)."""
    first_text = len(rules["decoder_start_ids"]) - 1
    at = torch.zeros(max_len, dtype=torch.long)
    at[:first_text] = torch.arange(3, 3 + first_text)
    at[first_text] = 1
    at[max_len - 1] = 2
    return at


class RunnerTextDecoder(TextDecoder):
    """The asr-runner `text_decoder` method: (input_ids [1, 1], packed cross K/V, cache_position [1]) -> logits with
    Whisper's rules (module docstring). `rules`: the vocabulary side file's "whisper" dict (prompt, eos, suppressed
    and begin-suppressed ids), the same rules the host runner applies in Python."""

    def __init__(self, model, max_len: int, rules: dict):
        super().__init__(model, max_len)
        attn = model.model.decoder.layers[0].encoder_attn
        self.heads, d = _heads(attn)
        t = model.config.max_source_positions
        for i in range(len(self.layers)):
            self.register_buffer(f"cross_k_{i}", torch.zeros(self.heads, t, d), persistent=False)
            self.register_buffer(f"cross_vt_{i}", torch.zeros(self.heads, d, t), persistent=False)
        self.register_buffer("rule_rows", rule_rows(rules, self.proj_out.out_features), persistent=False)
        self.register_buffer("rule_row_at", rule_row_at(rules, max_len), persistent=False)

    def cross_buffers(self) -> list[torch.Tensor]:
        return [b for i in range(len(self.layers)) for b in (getattr(self, f"cross_k_{i}"), getattr(self, f"cross_vt_{i}"))]

    def load_cross_kv(self, packed: torch.Tensor, pos: torch.Tensor) -> None:
        """Copy the packed K/V into the buffers at position 0; copy 0 rows at any other position."""
        n = ((pos == 0).to(torch.long).sum() * self.heads).item()
        torch._check_is_size(n)
        torch._check(n <= self.heads)
        rows, head_rows = torch.arange(n), packed[:n]                    # slice before select: nothing is copied
        for i, buf in enumerate(self.cross_buffers()):                   # after position 0
            buf.index_put_((rows,), head_rows[:, i].reshape((n,) + tuple(buf.shape[1:])))

    def forward(self, input_ids: torch.Tensor, encoder_output: torch.Tensor,
                cache_position: torch.Tensor) -> torch.Tensor:
        raw = cache_position < 0
        pos = torch.where(raw, -1 - cache_position, cache_position)
        self.load_cross_kv(encoder_output, pos)
        logits = super().forward(input_ids, pos, *self.cross_buffers())
        rules_on = (~raw).to(torch.float32)
        return logits + self.rule_rows[self.rule_row_at[pos]].view(1, 1, -1) * rules_on


class ArgmaxSampler(nn.Module):
    """The asr-runner `sampler` method: logits [1, 1, V] -> the argmax id, int64 [1] (greedy, temperature 0)."""

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.argmax(logits.reshape(-1), dim=0).reshape(1)


class PadToWindow(nn.Module):
    """preprocessor.pte's `forward`: pcm [n <= 480000] of any length -> the front end of a zero-padded window."""

    def __init__(self, front_end: nn.Module):
        super().__init__()
        self.front_end = front_end

    def forward(self, pcm: torch.Tensor) -> torch.Tensor:
        return self.front_end(F.pad(pcm, (0, WHISPER_N_SAMPLES - pcm.shape[0])))


def export_preprocessor_program(model, feature_extractor=None):
    """preprocessor.pte (ExecutorchProgramManager): `forward(pcm [n])` -> features, n up to one 30 s window."""
    from torch.export import Dim

    pre = PadToWindow(preprocessor_for(model, feature_extractor)).eval()
    n = Dim("samples", min=2, max=WHISPER_N_SAMPLES)
    with torch.no_grad(), torch.fx.experimental._config.patch(backed_size_oblivious=True):
        ep = torch.export.export(pre, (torch.zeros(WHISPER_N_SAMPLES // 3),), dynamic_shapes=({0: n},), strict=True)
    return lower({"forward": ep})[0]


def export_runner_programs(qmodel: nn.Module, max_cache_len: int, rules: dict) -> dict:
    """torch.export the asr-runner methods of a (quantized) Whisper model: {method: ExportedProgram}."""
    n_mels = qmodel.config.num_mel_bins
    frames = 2 * qmodel.config.max_source_positions
    with torch.no_grad():
        enc = torch.export.export(RunnerEncoder(qmodel).eval(), (torch.zeros(1, n_mels, frames),), strict=True)
        packed = pack_cross_kv(cross_kv(qmodel, torch.zeros(1, frames // 2, qmodel.config.d_model)))
        token, position = torch.tensor([[0]], dtype=torch.long), torch.tensor([0], dtype=torch.long)
        decoder = RunnerTextDecoder(qmodel, max_cache_len, rules).eval()
        dec = torch.export.export(decoder, (token, packed, position), strict=True)
        logits = torch.zeros(1, 1, decoder.proj_out.out_features)
        sampler = torch.export.export(ArgmaxSampler().eval(), (logits,), strict=True)
    return {"encoder": enc, "text_decoder": dec, "sampler": sampler}


TABLE_TAG = "model"                             # the external-data tag (and file stem) of the shared table
TABLE_MODULES = ("embed_tokens.", "proj_out.")  # TextDecoder's lookup and output projection: one table


def tag_shared_table(ep):
    """Mark the token table's constants (the lookup's and the tied projection's: the same bytes) for the external
    data file, on both sides of the tie: `delegate_constant_tag` makes XNNPACK put the projection's weights and
    scales there, `external_table` does it for the lookup's. The named data store keeps identical bytes once."""
    ep = ep.run_decompositions({})
    sig = ep.graph_signature
    fqn = {**sig.inputs_to_parameters, **sig.inputs_to_buffers}
    for node in ep.graph.nodes:
        name = fqn.get(node.name, "") if node.op == "placeholder" else ""
        if name.startswith(TABLE_MODULES) and not name.endswith(".order"):
            node.meta.setdefault("custom", {})["delegate_constant_tag"] = TABLE_TAG
    return ep


def external_table(node) -> str | None:
    """ExecutorchBackendConfig(external_constants=...): the tag `tag_shared_table` gave a constant, if any."""
    return (node.meta.get("custom") or {}).get("delegate_constant_tag")


def export_whisper(model: nn.Module, scheme: Scheme, *, feature_extractor=None,
                   max_new_tokens: int = WHISPER_MAX_NEW_TOKENS, runner_rules: dict | None = None):
    """fp32 HF Whisper + scheme -> (ExecutorchProgramManager, GateReport).

    runner_rules (the asr-runner target: the vocabulary side file's "whisper" dict): ExecuTorch's ASR-runner methods
    (module docstring), and the token table that the lookup and proj_out share stored once, in the program's
    external data (`.ptd`, tag TABLE_TAG). The preprocessor is then a program of its own
    (`export_preprocessor_program`). None: the single-file program of METHODS."""
    shared_table = runner_rules is not None
    qmodel = apply_scheme(prepare_for_export(model), scheme, inplace=True, shared_table=shared_table)
    use_encoder_attention(qmodel)                     # the encoder in one XNNPACK subgraph: no expand_copy,
    delegate_layer_norms(qmodel.model.encoder)        # no portable layer norm (the decoder's stay: delegating
                                                      # them stops the shared table's de-duplication)
    if not shared_table:
        programs = export_programs(qmodel, preprocessor_for(model, feature_extractor),
                                   max_cache_len=len(WHISPER_EN_PROMPT) + max_new_tokens)
        return lower(programs)
    programs = export_runner_programs(qmodel, len(runner_rules["decoder_start_ids"]) + max_new_tokens, runner_rules)
    programs["text_decoder"] = tag_shared_table(programs["text_decoder"])
    return lower(programs, external_constants=external_table,
                 constant_methods={"get_eos_ids": [int(runner_rules["eos_id"])]})
