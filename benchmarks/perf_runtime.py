"""Perf study 2, runtime against peers: end to end audio -> text on the sample user's test clips, every engine in
its own process: our `.pte` at three budgets (ExecuTorch runtime), eager PyTorch fp32 (HF generate), the eager
simulated model, and ctranslate2 on the bundled tiny.en at int8 and float32 (the same log-mel features and prompt,
greedy). Per-utterance time = median over repeats, after one warm-up pass.

Part of `python -m benchmarks.perf` (`--parts runtime`); its rows are `perf.json["runtime"]`.
"""
from __future__ import annotations

import statistics as pystats
import time
from pathlib import Path

from myqasr.constants import SAMPLE_RATE, WHISPER_EN_PROMPT, WHISPER_MAX_NEW_TOKENS

from benchmarks.harness import (fmt_or_dash, peak_rss_mb, rss_mb, run_child, sample_user_clips, save_figure,
                                table)

RUNTIME_POINTS = ("int8-size", "midway", "int4-size")
REFERENCE_ENGINE = ".pte int8-size"          # "x ours" is relative to this engine
PEER_ENGINE = "ctranslate2 int8"             # the target: our .pte at or below its time, with no worse WER


def pte_engine(spec: dict, threads: int):
    from myqasr_export.runner import PteModel
    m = PteModel(spec["pte"], threads=threads)

    def transcribe(audio):
        r = m.transcribe(audio)
        t = r.timings
        return r.text, {"encode_s": t.get("encode_s", 0.0) + t.get("preprocess_s", 0.0),
                        "decode_s": t.get("decode_s", 0.0), "steps": r.n_steps}
    return transcribe


def ct2_engine(spec: dict, threads: int):
    import ctranslate2
    import numpy as np
    from transformers import WhisperFeatureExtractor, WhisperTokenizer
    from myqasr.embedded import bundled_ct2_dir, ensure_embedded_cache

    hf_dir, _ = ensure_embedded_cache()
    fe = WhisperFeatureExtractor.from_pretrained(hf_dir)
    tok = WhisperTokenizer.from_pretrained(hf_dir)
    m = ctranslate2.models.Whisper(str(bundled_ct2_dir()), device="cpu", compute_type=spec["compute_type"],
                                   intra_threads=threads, inter_threads=1)

    def transcribe(audio):
        feats = fe(audio, sampling_rate=SAMPLE_RATE, return_tensors="np").input_features
        t1 = time.perf_counter()
        res = m.generate(ctranslate2.StorageView.from_array(np.ascontiguousarray(feats, dtype=np.float32)),
                         [list(WHISPER_EN_PROMPT)], beam_size=1, max_length=WHISPER_MAX_NEW_TOKENS)
        ids = res[0].sequences_ids[0]
        return tok.decode(ids, skip_special_tokens=True).strip(), {"steps": len(ids) + 1,
                                                                   "generate_s": time.perf_counter() - t1}
    return transcribe


def eager_engine(spec: dict, threads: int):
    """Eager PyTorch: full precision ("hf") or the simulated quantized model of a scheme ("sim")."""
    from myqasr.adapters import adapter_for
    from myqasr.models import load_model
    loaded = load_model(None)
    model = loaded.model
    if spec["engine"] == "sim":
        from myqasr.scheme import load_scheme
        from myqasr.simulate import simulate
        model = simulate(loaded.model, load_scheme(spec["scheme"])).eval()
    adapter = adapter_for(loaded.arch, loaded.processor)

    def transcribe(audio):
        seq = adapter.generate_ids(model, [audio])[0]
        return loaded.processor.batch_decode([seq], skip_special_tokens=True)[0].strip(), {"steps": len(seq) - 1}
    return transcribe


ENGINES = {"pte": pte_engine, "ct2": ct2_engine, "hf": eager_engine, "sim": eager_engine}


def child_engine(spec: dict) -> dict:
    """Load one engine, one warm-up clip, then `repeats` timed passes over the test clips."""
    from myqasr.evaluate import wer

    threads = int(spec["threads"])
    clips = sample_user_clips("test", spec["n_test"], with_text=True)
    rss0 = rss_mb()
    t0 = time.perf_counter()
    f = ENGINES[spec["engine"]](spec, threads)
    load_s = time.perf_counter() - t0
    rss_loaded = rss_mb()
    for c in clips[:1] if spec["repeats"] > 1 else []:                # warm-up
        f(c.audio)
    times = [[] for _ in clips]
    extras = [[] for _ in clips]
    texts = [None] * len(clips)
    changed = 0
    for _ in range(max(1, spec["repeats"])):
        for i, c in enumerate(clips):
            t = time.perf_counter()
            text, extra = f(c.audio)
            times[i].append(time.perf_counter() - t)
            extras[i].append(extra)
            if texts[i] is not None and text != texts[i]:
                changed += 1
            texts[i] = texts[i] if texts[i] is not None else text
    per_clip = [pystats.median(ts) for ts in times]
    audio = [c.seconds for c in clips]
    out = {"engine": spec["label"], "threads": threads, "load_s": load_s, "per_clip_s": per_clip,
           "mean_s": sum(per_clip) / len(per_clip), "median_s": pystats.median(per_clip),
           "rtf": sum(per_clip) / sum(audio), "audio_s": audio, "texts": texts, "text_changes": changed,
           "wer": wer([c.text for c in clips], texts), "rss_start_mb": rss0, "rss_loaded_mb": rss_loaded,
           "peak_rss_mb": peak_rss_mb(), "repeats": spec["repeats"]}
    keys = {k for e in extras for d in e for k in d}
    for k in keys:
        vals = [pystats.median([d[k] for d in e]) for e in extras]
        out[f"mean_{k}"] = sum(vals) / len(vals)
    if "decode_s" in keys and "steps" in keys:
        out["ms_per_step"] = 1000 * out["mean_decode_s"] / max(out["mean_steps"], 1)
    return out


def engine_specs(points: dict) -> list[dict]:
    """Our .pte at the runtime budgets, then the peers."""
    out = [{"label": f".pte {lab}", "engine": "pte", "pte": points[lab]["pte"]} for lab in RUNTIME_POINTS
           if lab in points]
    return out + [{"label": "HF eager fp32", "engine": "hf"},
                  {"label": "eager simulated (midway)", "engine": "sim", "scheme": points["midway"]["scheme"]},
                  {"label": "ctranslate2 int8", "engine": "ct2", "compute_type": "int8"},
                  {"label": "ctranslate2 float32", "engine": "ct2", "compute_type": "float32"}]


N_ENGINES = 7    # len(engine_specs(...)) with all three runtime points: progress steps per thread count


def measure(st, points: dict, progress) -> list[dict]:
    rows = []
    for th in st.threads:
        for e in engine_specs(points):
            progress.doing(f"{e['label']} {th} thr")
            r = run_child(child_engine, {**e, "threads": th, "repeats": st.repeats, "n_test": st.n_test}, th)
            r.setdefault("engine", e["label"])
            r.setdefault("threads", th)
            rows.append(r)
            progress.done()
            progress.log(f"{e['label']} threads={th}: " + (r.get("error") or
                         f"{r['mean_s']:.3f} s/utt, WER {100 * r['wer']:.1f} %, peak {r['peak_rss_mb']:.0f} MB"))
    return rows


def slower_than_peer(rows: list[dict]) -> list[dict]:
    """Our .pte rows slower than ctranslate2 int8 at the same threads."""
    ours = [r for r in rows if r["engine"].startswith(".pte") and "error" not in r]
    peer = {r["threads"]: r for r in rows if r["engine"] == PEER_ENGINE and "error" not in r}
    return [r for r in ours if r["threads"] in peer and r["mean_s"] > peer[r["threads"]]["mean_s"]]


# ---------------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------------

def table_row(r: dict, ref: dict) -> list:
    if "error" in r:
        return [r["engine"], r["threads"], "error: " + r["error"][:160]] + [""] * 8
    base = ref.get(r["threads"])
    return [r["engine"], r["threads"], f"{r['mean_s']:.3f}", f"{r['median_s']:.3f}", f"{r['rtf']:.3f}",
            f"{r['mean_s'] / base['mean_s']:.2f}" if base else "-",
            fmt_or_dash(r.get("mean_encode_s"), 3), fmt_or_dash(r.get("ms_per_step"), 1),
            f"{100 * r['wer']:.1f}", f"{r['peak_rss_mb']:.0f}", f"{r['load_s']:.2f}"]


def target_lines(rt: list[dict]) -> list[str]:
    peer = {r["threads"]: r for r in rt if r["engine"] == PEER_ENGINE and "error" not in r}
    lines = []
    for r in rt:
        if not r["engine"].startswith(".pte") or "error" in r or r["threads"] not in peer:
            continue
        c = peer[r["threads"]]
        fast = r["mean_s"] <= c["mean_s"]
        good = r["wer"] <= c["wer"] + 1e-9
        lines.append(f"- {r['engine']}, {r['threads']} thread(s): {r['mean_s']:.3f} vs ctranslate2 int8 "
                     f"{c['mean_s']:.3f} s/utt ({r['mean_s'] / c['mean_s']:.2f}x), WER {100 * r['wer']:.1f} vs "
                     f"{100 * c['wer']:.1f} % -> **{'met' if fast and good else 'NOT met'}**"
                     + ("" if fast else " (slower)") + ("" if good else " (worse WER)"))
    if not lines:
        return []
    return ["**Target: our `.pte` at or below ctranslate2 int8 time with no worse WER.**", ""] + lines + [""]


def section(res: dict) -> list[str]:
    rt = res.get("runtime", [])
    if not rt:
        return []
    ref = {r["threads"]: r for r in rt if r["engine"] == REFERENCE_ENGINE and "error" not in r}
    rows = [table_row(r, ref) for r in rt]
    n = len(rt[0].get("per_clip_s", [])) if rt and "error" not in rt[0] else "?"
    reps = res["settings"]["repeats"]
    out = ["## 2. Runtime against peers (sample user, test clips)", "",
           f"{n} clips ({sum(rt[0].get('audio_s', [])):.1f} s of audio), end to end audio -> text per clip: our "
           "`.pte` = preprocessor (log-mel) + encoder + greedy `text_decoder` steps in the ExecuTorch runtime "
           "(`myqasr_export.runner.PteModel`); HF = feature extractor + `generate` (greedy) + decode; "
           f"ctranslate2 = the same feature extractor + `Whisper.generate` (prompt [{list(WHISPER_EN_PROMPT)}], "
           f"beam 1) + decode. s/utt = mean over clips of each clip's median over {reps} timed passes (one warm-up "
           "pass first). RTF = total time / total audio. x ours = time / `.pte int8-size` time at the same threads. "
           "encode s (`.pte`: preprocessor + encoder) and ms/step (decoder step incl. Python greedy loop) come "
           "from the runner's timings. Peak RSS is the whole process (Python, torch and the engine; the `.pte` "
           "process imports torch + executorch, the ctranslate2 one imports transformers for the features).", "",
           table(["engine", "threads", "s/utt mean", "s/utt median", "RTF", "x ours", "encode s", "ms/step",
                  "WER %", "peak RSS MB", "load s"], rows), ""]
    out += target_lines(rt)
    changed = [r for r in rt if r.get("text_changes")]
    if changed:
        out += ["Transcripts that changed between repeats: " + ", ".join(
            f"{r['engine']} ({r['threads']} thr): {r['text_changes']}" for r in changed), ""]
    return out


def plot(res: dict, out: Path, plt) -> list[str]:
    """perf_runtime.png: seconds per utterance of every engine, one bar per thread count."""
    rt = [r for r in res.get("runtime", []) if "error" not in r]
    if not rt:
        return []
    names = list(dict.fromkeys(r["engine"] for r in rt))
    ths = sorted({r["threads"] for r in rt})
    fig, ax = plt.subplots(figsize=(9, 4.5))
    w = 0.8 / len(ths)
    for j, th in enumerate(ths):
        vals = [next((r["mean_s"] for r in rt if r["engine"] == n and r["threads"] == th), 0) for n in names]
        bars = ax.bar([i + j * w for i in range(len(names))], vals, w, label=f"{th} thread(s)")
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks([i + w * (len(ths) - 1) / 2 for i in range(len(names))])
    ax.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("seconds per utterance (audio -> text)")
    ax.set_title("Whisper tiny.en, sample user test clips")
    ax.legend()
    return [save_figure(fig, out / "perf_runtime.png", 110)]
