"""Long recordings: the `.pte`'s long-form transcription against transformers' own, the front end, calibration memory.

    python -m benchmarks.longform [--minutes 1 3 5] [--voice flite_slt] [--pte all-int8.pte] [--threads 2]
    python -m benchmarks.longform --render-only

Recordings: the voice's test sentences (`benchmarks.voices`, rendered on first use) joined in order with pauses of
0.4-1.2 s (fixed seed), cycling when a recording is longer than the sentences. Each runs in its own process per
engine (`harness.run_child`):

- `.pte` (all-int8 size; `myqasr personalize` at that budget on the sample user unless --pte names one) through
  `myqasr_export.runner` (Whisper's sequential long-form method, `myqasr.longform`);
- transformers `generate(return_timestamps=True)` on the full-precision model (the reference), and a fixed-window
  baseline (30 s windows cut blindly, no timestamps, texts joined) to show what the method buys.
WER against the sentences' text and against the reference transcript, RTF (total time / audio time), peak RSS.

Front end: our `LogMel` (the `.pte`'s preprocessor) against `executorch.extension.audio.mel_spectrogram.
WhisperAudioProcessor` and the transformers feature extractor on 30 s windows, eager and lowered (features, time,
and whether the full-precision model's greedy transcript of each window changes).

Calibration memory: peak RSS of a statistics pass on 20 short clips, a 1-minute and a 10-minute recording.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import (ROOT, Stage, header, lifetime_peak_rss_mb, machine_meta, read_json, run_child, table,
                                write_json, write_text)

RESULTS = ROOT / "benchmarks" / "results"
WORK = Path.home() / ".cache" / "myqasr" / "longform"
PAUSE_S = (0.4, 1.2)
N_SENTENCES = 56


def voice_clips(work: Path, voice: str) -> list[tuple[Path, str]]:
    """(wav, text) of every sentence in the voice (rendered into `work/voices` on first use)."""
    from benchmarks.voices import SENTENCES, VOICES_BY_USER, render

    d = work / "voices"
    n = min(N_SENTENCES, len(SENTENCES))
    jobs = [(VOICES_BY_USER[voice], i, d / voice / f"{i:03d}.wav") for i in range(n)]
    todo = [j for j in jobs if not j[2].exists()]
    if todo:
        render(d, todo)
    return [(j[2], SENTENCES[j[1]]) for j in jobs]


def join_sentences(clips: list[tuple[Path, str]], seconds: float, seed: int = 0) -> tuple[np.ndarray, str]:
    """Sentences in order (cycling) with random pauses until `seconds`; (pcm float32 16 kHz, reference text)."""
    from myqasr.audio import load_audio
    from myqasr.constants import SAMPLE_RATE

    rng = np.random.default_rng(seed)
    parts, texts, n, k = [], [], 0, 0
    while n < seconds * SAMPLE_RATE:
        wav, text = clips[k % len(clips)]
        a = load_audio(wav)
        pause = np.zeros(int(rng.uniform(*PAUSE_S) * SAMPLE_RATE), np.float32)
        parts += [a, pause]
        texts.append(text)
        n += len(a) + len(pause)
        k += 1
    return np.concatenate(parts), " ".join(texts)


def write_recordings(work: Path, voice: str, minutes: list[float]) -> list[dict]:
    import soundfile as sf

    clips = voice_clips(work, voice)
    out = []
    for m in minutes:
        pcm, text = join_sentences(clips, 60 * m, seed=int(m * 10))
        wav = work / f"{voice}-{m:g}min.wav"
        sf.write(str(wav), pcm, 16000, subtype="PCM_16")
        out.append({"minutes": m, "wav": str(wav), "seconds": round(len(pcm) / 16000, 2), "text": text,
                    "sentences": len(text.split(". "))})
    return out


# ---- children --------------------------------------------------------------------------------------------------------

def pte_child(spec: dict) -> dict:
    from myqasr.audio import load_audio
    from myqasr_export.runner import PteModel

    model = PteModel(spec["pte"], threads=spec["threads"])
    rows = []
    for wav in spec["wavs"]:
        r = model.transcribe(load_audio(wav), wav, progress=False)
        rows.append({"text": r.text, "seconds": r.timings["total_s"], "windows": r.windows, "steps": r.n_steps,
                     "timings": r.timings})
    return {"rows": rows, "peak_rss_mb": lifetime_peak_rss_mb()}


def hf_child(spec: dict) -> dict:
    """transformers long-form (timestamps) or blind 30 s windows, full precision, on each recording."""
    from myqasr.adapters import WhisperAdapter
    from myqasr.audio import load_audio
    from myqasr.constants import WHISPER_N_SAMPLES
    from myqasr.models import load_model

    loaded = load_model()
    adapter = WhisperAdapter(loaded.processor)
    rows = []
    for wav in spec["wavs"]:
        audio = load_audio(wav)
        t = time.perf_counter()
        if spec["mode"] == "longform":
            seqs = adapter.generate_longform(loaded.model, audio, progress=False)
            text = loaded.processor.batch_decode(seqs, skip_special_tokens=True)[0].strip()
        else:
            pieces = [audio[i:i + WHISPER_N_SAMPLES] for i in range(0, len(audio), WHISPER_N_SAMPLES)]
            text = " ".join(adapter.transcribe(loaded.model, pieces, batch_size=1))
        rows.append({"text": text, "seconds": time.perf_counter() - t})
    return {"rows": rows, "peak_rss_mb": lifetime_peak_rss_mb()}


def stats_child(spec: dict) -> dict:
    """Peak RSS of loading the clips + the statistics pass with `batch` segments per full-precision transcription
    batch, with the cost pass if `costs` (and of the whole process)."""
    import myqasr.plan
    from myqasr.audio import load_clips
    from myqasr.longform import calibration_segments
    from myqasr.models import load_model
    from myqasr.plan import compute_statistics

    myqasr.plan.CALIBRATION_TRANSCRIBE_BATCH = spec["batch"]
    loaded = load_model()
    with Stage() as s:
        clips = load_clips(spec["clips"])
        segments = calibration_segments(clips)
        compute_statistics(loaded, clips, progress=False, costs=spec.get("costs", False))
    return {**s.row("stats"), "segments": len(segments), "audio_s": sum(c.seconds for c in clips),
            "longest_segment_s": max(c.seconds for c in segments), "process_peak_mb": lifetime_peak_rss_mb(),
            "batch": spec["batch"]}


def ct2_child(spec: dict) -> dict:
    """ctranslate2 int8 on the bundled tiny.en, long-form: `Whisper.generate` with timestamps on sequential 30 s
    windows that move on by the last timestamp (`myqasr.longform.whisper_longform`, the rule our `.pte` runs;
    faster-whisper's own loop without VAD is this method plus conditioning on the previous text and temperature
    fallback, both off here as in ours), transformers' log-mel features of each window zero-padded to 30 s."""
    import ctranslate2
    from transformers import WhisperFeatureExtractor, WhisperTokenizer

    from myqasr.audio import load_audio
    from myqasr.constants import (SAMPLE_RATE, WHISPER_MAX_INITIAL_TIMESTAMP, WHISPER_MAX_NEW_TOKENS,
                                  WHISPER_N_SAMPLES, WHISPER_SOT_ID, WHISPER_TIMESTAMP_BEGIN_ID)
    from myqasr.embedded import bundled_ct2_dir, ensure_embedded_cache
    from myqasr.longform import whisper_longform

    hf_dir, _ = ensure_embedded_cache()
    fe = WhisperFeatureExtractor.from_pretrained(hf_dir)
    tok = WhisperTokenizer.from_pretrained(hf_dir)
    model = ctranslate2.models.Whisper(str(bundled_ct2_dir()), device="cpu", compute_type=spec["compute_type"],
                                       intra_threads=spec["threads"], inter_threads=1)
    rows = []
    for wav in spec["wavs"]:
        audio = load_audio(wav)
        t = time.perf_counter()

        def decode_window(start: int, samples: int) -> list[int]:
            window = np.zeros(WHISPER_N_SAMPLES, dtype=np.float32)
            window[:samples] = audio[start:start + samples]
            feats = fe(window, sampling_rate=SAMPLE_RATE, return_tensors="np").input_features
            res = model.generate(ctranslate2.StorageView.from_array(np.ascontiguousarray(feats, dtype=np.float32)),
                                 [[WHISPER_SOT_ID]], beam_size=1, max_length=WHISPER_MAX_NEW_TOKENS,
                                 max_initial_timestamp_index=WHISPER_MAX_INITIAL_TIMESTAMP)
            return list(res[0].sequences_ids[0])

        long = whisper_longform(len(audio), decode_window, WHISPER_TIMESTAMP_BEGIN_ID)
        text = tok.decode(long.tokens, skip_special_tokens=True).strip()
        rows.append({"text": text, "seconds": time.perf_counter() - t, "windows": len(long.windows),
                     "steps": sum(len(w.tokens) + 1 for w in long.windows)})
    return {"rows": rows, "peak_rss_mb": lifetime_peak_rss_mb()}


def frontend_child(spec: dict) -> dict:
    """Features of our LogMel vs WhisperAudioProcessor vs transformers on 30 s windows; eager and lowered; greedy
    transcripts of the full-precision model from each."""
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import EdgeCompileConfig, to_edge_transform_and_lower
    from executorch.extension.audio.mel_spectrogram import WhisperAudioProcessor
    from executorch.runtime import Runtime
    from myqasr.audio import load_audio
    from myqasr.constants import WHISPER_N_SAMPLES
    from myqasr.models import load_model
    from myqasr_export.whisper import LogMel

    loaded = load_model()
    fe = loaded.processor.feature_extractor
    audio = load_audio(spec["wav"])
    starts = range(0, len(audio) - WHISPER_N_SAMPLES // 2, 10 * 16000)             # a window every 10 s
    windows = [audio[i:i + WHISPER_N_SAMPLES] for i in starts][: spec["windows"]]
    pads = [torch.nn.functional.pad(torch.from_numpy(w), (0, WHISPER_N_SAMPLES - len(w))) for w in windows]
    front = {"LogMel (ours)": LogMel(fe.mel_filters).eval(),
             "WhisperAudioProcessor": WhisperAudioProcessor(feature_size=fe.feature_size).eval()}
    ref = [fe(w, sampling_rate=16000, return_tensors="pt").input_features for w in windows]
    out = {}
    rt = Runtime.get()
    for name, mod in front.items():
        with torch.no_grad():
            eager = [mod(p) for p in pads]
            ep = torch.export.export(mod, (pads[0],), strict=True)
        t = time.perf_counter()
        prog = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()],   # as export_processor does
                                           compile_config=EdgeCompileConfig(_check_ir_validity=False)).to_executorch()
        lower_s = time.perf_counter() - t
        method = rt.load_program(prog.buffer).load_method("forward")
        lowered, times = [], []
        for p in pads:
            t = time.perf_counter()
            lowered.append(method.execute([p])[0])
            times.append(time.perf_counter() - t)
        with torch.no_grad():
            texts = [loaded.processor.batch_decode(loaded.model.generate(f, num_beams=1, do_sample=False,
                                                                          max_new_tokens=128),
                                                   skip_special_tokens=True)[0].strip() for f in lowered]
        out[name] = {"eager_vs_hf_max": max(float((e - r).abs().max()) for e, r in zip(eager, ref)),
                     "lowered_vs_hf_max": max(float((x - r).abs().max()) for x, r in zip(lowered, ref)),
                     "lowered_vs_eager_max": max(float((x - e).abs().max()) for x, e in zip(lowered, eager)),
                     "ms_per_window": 1000 * float(np.median(times)), "lower_s": lower_s,
                     "pte_bytes": len(prog.buffer), "texts": texts}
    with torch.no_grad():
        out["transformers"] = {"texts": [loaded.processor.batch_decode(
            loaded.model.generate(r, num_beams=1, do_sample=False, max_new_tokens=128),
            skip_special_tokens=True)[0].strip() for r in ref]}
    return out


# ---- the study -------------------------------------------------------------------------------------------------------

def default_pte(work: Path, threads: int) -> str:
    """An all-int8-size `.pte` personalized on the sample user (made once, cached in `work`)."""
    pte = work / "all-int8.pte"
    if not pte.exists():
        import subprocess
        from myqasr.models import load_model
        from myqasr.plan import uniform_bytes
        budget = math.ceil(uniform_bytes(load_model(), 1) / 1e3) / 1e3       # MB, rounded up: the all-int8 size
        subprocess.run([sys.executable, "-m", "myqasr_export", "personalize", "--budget-mb", f"{budget:.3f}",
                        "--out", str(pte), "--threads", str(threads)], check=True, cwd=ROOT)
    return str(pte)


def measure(a) -> dict:
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    recs = write_recordings(work, a.voice, a.minutes)
    wavs = [r["wav"] for r in recs]
    pte = a.pte or default_pte(work, a.threads)
    rows = engine_rows(a, recs, pte, ENGINES)
    return {"meta": machine_meta(a.threads), "command": " ".join(["python -m benchmarks.longform"] + sys.argv[1:]),
            "pte": pte, "voice": a.voice, "recordings": recs, "rows": rows, "memory": measure_memory(a, work),
            "frontend": measure_frontend(a, wavs[0])}


REFERENCE = "transformers fp32 long-form (reference)"
ENGINES = {   # short name (--engines) -> (row label, child, its spec beyond wavs and threads)
    "pte": (".pte all-int8 (myqasr long-form)", pte_child, {}),
    "ct2": ("ctranslate2 int8 long-form (faster-whisper-style)", ct2_child, {"compute_type": "int8"}),
    "hf": (REFERENCE, hf_child, {"mode": "longform"}),
    "hf-blind": ("transformers fp32, blind 30 s windows", hf_child, {"mode": "blind"}),
}


def engine_rows(a, recs: list[dict], pte: str, engines: dict, reference_texts: list[str] | None = None) -> list[dict]:
    """One row per recording and engine (each engine in its own process over all recordings): WER against the text
    and against the reference engine's transcript (`reference_texts` when the reference is not among `engines`)."""
    from myqasr.evaluate import wer

    wavs = [r["wav"] for r in recs]
    results = {}
    for label, child, extra in engines.values():
        res = run_child(child, {"pte": pte, "wavs": wavs, "threads": a.threads, **extra}, a.threads)
        if "error" in res:
            raise SystemExit(f"{label}: {res['error']}")
        results[label] = res
    if REFERENCE in results:
        reference_texts = [r["text"] for r in results[REFERENCE]["rows"]]
    rows = []
    for i, rec in enumerate(recs):
        for label, res in results.items():
            r = res["rows"][i]
            rows.append({"minutes": rec["minutes"], "audio_s": rec["seconds"], "engine": label,
                         "wer": wer(rec["text"], r["text"]), "wer_vs_reference": wer(reference_texts[i], r["text"]),
                         "rtf": r["seconds"] / rec["seconds"], "seconds": r["seconds"],
                         "windows": r.get("windows"), "peak_rss_mb": res["peak_rss_mb"], "text": r["text"]})
    return rows


def measure_engines_again(a, data: dict) -> dict:
    """Some engines measured again on the committed recordings (same files, re-rendered from the same seed), their
    rows replacing or joining the earlier ones; the reference transcripts are the committed ones."""
    work = Path(a.work)
    recs = write_recordings(work, data["voice"], [r["minutes"] for r in data["recordings"]])
    picked = {k: ENGINES[k] for k in a.engines}
    refs = [next(r["text"] for r in data["rows"] if r["engine"] == REFERENCE and r["minutes"] == rec["minutes"])
            for rec in recs]
    new = engine_rows(a, recs, a.pte or data["pte"], picked, refs)
    labels = {v[0] for v in picked.values()}
    order = [v[0] for v in ENGINES.values()]
    rows = [r for r in data["rows"] if r["engine"] not in labels] + new
    rows.sort(key=lambda r: (r["minutes"], order.index(r["engine"]) if r["engine"] in order else len(order)))
    again = {"command": " ".join(["python -m benchmarks.longform"] + sys.argv[1:]), "meta": machine_meta(a.threads),
             "engines": sorted(labels), "pte": a.pte or data["pte"]}
    return {**data, "rows": rows, "engines_again": data.get("engines_again", []) + [again]}


MEMORY_MINUTES = (1, 3, 10)
BATCH_BEFORE = 4          # the transcription batch of the statistics pass before CALIBRATION_TRANSCRIBE_BATCH


def measure_memory(a, work: Path, costs: bool = False) -> list[dict]:
    """Peak RSS of the statistics pass (with the cost pass if `costs`) on 20 short clips and 1-, 3- and 10-minute
    recordings, each at the transcription batch before (BATCH_BEFORE) and now (CALIBRATION_TRANSCRIBE_BATCH), one
    process per run, run one after the other."""
    from myqasr.constants import CALIBRATION_TRANSCRIBE_BATCH
    import soundfile as sf
    clips = voice_clips(work, a.voice)
    inputs = []
    for m in MEMORY_MINUTES:
        path = work / f"{a.voice}-{m}min-stats.wav"
        if not path.exists():
            sf.write(str(path), join_sentences(clips, 60 * m, seed=m)[0], 16000, subtype="PCM_16")
        inputs.append((f"{m}-minute recording", str(path)))
    short_dir = work / "short20"
    short_dir.mkdir(exist_ok=True)
    for k, (wav, _) in enumerate(clips[:20]):
        dst = short_dir / wav.name
        if not dst.exists():
            dst.write_bytes(wav.read_bytes())
    memory = []
    for label, src in [("20 short clips", str(short_dir)), *inputs]:
        for batch in dict.fromkeys((BATCH_BEFORE, CALIBRATION_TRANSCRIBE_BATCH)):
            res = run_child(stats_child, {"clips": src, "costs": costs, "batch": batch}, a.threads)
            if "error" in res:
                raise SystemExit(f"stats {label}: {res['error']}")
            memory.append({"input": label, **res})
    return memory


def measure_frontend(a, wav: str) -> dict:
    frontend = run_child(frontend_child, {"wav": wav, "windows": a.frontend_windows}, a.threads)
    if "error" in frontend:
        raise SystemExit(f"front end: {frontend['error']}")
    return frontend


def memory_table(mem: list[dict]) -> str:
    batches = list(dict.fromkeys(m.get("batch", BATCH_BEFORE) for m in mem))
    rows = {}
    for m in mem:
        rows.setdefault(m["input"], {})[m.get("batch", BATCH_BEFORE)] = m
    head = ["input", "audio s", "segments (<= 30 s)", "longest segment s"]
    for b in batches:
        head += [f"time s (batch {b})", f"peak RSS MB (batch {b})"]
    body = []
    for label, by in rows.items():
        m = next(iter(by.values()))
        body.append([label, f"{m['audio_s']:.0f}", m["segments"], f"{m['longest_segment_s']:.1f}"]
                    + [x for b in batches for x in ((f"{by[b]['stats_s']:.1f}", f"{by[b]['stats_peak_mb']:.0f}")
                                                    if b in by else ("-", "-"))])
    return table(head, body)


def render(data: dict, out: Path) -> str:
    rows = data["rows"]
    ref = "transformers fp32 long-form (reference)"
    lines = [header("Long recordings: long-form transcription, front end, calibration memory", data["command"],
                    data["meta"]),
             f"Recordings: voice `{data['voice']}`, its sentences joined with 0.4-1.2 s pauses; `.pte`: "
             f"`{Path(data['pte']).name}`. WER after Whisper's English normalizer; RTF = wall time / audio time "
             "(model load excluded), one process per engine.", "",
             "## Transcription", "",
             *[f"Rows of {', '.join(g['engines'])} measured again with `{g['command']}` on {g['meta']['date']} "
               f"(`.pte`: `{Path(g['pte']).name}`); WER vs reference against the committed reference transcripts."
               for g in data.get("engines_again", [])],
             "", "s per audio minute = 60 x RTF. ctranslate2 int8 long-form: the bundled tiny.en CTranslate2 model, "
             "`Whisper.generate` with timestamps (prompt <|startoftranscript|> alone, greedy) on sequential 30 s "
             "windows that move on by the last timestamp, the rule our `.pte` runs (`myqasr.longform`); this is "
             "faster-whisper's loop without VAD minus its conditioning on the previous window's text and its "
             "temperature fallback (both off, as in ours).", "",
             table(["audio", "engine", "WER vs text", "WER vs reference", "RTF", "s per audio min", "windows",
                    "peak RSS MB"],
                   [[f"{r['audio_s'] / 60:.1f} min", r["engine"], f"{100 * r['wer']:.1f} %",
                     f"{100 * r['wer_vs_reference']:.1f} %", f"{r['rtf']:.3f}", f"{60 * r['rtf']:.1f}",
                     r["windows"] or "-",
                     f"{r['peak_rss_mb']:.0f}"] for r in rows]), ""]
    pte = [r for r in rows if r["engine"].startswith(".pte")]
    refs = {r["minutes"]: r for r in rows if r["engine"] == ref}
    gaps = [100 * (r["wer"] - refs[r["minutes"]]["wer"]) for r in pte]
    lines += [f"`.pte` WER minus reference WER (points): {', '.join(f'{g:+.1f}' for g in gaps)} "
              f"(done-when: within 1 point).", ""]
    lines += ["## Calibration memory (statistics pass, one process each)", "",
              "Peak RSS of loading the clips plus the pass (model loaded before). A recording longer than 30 s "
              "stays in its file (`myqasr.audio.StreamedClip`): it is cut at pauses while read in 10 s blocks and "
              "each segment is read again when a pass uses it, so no pass holds more than one batch of segments. "
              "Every segment is a 30 s window for the encoder, so the full-precision transcription's batch of "
              "segments sets that part's peak: at 4 segments (before) it was the pass's peak and a 1-minute "
              "recording (3 segments, one short batch) stayed below the others; at "
              "`CALIBRATION_TRANSCRIBE_BATCH` segments the teacher-forced pass, one segment at a time, sets it. "
              "The cost pass back-propagates one segment at a time, so its peak follows the longest segment's "
              "transcript (<= 30 s), not the recording's length. Both batch sizes are measured in the same run, "
              "one process each.", ""]
    for key, title in (("memory", "Statistics pass (what `personalize` runs)"),
                       ("memory_with_costs", "Statistics pass + cost pass (what `plan --allocator knapsack` runs)")):
        if key not in data:
            continue
        lines += [f"### {title}", "",
                  *([f"Measured with `{data[key + '_command']}` on {data[key + '_meta']['date']}.", ""]
                    if key + "_command" in data else []),
                  memory_table(data[key]), ""]
    fe = data["frontend"]
    names = [k for k, v in fe.items() if isinstance(v, dict) and k != "transformers"]
    lines += ["## Front end: our LogMel vs ExecuTorch's WhisperAudioProcessor (30 s windows)", "",
              table(["front end", "eager vs transformers (max abs)", "lowered vs transformers", "lowered ms/window",
                     "program bytes", "greedy transcripts = transformers features'"],
                    [[n, f"{fe[n]['eager_vs_hf_max']:.2e}", f"{fe[n]['lowered_vs_hf_max']:.2e}",
                      f"{fe[n]['ms_per_window']:.1f}", fe[n]["pte_bytes"],
                      f"{sum(a == b for a, b in zip(fe[n]['texts'], fe['transformers']['texts']))}"
                      f"/{len(fe['transformers']['texts'])}"] for n in names]), ""]
    lines += ["## Transcripts", ""]
    for r in rows:
        lines += [f"- {r['audio_s'] / 60:.1f} min, {r['engine']}: {r['text'][:300]}{'...' if len(r['text']) > 300 else ''}"]
    text = "\n".join(lines) + "\n"
    write_text(out / "longform.md", text)
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.longform", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 3, 5])
    ap.add_argument("--voice", default="flite_slt")
    ap.add_argument("--pte", default=None, help="an all-int8-size .pte (default: personalize one, cached)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frontend-windows", type=int, default=4)
    ap.add_argument("--work", default=str(WORK))
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--render-only", action="store_true")
    ap.add_argument("--memory-only", action="store_true", help="measure the calibration memory again (into the JSON)")
    ap.add_argument("--with-costs", action="store_true",
                    help="with --memory-only: the statistics pass plus the cost pass (`plan`'s knapsack reads it)")
    ap.add_argument("--engines", nargs="+", choices=sorted(ENGINES), default=None,
                    help="measure only these engines again on the committed recordings (rows into the JSON)")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.memory_only:                              # the calibration memory again, into the existing results
        data = read_json(out / "longform.json")
        key = "memory_with_costs" if a.with_costs else "memory"
        data[key] = measure_memory(a, Path(a.work), costs=a.with_costs)
        data[key + "_command"] = " ".join(["python -m benchmarks.longform"] + sys.argv[1:])
        data[key + "_meta"] = machine_meta(a.threads)
    elif a.engines:
        data = measure_engines_again(a, read_json(out / "longform.json"))
    else:
        data = read_json(out / "longform.json") if a.render_only else measure(a)
    if not a.render_only:
        write_json(out / "longform.json", data)
    print(render(data, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
