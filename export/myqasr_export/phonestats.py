"""The phone's half of on-phone personalization, run by the host's ExecuTorch runtime (standing in for the phone).

    myqasr export-stats --out stats.pte                                   # once per model (host)
    myqasr phone-stats stats.pte --clips DIR --out phone.stats            # what the app does on the phone
    myqasr personalize --stats phone.stats --budget-mb 40 --out model.pte # host: plan, export, verify

Per clip (cut at pauses into <= 30 s segments like the host pass): the `preprocessor`, one `encoder` call (its
partial statistics), the app's greedy loop on `text_decoder` (each step's partials), then the last token fed once
more (see `myqasr_export.statsprogram`). The partials stream into `myqasr.stats.statistics_from_partials`, the
Python twin of the app's `core/PhoneStats.java`; the file records `computed_on: phone`, the clip count and seconds,
and no audio, text or audio hash.

`write_call_fixtures` writes one clip's calls as the app's JUnit tests read them (gzipped JSON, sparse histograms;
the decoder steps of a clip summed with the aggregation's own rules).
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import torch

from myqasr.constants import SAMPLE_RATE
from myqasr.errors import MyqasrError
from myqasr.stats import PARTIAL_MOMENTS, StreamingStats, statistics_from_partials

from .runner import PteModel
from .statsprogram import load_contract

FIXTURE_FORMAT = "myqasr-stats-calls"


class StatsPteModel(PteModel):
    """A PteModel whose `text_decoder` calls also hand their partial statistics to `sink`."""
    sink = None

    def run(self, method: str, *inputs) -> list:
        out = super().run(method, *inputs)
        if method == "text_decoder" and self.sink is not None:
            self.sink(out[1], out[2])
        return out


class StatsRunner:
    def __init__(self, pte, threads: int | None = None):
        if not Path(pte).is_file():
            raise MyqasrError(f"{pte}: no such .pte file")
        self.contract = load_contract(pte)
        self.model = StatsPteModel(pte, threads)
        if set(self.model.methods) != {"preprocessor", "encoder", "text_decoder"}:
            raise MyqasrError(f"{pte}: not a statistics program (methods {sorted(self.model.methods)})")

    def clip_calls(self, pcm: np.ndarray):
        """Every call's (rows, hist, moments) for one segment of <= 30 s: the encoder's, then each decoder step's."""
        c, model = self.contract, self.model
        feats = model.whisper_features(pcm)
        out = model.run("encoder", feats, torch.tensor([len(pcm)], dtype=torch.long))
        calls = [(c["encoder_layers"], out[-2].numpy(), out[-1].numpy())]
        kv = out[:-2]
        model.sink = lambda h, m: calls.append((c["decoder_layers"], h.numpy(), m.numpy()))
        try:
            ids, _ = model.whisper_greedy(kv)
            w = model.vocab.whisper
            prompt, max_new = list(w["decoder_start_ids"]), int(w["max_new_tokens"])
            stopped_by_eos = len(ids) < max_new
            last = int(w["eos_id"]) if stopped_by_eos else ids[-1]
            pos = len(prompt) + len(ids) - (0 if stopped_by_eos else 1)
            model.run("text_decoder", torch.tensor([[last]], dtype=torch.long), torch.tensor([pos], dtype=torch.long),
                      *kv)
        finally:
            model.sink = None
        return calls


def phone_statistics(pte, clips, *, threads: int | None = None, progress: bool = True, on_clip=None):
    """The statistics file the phone writes for `clips`, computed by the host runtime on the statistics program."""
    from tqdm.auto import tqdm

    import executorch

    from myqasr.longform import calibration_segments

    runner = StatsRunner(pte, threads)
    c = runner.contract
    segments = calibration_segments(clips)

    def calls():
        for i, seg in enumerate(tqdm(segments, desc="statistics (phone program)", disable=not progress)):
            per_clip = runner.clip_calls(seg.audio)
            if on_clip:
                on_clip(i, per_clip)
            yield from per_clip

    seconds = round(sum(len(x.audio) for x in clips) / SAMPLE_RATE, 2)
    provenance = {"computed_on": "phone", "app": "myqasr phone-stats (host stand-in)",
                  "runtime": f"executorch {getattr(executorch, '__version__', '?')} (python)",
                  "clips": len(clips), "seconds": seconds, "program_sha256": c["pte_sha256"]}
    return statistics_from_partials(c["layers"], calls(), model_id=c["model_id"], weights_sha256=c["weights_sha256"],
                                    clips={"count": len(clips), "seconds": seconds}, provenance=provenance)


def merged_call(calls) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Several calls over the same rows summed with the aggregation's own rules (`StreamingStats.add_partial`)."""
    rows = calls[0][0]
    streams = [StreamingStats() for _ in rows]
    for r, hist, moments in calls:
        assert r == rows
        for s, h, m in zip(streams, hist, moments):
            s.add_partial(h, m)
    hist = np.stack([s.hist.numpy() for s in streams])
    moments = np.array([[s.count, s.sum_abs, s.sum_sq, s.max, s.min, s.input_abs_max] for s in streams])
    assert len(PARTIAL_MOMENTS) == moments.shape[1]
    return rows, hist, moments


def call_fixture(rows, hist, moments) -> dict:
    """One call as JSON: per row the non-zero bins and their counts, and the moments (exact doubles)."""
    out = []
    for name, h, m in zip(rows, hist, moments):
        nz = np.nonzero(h)[0]
        out.append({"layer": name, "bins": nz.tolist(), "counts": [int(v) if float(v).is_integer() else float(v)
                                                                   for v in h[nz]],
                    "moments": [float(v) for v in m]})
    return {"format": FIXTURE_FORMAT, "moments": list(PARTIAL_MOMENTS), "rows": out}


def write_call_fixtures(out_dir: Path, clip_index: int, calls) -> list[Path]:
    """clip<i>.encoder.json.gz and clip<i>.decoder.json.gz (the clip's decoder steps summed)."""
    paths = []
    for part, group in (("encoder", calls[:1]), ("decoder", calls[1:])):
        path = Path(out_dir) / f"clip{clip_index}.{part}.json.gz"
        text = json.dumps(call_fixture(*merged_call(group)), separators=(",", ":"))
        path.write_bytes(gzip.compress(text.encode(), mtime=0))
        paths.append(path)
    return paths
