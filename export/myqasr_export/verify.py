"""Check a `.pte` against the simulated model it was exported from, and tell a broken export from rounding noise.

The `.pte` and `myqasr.simulate` compute the same integers and scales, but XNNPACK quantizes the dynamic int8
activations with its own rounding and accumulates in its own order, so the two differ by about one activation
quantization step per layer, and that noise grows through the layers. A verdict therefore uses statistics that
one unlucky element or one near-tie token cannot decide, on every verification clip:

1. Delegation gate on the file: no linear / convolution / quantize / dequantize operator outside a delegate (those
   paths lower but compute wrong numbers, or run at portable-kernel speed).
2. Numbers, relative RMS error (RMS of pte - simulated over RMS of simulated), the worst clip counts:
   - `features` (log-mel, Whisper): max |diff| <= FEATURES_ATOL (no quantization there: it must be exact);
   - `encoder`: the encoder method's outputs (Whisper: the decoder's cross-attention K/V) <= ENCODER_RMS_REL;
   - `logits`: the decoder's logits along the `.pte`'s own greedy transcript, fed the pte's own encoder outputs
     (so end to end), against the simulated model teacher-forced along it <= LOGITS_RMS_REL.
3. Tokens (along the `.pte`'s greedy transcript): at every position the `.pte`'s choice must be the
   simulated model's choice, or a near-tie of it (the simulated model scores it within TIE_LOGPROB nats of its own
   best). A real disagreement at any position fails. Whole-transcript agreement is reported, not enforced: one
   near-tie flips the rest of a greedy transcript.

The thresholds come from a sweep of correct and deliberately broken exports (benchmarks/results/verification.md):
they sit between the largest value any correct export reached and the smallest any broken export reached.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from myqasr.constants import SAMPLE_RATE
from myqasr.errors import MyqasrError

from .lower import GATED_OPS

FEATURES_ATOL = 1e-3        # log-mel features, absolute (values in [-1, 2]; the same float ops on both sides)
ENCODER_RMS_REL = 0.06      # encoder outputs: RMS(pte - sim) / RMS(sim), worst clip
LOGITS_RMS_REL = 0.08       # logits along the greedy transcript: RMS(pte - sim) / RMS(sim), worst clip
TIE_LOGPROB = 1.0           # nats: a pte token within this of the simulated model's best is a near-tie, not an error
VERIFY_CLIPS = 8            # clips `personalize` verifies on


@dataclass
class VerifyReport:
    gate_offending: dict = field(default_factory=dict)   # method -> {op: count} outside the delegate
    diffs: dict = field(default_factory=dict)            # name -> worst clip's {"rms_rel", "max_rel", "max_abs"}
    n_clips: int = 0
    n_equal: int = 0                                     # clips whose whole greedy transcript is the simulated one
    n_tokens: int = 0                                    # teacher-forced positions checked
    n_same_token: int = 0                                # positions where the pte picks the simulated model's token
    n_real_disagreements: int = 0                        # positions where it picks a token the sim scores > tie lower
    worst_gap: float = 0.0                               # largest sim log-prob gap of a pte pick (nats)
    logprob_pte: float = 0.0                             # mean log-prob per token of the pte greedy transcript, pte
    logprob_sim: float = 0.0                             # ... and under the simulated model itself
    per_clip: list = field(default_factory=list)         # per clip: {"clip", "encoder", "logits", "gap", "equal"}
    mismatches: list = field(default_factory=list)       # (clip, position, pte token, sim token, gap)

    @property
    def agreement(self) -> float:
        return self.n_equal / self.n_clips if self.n_clips else 1.0

    @property
    def gate_ok(self) -> bool:
        return not any(self.gate_offending.values())

    def failed_checks(self) -> list[str]:
        """Each failed check as a short phrase (empty when the export passes)."""
        out = []
        if not self.gate_ok:
            out.append(f"ops outside the XNNPACK delegate {self.gate_offending}")
        limits = {"features": ("max_abs", FEATURES_ATOL), "encoder": ("rms_rel", ENCODER_RMS_REL),
                  "logits": ("rms_rel", LOGITS_RMS_REL)}
        for name, (key, limit) in limits.items():
            d = self.diffs.get(name)
            if d is not None and not d[key] <= limit:
                out.append(f"{name} {key.replace('_', ' ')} {d[key]:.3g} > {limit:g}")
        if self.n_real_disagreements:
            out.append(f"{self.n_real_disagreements} of {self.n_tokens} tokens differ beyond a near-tie "
                       f"(worst {self.worst_gap:.2f} nats > {TIE_LOGPROB:g})")
        return out

    @property
    def ok(self) -> bool:
        return not self.failed_checks()

    def summary(self) -> str:
        diffs = ", ".join(f"{k} {v['rms_rel' if k != 'features' else 'max_abs']:.2e}" for k, v in self.diffs.items())
        gate = "ok" if self.gate_ok else f"FAILED {self.gate_offending}"
        tokens = (f"tokens {self.n_same_token}/{self.n_tokens} identical, {self.n_real_disagreements} beyond a "
                  f"near-tie; transcripts identical on {self.n_equal}/{self.n_clips} clips") if self.n_tokens else \
            f"frames agree on {self.n_equal}/{self.n_clips} clips"
        verdict = "PASS" if self.ok else "FAIL (" + "; ".join(self.failed_checks()) + ")"
        return (f"verify: {verdict}; delegation gate {gate}; worst-clip pte vs simulated (features max abs, "
                f"others RMS rel): {diffs}; {tokens}")

    def to_dict(self) -> dict:
        return {"ok": self.ok, "failed": self.failed_checks(), "gate_offending": self.gate_offending,
                "diffs": self.diffs, "n_clips": self.n_clips, "n_equal": self.n_equal, "n_tokens": self.n_tokens,
                "n_same_token": self.n_same_token, "n_real_disagreements": self.n_real_disagreements,
                "worst_gap": self.worst_gap, "logprob_pte": self.logprob_pte, "logprob_sim": self.logprob_sim,
                "per_clip": self.per_clip}


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
            if any(g in op.name for g in GATED_OPS):
                bad[op.name] = bad.get(op.name, 0) + 1
        out[plan.name] = bad
    return out


def tensor_diff(out: torch.Tensor, ref: torch.Tensor) -> dict:
    """max |diff|, and the RMS and max of |diff| relative to the reference's RMS and max |value|."""
    e = (out.float() - ref.float()).reshape(-1)
    r = ref.float().reshape(-1)
    ref_rms, ref_max = float(r.pow(2).mean().sqrt()), float(r.abs().max())
    max_abs, rms = float(e.abs().max()), float(e.pow(2).mean().sqrt())
    return {"max_abs": max_abs, "rms_rel": rms / ref_rms if ref_rms else rms,
            "max_rel": max_abs / ref_max if ref_max else max_abs}


def _keep_worst(diffs: dict, name: str, d: dict, key: str) -> None:
    if name not in diffs or d[key] > diffs[name][key]:
        diffs[name] = d


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def allowed_scores(row: torch.Tensor, step: int, whisper: dict) -> torch.Tensor:
    """Log-probs of one decoder step with the tokens greedy decoding may not pick set to -inf (the sidecar's rules)."""
    scores = torch.log_softmax(row.float(), -1)
    suppress = whisper.get("suppress_tokens") or []
    if suppress:
        scores[torch.tensor(suppress, dtype=torch.long)] = -float("inf")
    if step == 0 and whisper.get("begin_suppress_tokens"):
        scores[torch.tensor(whisper["begin_suppress_tokens"], dtype=torch.long)] = -float("inf")
    return scores


def compare_tokens(pte_rows: torch.Tensor, sim_rows: torch.Tensor, whisper: dict, report: VerifyReport,
                   clip: str) -> float:
    """Teacher-forced positions [n, V] of both models: count identical picks and real disagreements; the worst gap."""
    worst = 0.0
    for step in range(pte_rows.shape[0]):
        p, s = allowed_scores(pte_rows[step], step, whisper), allowed_scores(sim_rows[step], step, whisper)
        pick_pte, pick_sim = int(p.argmax()), int(s.argmax())
        report.n_tokens += 1
        if pick_pte == pick_sim:
            report.n_same_token += 1
            continue
        gap = float(s[pick_sim] - s[pick_pte])
        worst = max(worst, gap)
        if gap > TIE_LOGPROB:
            report.n_real_disagreements += 1
            report.mismatches.append((clip, step, pick_pte, pick_sim, gap))
    return worst


@torch.no_grad()
def verify_whisper(pte, sim, processor, clips, report: VerifyReport):
    from .whisper import cross_kv

    fe = processor.feature_extractor
    w = pte.vocab.whisper
    prompt = list(w["decoder_start_ids"])
    eos = int(w["eos_id"])
    lp_pte, lp_sim, n_lp = 0.0, 0.0, 0
    for i, clip in enumerate(clips):
        name = str(getattr(clip, "path", i))
        audio = np.asarray(clip.audio, dtype=np.float32)
        feats = fe(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
        # the .pte end to end: its own features and encoder, its own greedy transcript
        f_pte = pte.whisper_features(audio)
        _keep_worst(report.diffs, "features", tensor_diff(f_pte, feats), "max_abs")
        encoded = pte.encode_whisper(f_pte)
        gen, _ = pte.runner_loop(encoded) if pte.asr_runner else pte.whisper_greedy(encoded)
        kv_pte = pte.cross_kv_list(encoded)
        ids = prompt + gen + ([eos] if len(gen) < w["max_new_tokens"] else [])   # the positions greedy decoding sees
        # the simulated model, teacher-forced along the same transcript (its own greedy pick is compared at every
        # position below, so a simulated greedy run would only repeat that work)
        kv_ref = cross_kv(sim, sim.get_encoder()(input_features=feats).last_hidden_state)
        sim_rows = sim(input_features=feats, decoder_input_ids=torch.tensor([ids[:-1]])).logits[0]
        enc = tensor_diff(_flat(kv_pte), _flat(kv_ref))
        _keep_worst(report.diffs, "encoder", enc, "rms_rel")
        rows = [pte.decoder_logits(tok, pos, encoded)[0, -1] for pos, tok in enumerate(ids[:-1])]
        pte_rows = torch.stack(rows)
        lg = tensor_diff(pte_rows, sim_rows)
        _keep_worst(report.diffs, "logits", lg, "rms_rel")
        # tokens: the positions after the prompt, where greedy decoding picks
        k = len(prompt) - 1
        before = report.n_same_token
        gap = compare_tokens(pte_rows[k:], sim_rows[k:], w, report, name)
        n = pte_rows.shape[0] - k
        equal = report.n_same_token - before == n
        report.n_clips += 1
        report.n_equal += int(equal)
        target = torch.tensor(ids[k + 1:])
        lp_pte += float(torch.log_softmax(pte_rows[k:].float(), -1).gather(1, target[:, None]).sum())
        lp_sim += float(torch.log_softmax(sim_rows[k:].float(), -1).gather(1, target[:, None]).sum())
        n_lp += n
        report.per_clip.append({"clip": name, "encoder": enc["rms_rel"], "logits": lg["rms_rel"], "gap": gap,
                                "tokens": n, "equal": equal})
    report.logprob_pte, report.logprob_sim = lp_pte / max(n_lp, 1), lp_sim / max(n_lp, 1)


@torch.no_grad()
def verify_ctc(pte, sim, clips, report: VerifyReport):
    from .runner import ctc_greedy_ids
    from .wav2vec2 import reference_logits

    normalize = bool(pte.vocab.ctc.get("normalized_in_graph", False))
    blank = int(pte.vocab.ctc["blank_id"])
    hop = int(pte.vocab.ctc.get("input_multiple", 320))
    for i, clip in enumerate(clips):
        name = str(getattr(clip, "path", i))
        audio = np.asarray(clip.audio, dtype=np.float32)
        out = pte.ctc_logits(audio)
        n = max(hop * int(pte.vocab.ctc.get("min_frames", 1)), -(-len(audio) // hop) * hop)
        x = torch.zeros(1, n)
        x[0, : len(audio)] = torch.as_tensor(audio)
        ref = reference_logits(sim, x, normalize)
        lg = tensor_diff(out, ref)
        _keep_worst(report.diffs, "logits", lg, "rms_rel")
        gap = 0.0
        for t in range(out.shape[1]):                       # every frame is a pick of greedy CTC
            p, s = torch.log_softmax(out[0, t].float(), -1), torch.log_softmax(ref[0, t].float(), -1)
            if int(p.argmax()) != int(s.argmax()):
                g = float(s.max() - s[int(p.argmax())])
                gap = max(gap, g)
                if g > TIE_LOGPROB:
                    report.n_real_disagreements += 1
                    report.mismatches.append((name, t, int(p.argmax()), int(s.argmax()), g))
        report.worst_gap = max(report.worst_gap, gap)
        equal = ctc_greedy_ids(out[0], blank) == ctc_greedy_ids(ref[0], blank)
        report.n_clips += 1
        report.n_equal += int(equal)
        report.per_clip.append({"clip": name, "logits": lg["rms_rel"], "gap": gap, "equal": equal})


def verify_pte(pte_path, scheme, loaded, clips, *, sim_model=None, threads: int | None = None) -> VerifyReport:
    """Gate + numbers + tokens of `pte_path` against `simulate(loaded.model, scheme)` on `clips` (see above)."""
    from myqasr.simulate import simulate

    from .runner import PteModel

    if not clips:
        raise MyqasrError(f"{pte_path}: verification needs at least one clip")
    report = VerifyReport(gate_offending=file_gate(pte_path))
    pte = PteModel(pte_path, threads=threads)
    sim = sim_model if sim_model is not None else simulate(loaded.model, scheme)
    sim.eval()
    if pte.vocab.arch == "whisper":
        verify_whisper(pte, sim, loaded.processor, clips, report)
        report.worst_gap = max([c["gap"] for c in report.per_clip] + [0.0])
    elif pte.vocab.arch == "wav2vec2":
        verify_ctc(pte, sim, clips, report)
    else:
        raise MyqasrError(f"{pte_path}: unknown architecture {pte.vocab.arch!r} in its vocabulary file")
    return report
