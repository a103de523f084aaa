"""Check a `.pte` against the simulated model it was exported from.

1. Delegation gate on the file: no linear / convolution / quantize / dequantize operator outside a delegate.
2. Parity on the first clips: max |pte - simulated| of the features (Whisper), the encoder method's outputs
   (Whisper: the decoder's cross-attention K/V; checked under the name "encoder") and the logits, relative to the
   reference's max |value|. The text_decoder is fed the simulated model's own cross K/V, so the logits compare the
   decoder alone.
3. Transcripts: the `.pte` greedy output equals the simulated model's (HF generate / CTC greedy) on >= 95 % of clips.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from myqasr.errors import MyqasrError

# Default tolerances. Dynamic int8 activations are quantized by XNNPACK's own kernels (rounding and accumulation
# order differ from the simulation by about one quantization step), so quantized layers are compared relatively.
FEATURES_ATOL = 1e-3        # log-mel features, absolute (values in [-1, 2])
HIDDEN_RTOL = 0.10          # encoder outputs (cross K/V): max |diff| / max |ref| (tiny.en: int8 0.033, int4 0.032)
LOGITS_RTOL = 0.10          # logits: max |diff| / max |ref| (tiny.en: int8 0.012, int4 0.028, mixed 0.027)
MIN_AGREEMENT = 0.95        # fraction of clips with identical transcripts


@dataclass
class VerifyReport:
    gate_offending: dict = field(default_factory=dict)   # method -> {op: count} outside the delegate
    diffs: dict = field(default_factory=dict)            # name -> {"max_abs": x, "ref_max": y, "rel": x / y}
    n_clips: int = 0
    n_equal: int = 0
    mismatches: list = field(default_factory=list)       # (clip, pte text, simulated text)

    @property
    def agreement(self) -> float:
        return self.n_equal / self.n_clips if self.n_clips else 1.0

    @property
    def gate_ok(self) -> bool:
        return not any(self.gate_offending.values())

    @property
    def parity_ok(self) -> bool:
        for name, d in self.diffs.items():
            if name == "features" and d["max_abs"] > FEATURES_ATOL:
                return False
            if name != "features" and d["rel"] > (HIDDEN_RTOL if name == "encoder" else LOGITS_RTOL):
                return False
        return True

    @property
    def ok(self) -> bool:
        return self.gate_ok and self.parity_ok and self.agreement >= MIN_AGREEMENT

    def summary(self) -> str:
        diffs = ", ".join(f"{k} {v['max_abs']:.2e} (rel {v['rel']:.2e})" for k, v in self.diffs.items())
        gate = "ok" if self.gate_ok else f"FAILED {self.gate_offending}"
        return (f"verify: {'PASS' if self.ok else 'FAIL'}; delegation gate {gate}; max |pte - simulated|: {diffs}; "
                f"transcripts equal on {self.n_equal}/{self.n_clips} clips ({100 * self.agreement:.0f} %, "
                f"need {100 * MIN_AGREEMENT:.0f} %)")


_GATED = ("linear", "addmm", "convolution", "quantize_per", "dequantize_per", "choose_qparams", "dequantize_affine",
          "quantize_affine")


def file_gate(pte_path) -> dict:
    """Operators (outside delegates) per method in a serialized program that must not be there."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    with open(pte_path, "rb") as f:
        pte = deserialize_pte_binary(f.read())
    program = getattr(pte, "program", pte)
    out = {}
    for plan in program.execution_plan:
        bad = {}
        for op in plan.operators:
            if any(g in op.name for g in _GATED):
                bad[op.name] = bad.get(op.name, 0) + 1
        out[plan.name] = bad
    return out


def _diff(out: torch.Tensor, ref: torch.Tensor) -> dict:
    e = out.float() - ref.float()
    d = float(e.abs().max())
    m = float(ref.float().abs().max())
    r = float(ref.float().pow(2).mean().sqrt())
    rms = float(e.pow(2).mean().sqrt())
    return {"max_abs": d, "ref_max": m, "rel": d / m if m else d, "rms_rel": rms / r if r else rms}


def _merge(diffs: dict, name: str, d: dict) -> None:
    if name not in diffs or d["max_abs"] > diffs[name]["max_abs"]:
        diffs[name] = d


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


@torch.no_grad()
def verify_whisper(pte, sim, processor, clips, report: VerifyReport, parity_clips: int = 2, max_new_tokens=None):
    from .whisper import cross_kv

    fe = processor.feature_extractor
    w = pte.vocab.whisper
    prompt = list(w["decoder_start_ids"])
    for i, clip in enumerate(clips):
        audio = np.asarray(clip.audio, dtype=np.float32)
        feats = fe(audio, sampling_rate=16000, return_tensors="pt").input_features
        out = sim.generate(feats, num_beams=1, do_sample=False, max_new_tokens=max_new_tokens or w["max_new_tokens"],
                           return_dict_in_generate=True)
        seq = out.sequences[0].tolist()
        sim_ids = [t for t in seq[len(prompt):] if t != w["eos_id"]] if seq[:len(prompt)] == prompt else \
            [t for t in seq if t not in prompt and t != w["eos_id"]]
        result = pte.transcribe_whisper(audio, str(getattr(clip, "path", i)))
        sim_text = pte.vocab.decode(sim_ids).strip()
        report.n_clips += 1
        if result.ids == sim_ids:
            report.n_equal += 1
        else:
            report.mismatches.append((str(getattr(clip, "path", i)), result.text, sim_text))
        if i < parity_clips:
            f_pte = pte.whisper_features(audio)
            _merge(report.diffs, "features", _diff(f_pte, feats))
            kv_pte = pte.run("encoder", feats)
            kv_ref = cross_kv(sim, sim.get_encoder()(input_features=feats).last_hidden_state)
            _merge(report.diffs, "encoder", _diff(_flat(kv_pte), _flat(kv_ref)))
            ids = (prompt + sim_ids)[:16]
            ref = sim(input_features=feats, decoder_input_ids=torch.tensor([ids])).logits[0]
            for pos, tok in enumerate(ids):
                lg = pte.run("text_decoder", torch.tensor([[tok]]), torch.tensor([pos]), *kv_ref)[0]
                _merge(report.diffs, "logits", _diff(lg[0, -1], ref[pos]))


@torch.no_grad()
def verify_ctc(pte, sim, clips, report: VerifyReport, parity_clips: int = 2):
    from .runner import ctc_greedy_ids
    from .wav2vec2 import reference_logits

    normalize = bool(pte.vocab.ctc.get("normalized_in_graph", False))
    blank = int(pte.vocab.ctc["blank_id"])
    for i, clip in enumerate(clips):
        audio = np.asarray(clip.audio, dtype=np.float32)
        out = pte.ctc_logits(audio)
        hop = int(pte.vocab.ctc.get("input_multiple", 320))
        n = max(hop * int(pte.vocab.ctc.get("min_frames", 1)), -(-len(audio) // hop) * hop)
        x = torch.zeros(1, n)
        x[0, : len(audio)] = torch.as_tensor(audio)
        ref = reference_logits(sim, x, normalize)
        if i < parity_clips:
            _merge(report.diffs, "logits", _diff(out, ref))
        a, b = ctc_greedy_ids(out[0], blank), ctc_greedy_ids(ref[0], blank)
        report.n_clips += 1
        if a == b:
            report.n_equal += 1
        else:
            report.mismatches.append((str(getattr(clip, "path", i)), pte.vocab.decode_ctc(a), pte.vocab.decode_ctc(b)))


def verify_pte(pte_path, scheme, loaded, clips, *, sim_model=None, threads: int | None = None,
               parity_clips: int = 2) -> VerifyReport:
    """Gate + parity + transcript agreement of `pte_path` against `simulate(loaded.model, scheme)` on `clips`."""
    from myqasr.simulate import simulate

    from .runner import PteModel

    report = VerifyReport(gate_offending=file_gate(pte_path))
    pte = PteModel(pte_path, threads=threads)
    sim = sim_model if sim_model is not None else simulate(loaded.model, scheme)
    sim.eval()
    if pte.vocab.arch == "whisper":
        verify_whisper(pte, sim, loaded.processor, clips, report, parity_clips)
    elif pte.vocab.arch == "wav2vec2":
        verify_ctc(pte, sim, clips, report, parity_clips)
    else:
        raise MyqasrError(f"{pte_path}: unknown architecture {pte.vocab.arch!r} in its vocabulary file")
    return report
