"""Performance of myqasr on the embedded Whisper tiny.en: personalization cost, runtime against peers, size truth.

    python -m benchmarks.perf [--out benchmarks/results]          # full run (~30 min on 2 cores)
    python -m benchmarks.perf --quick --out /tmp/perf             # smoke test (small settings, ~6 min)

1. Personalization cost (4 / 16 / 64 clips, `torch` 2 threads, a fresh process per configuration): time and peak
   RSS of the statistics pass, the allocation (10 budgets from one statistics pass), `plan()` with min-max
   calibration (10 budgets) and with the cosine search (1 budget), next to
   (a) a store-every-activation baseline (what the reference implementation does, reimplemented minimally here:
       hooks keep every layer's output tensors for all clips, then the exact median of |y| per layer), and
   (b) one plain full-precision pass over the same clips (the same greedy transcription in batches of 4 and the
       same teacher-forced forward per clip as the statistics pass, without hooks).
   Peak RSS of a stage is read from VmHWM after resetting it (`/proc/self/clear_refs`) at the start of the stage,
   which also hands the heap memory freed by earlier stages back to the OS (`myqasr.stats.release_freed_memory`).
   Clips: two flite voices (rms, slt) reading the first 32 sentences of `benchmarks.voices`, rendered once.
2. Runtime against peers on the sample user's 8 test clips, threads 1 and 2, every engine in its own process,
   end to end audio -> text, per-utterance time = median over repeats (after one warm-up pass):
   our `.pte` at three budgets (all-int8 size, midway, all-int4 size) in the ExecuTorch runtime
   (`myqasr.export.runner`), eager PyTorch fp32 (HF generate), the eager simulated model (midway scheme), and
   ctranslate2 on the bundled tiny.en at int8 and float32 (the same log-mel features, prompt [[50257, 50362]],
   greedy). If our `.pte` is slower than ctranslate2 int8, an ETDump profile (executorch >= 1.5) says where the
   time goes.
3. Size truth: five budgets from the all-int8 to the all-int4 size: budget, predicted bytes, real `.pte` (+ `.ptd`)
   bytes, WER of the `.pte`.

Results: `<out>/perf.md`, `perf.json`, `perf_runtime.png`, `perf_cost.png`, `perf_size.png`. Schemes, `.pte` files
and rendered clips live in `--work` (default ~/.cache/myqasr/perf).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics as pystats
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.common import header, table, write_text

DEFAULT_WORK = Path.home() / ".cache" / "myqasr" / "perf"
COST_VOICES = ("flite_rms", "flite_slt")     # 2 voices x 32 sentences = 64 clips
COST_THREADS = 2
PROMPT = [50257, 50362]                      # <|startoftranscript|> <|notimestamps|>
MAX_NEW_TOKENS = 128
RUNTIME_POINTS = ("int8-size", "midway", "int4-size")


@dataclass
class Settings:
    counts: tuple = (4, 16, 64)        # clips for the cost part
    cosine: bool = True                # time the cosine search (1 budget) in the cost part
    threads: tuple = (1, 2)            # runtime part
    repeats: int = 3                   # timed passes over the clips per engine (after one warm-up pass)
    n_test: int = 8                    # sample user test clips
    size_points: int = 5               # budgets of the size table (includes the three runtime budgets)
    alloc_budgets: int = 10            # budgets planned from one statistics pass in the cost part
    cost_threads: int = COST_THREADS   # torch threads of the cost part
    cosine_max: int = 64               # time the cosine search only up to this many clips
    profile: bool = True               # ETDump profile of our .pte when it is slower than ctranslate2 int8

    @staticmethod
    def quick() -> "Settings":
        return Settings(counts=(2, 4), threads=(1,), repeats=1, n_test=2, size_points=2, alloc_budgets=3)


# ---------------------------------------------------------------------------------------------------------------------
# Process helpers (Linux: VmHWM can be reset, so one process measures several stages)
# ---------------------------------------------------------------------------------------------------------------------

def _status(key: str) -> float:
    try:
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    return _status("VmRSS")


def peak_rss_mb() -> float:
    return _status("VmHWM")


def reset_peak() -> None:
    """Reset VmHWM (the process's peak RSS) to the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


class Stage:
    """with Stage() as s: ... -> s.seconds, s.peak_mb (peak RSS during the block), s.rss_before_mb."""

    def __enter__(self):
        import gc
        gc.collect()
        try:                   # start every stage from a trimmed heap: what an earlier stage freed is not counted
            from myqasr.stats import release_freed_memory
            release_freed_memory()
        except ImportError:
            pass
        self.rss_before_mb = rss_mb()
        reset_peak()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self.peak_mb = peak_rss_mb()
        return False

    def row(self, prefix: str) -> dict:
        return {f"{prefix}_s": self.seconds, f"{prefix}_peak_mb": self.peak_mb,
                f"{prefix}_growth_mb": self.peak_mb - self.rss_before_mb}


def run_child(task: str, spec: dict, threads: int | None = None, timeout: float | None = None) -> dict:
    """Run one measurement in a fresh interpreter; its last stdout line is a JSON object."""
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    cmd = [sys.executable, "-m", "benchmarks.perf", "--child", task, "--spec", json.dumps(spec)]
    t = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                           cwd=Path(__file__).resolve().parent.parent)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "task": task}
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode < 0:
        return {"error": f"stopped by signal {-r.returncode}", "task": task}
    if r.returncode != 0 or not lines:
        err = (r.stderr or r.stdout).strip().splitlines()
        return {"error": " | ".join(err[-3:])[-600:] if err else f"exit {r.returncode}", "task": task}
    out = json.loads(lines[-1])
    out["process_s"] = time.perf_counter() - t
    return out


def _set_torch_threads(n: int) -> None:
    import torch
    torch.set_num_threads(n)


# ---------------------------------------------------------------------------------------------------------------------
# Clips
# ---------------------------------------------------------------------------------------------------------------------

def cost_clip_paths(work: Path, n: int) -> list[Path]:
    """n clips: voice 1 sentences 0..31, then voice 2 sentences 0..31 (rendered into work/voices if missing)."""
    from benchmarks import voices as V
    per = 32
    jobs = [(V.VOICES_BY_USER[u], i, work / "voices" / u / f"{i:03d}.wav") for u in COST_VOICES for i in range(per)]
    jobs = jobs[:n]
    if len(jobs) < n:
        raise SystemExit(f"perf: at most {len(COST_VOICES) * per} cost clips")
    missing = [j for j in jobs if not j[2].exists()]
    if missing:
        V.choose_voices([j[0].user for j in missing], V.DEFAULT_PIPER_PYTHON)   # checks that flite/sox exist
        V.render(work / "voices", missing)
    return [j[2] for j in jobs]


def test_clips(n: int):
    from myqasr.audio import SAMPLE_USER_DIR, load_clips
    return load_clips(SAMPLE_USER_DIR / "test", with_text=True)[:n]


# ---------------------------------------------------------------------------------------------------------------------
# Size model helpers
# ---------------------------------------------------------------------------------------------------------------------

def size_points(loaded) -> dict:
    """Bytes of fp32 / all-int8 / all-int4 on the XNNPACK ladder (the size model of myqasr.size)."""
    from myqasr.adapters import adapter_for, rest_params
    from myqasr.allocate import size_range, uniform
    from myqasr.formats import get_ladder
    from myqasr.size import PROFILES, model_bytes

    layers = adapter_for(loaded.arch, loaded.processor).layers(loaded.model)
    ladder, prof, rest = get_ladder("xnnpack"), PROFILES["xnnpack"], rest_params(loaded.model, layers)
    smallest, largest = size_range(layers, ladder, rest, prof)
    return {"fp32": largest, "int8": model_bytes(layers, uniform(layers, ladder, 1), rest, prof),
            "int4": smallest, "layers": layers, "ladder": ladder, "profile": prof, "rest": rest}


def budget_ladder(int8: int, int4: int, k: int) -> list[int]:
    """k budgets (bytes) evenly spaced from the all-int8 size down to the all-int4 size."""
    if k == 1:
        return [int8]
    return [round(int8 - (int8 - int4) * i / (k - 1)) for i in range(k)]


def mix(scheme) -> str:
    from collections import Counter
    c = Counter(p.format.bits for p in scheme.layers)
    return " ".join(f"{c[b]}x{'fp32' if b >= 32 else f'{b}b'}" for b in sorted(c, reverse=True))


# ---------------------------------------------------------------------------------------------------------------------
# Children: 1. personalization cost
# ---------------------------------------------------------------------------------------------------------------------

def _strip(seq, pad):
    try:
        from myqasr.stats import _strip_padding
        return _strip_padding(seq, pad)
    except ImportError:
        return seq


def _transcribe_ids(model, adapter, audios, bs: int = 4) -> list:
    """The statistics pass's transcription: greedy, batches of 4, trailing padding dropped."""
    pad = getattr(model.generation_config, "pad_token_id", None)
    ids = []
    for i in range(0, len(audios), bs):
        ids += [_strip(s, pad) for s in adapter.generate_ids(model, audios[i:i + bs])]
    return ids


def child_cost(spec: dict) -> dict:
    """Plain FP pass, statistics pass, allocation x K, plan(minmax) x K, plan(cosine) x 1 on n clips."""
    _set_torch_threads(spec.get("threads", COST_THREADS))
    from myqasr.allocate import allocate
    from myqasr.adapters import adapter_for
    from myqasr.audio import load_clips
    from myqasr.models import load_model
    from myqasr.plan import PlanConfig, compute_statistics, plan
    from myqasr.size import MB
    from myqasr.stats import save_statistics

    clips = load_clips([Path(p) for p in spec["clips"]])
    loaded = load_model(None)
    adapter = adapter_for(loaded.arch, loaded.processor)
    audios = [c.audio for c in clips]
    sp = size_points(loaded)
    compute_statistics(loaded, clips[:1], progress=False)             # warm-up: lazy imports, allocator
    out = {"clips": len(clips), "audio_s": round(sum(c.seconds for c in clips), 1), "rss_loaded_mb": rss_mb()}

    with Stage() as s:                                                # (b) the plain full-precision pass
        ids = _transcribe_ids(loaded.model, adapter, audios)
        for a, i in zip(audios, ids):
            adapter.stats_forward(loaded.model, a, i)
    out.update(s.row("plain"))
    with Stage() as s:
        stats = compute_statistics(loaded, clips, progress=False)
    out.update(s.row("stats"))
    if spec.get("save_stats"):
        save_statistics(stats, spec["save_stats"])

    budgets = budget_ladder(sp["int8"], sp["int4"], spec["alloc_budgets"])
    sens = stats.metric("median")
    with Stage() as s:
        for b in budgets:
            allocate(sp["layers"], sens, b, sp["ladder"], sp["rest"], sp["profile"])
    out.update(s.row("alloc"))
    with Stage() as s:
        for b in budgets:
            plan(loaded, stats, b / MB, PlanConfig(), progress=False)
    out.update(s.row("minmax"))
    if spec.get("cosine"):
        mid = budgets[len(budgets) // 2]
        try:
            with Stage() as s:
                plan(loaded, stats, mid / MB, PlanConfig(calibration="cosine"), clips=clips, progress=False)
            out.update(s.row("cosine"))
        except Exception as e:   # noqa: BLE001  (sdk/search.py is being worked on)
            out["cosine_error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    out["n_budgets"] = len(budgets)
    import resource
    out["process_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def child_storeall(spec: dict) -> dict:
    """(a) The store-every-activation baseline: keep every layer's output for all clips, then the exact median."""
    _set_torch_threads(spec.get("threads", COST_THREADS))
    import torch
    from myqasr.adapters import adapter_for
    from myqasr.audio import load_clips
    from myqasr.models import load_model

    clips = load_clips([Path(p) for p in spec["clips"]])
    loaded = load_model(None)
    model = loaded.model
    adapter = adapter_for(loaded.arch, loaded.processor)
    layers = adapter.layers(model)
    audios = [c.audio for c in clips]
    ids0 = _transcribe_ids(model, adapter, audios[:1])                # warm-up
    adapter.stats_forward(model, audios[0], ids0[0])
    out = {"clips": len(clips), "rss_loaded_mb": rss_mb()}
    store = {l.name: [] for l in layers}
    ctx: dict = {}

    def hook_for(name):
        def hook(module, inputs, output):
            # the same values the streaming statistics see (padding of the 30 s window dropped), kept as a copy
            store[name].append(adapter.trim(name, output, ctx, False).detach().float().clone())
        return hook

    with Stage() as s:
        ids = _transcribe_ids(model, adapter, audios)
        handles = [model.get_submodule(l.name).register_forward_hook(hook_for(l.name)) for l in layers]
        try:
            for a, i in zip(audios, ids):
                ctx.clear()
                ctx.update(adapter.stats_context(a))
                adapter.stats_forward(model, a, i)
        finally:
            for h in handles:
                h.remove()
        capture_s = time.perf_counter() - s.t0
        stored = sum(t.numel() * t.element_size() for ts in store.values() for t in ts)
        medians = {}
        for name in list(store):
            flat = torch.cat([t.reshape(-1) for t in store[name]]).abs_()
            medians[name] = float(flat.median())
            del flat
    out.update(s.row("storeall"))
    out.update({"storeall_capture_s": capture_s, "stored_mb": stored / 2 ** 20})
    if spec.get("stats_file") and Path(spec["stats_file"]).is_file():
        out.update(_compare_medians(loaded, medians, spec["stats_file"], spec["alloc_budgets"]))
    return out


def _compare_medians(loaded, exact: dict, stats_file: str, k: int) -> dict:
    """How far the streamed (histogram) medians are from the exact ones, and whether allocation changes."""
    from myqasr.allocate import allocate
    from myqasr.stats import load_statistics

    streamed = load_statistics(stats_file).metric("median")
    rel = [abs(streamed[n] - exact[n]) / abs(exact[n]) for n in exact if exact[n]]
    sp = size_points(loaded)
    diff_layers = 0
    for b in budget_ladder(sp["int8"], sp["int4"], k):
        a = allocate(sp["layers"], streamed, b, sp["ladder"], sp["rest"], sp["profile"])
        e = allocate(sp["layers"], exact, b, sp["ladder"], sp["rest"], sp["profile"])
        diff_layers += sum(a[n] != e[n] for n in a)
    return {"median_max_rel_err": max(rel) if rel else float("nan"), "alloc_layers_differing": diff_layers}


# ---------------------------------------------------------------------------------------------------------------------
# Children: 2-3. prepare schemes + .pte files, run engines, profile
# ---------------------------------------------------------------------------------------------------------------------

def child_prepare(spec: dict) -> dict:
    """Statistics on the sample user's calibration clips, schemes for the size ladder, one .pte per scheme."""
    _set_torch_threads(COST_THREADS)
    from myqasr.audio import SAMPLE_USER_DIR, load_clips
    from myqasr.export.cli import export_scheme
    from myqasr.export.size import pte_bytes
    from myqasr.models import load_model
    from myqasr.plan import PlanConfig, compute_statistics, plan
    from myqasr.scheme import load_scheme, save_scheme
    from myqasr.size import MB

    work = Path(spec["work"])
    work.mkdir(parents=True, exist_ok=True)
    loaded = load_model(None)
    sp = size_points(loaded)
    out = {"sizes": {k: sp[k] for k in ("fp32", "int8", "int4")}, "points": []}
    budgets = budget_ladder(sp["int8"], sp["int4"], spec["size_points"])
    labels = {0: "int8-size", len(budgets) - 1: "int4-size"}
    if len(budgets) % 2 == 1 and len(budgets) > 1:
        labels[len(budgets) // 2] = "midway"
    elif "midway" in spec.get("need", ()):                            # quick mode: add the midway point
        budgets.insert(1, round((sp["int8"] + sp["int4"]) / 2))
        labels = {0: "int8-size", 1: "midway", len(budgets) - 1: "int4-size"}
    stats = None
    for i, b in enumerate(budgets):
        label = labels.get(i, f"b{i}")
        spath, ppath = work / f"{label}.scheme.json", work / f"{label}.pte"
        scheme = None
        if spec.get("reuse") and spath.is_file():                    # --reuse: the scheme planned last time
            try:
                old = load_scheme(spath)
                if old.budget_bytes == b and old.weights_sha256 == loaded.weights_sha256:
                    scheme = old
            except Exception:   # noqa: BLE001
                scheme = None
        if scheme is None:
            if stats is None:
                calib = load_clips(SAMPLE_USER_DIR / "calib")
                t = time.perf_counter()
                stats = compute_statistics(loaded, calib, progress=False)
                out["stats_s"] = time.perf_counter() - t
            scheme = plan(loaded, stats, b / MB, PlanConfig(), progress=False)
            save_scheme(scheme, spath)
        sha = export_fingerprint(scheme)
        marker = work / f"{label}.pte.export.json"      # what the last export of this scheme reported
        row = {"label": label, "budget_bytes": b, "predicted_bytes": scheme.predicted_bytes, "mix": mix(scheme),
               "scheme": str(spath), "pte": str(ppath)}
        prev = json.loads(marker.read_text()) if marker.is_file() else {}
        if spec.get("reuse") and ppath.is_file() and prev.get("scheme_sha256") == sha:
            row.update({k: v for k, v in prev.items() if k != "scheme_sha256"}, reused=True)
        else:
            ppath.unlink(missing_ok=True)
            with Stage() as s:
                rep = export_scheme(scheme, loaded, ppath, scheme_path=str(spath))
            info = {"export_s": s.seconds, "export_peak_mb": s.peak_mb, "exported_at": time.strftime(
                        "%Y-%m-%d %H:%M UTC", time.gmtime()), "loadavg": os.getloadavg(),
                    "undelegated": {m: sum(ops.values()) for m, ops in (rep.undelegated_ops or {}).items()},
                    "subgraphs": rep.delegated_subgraphs}
            row.update(info, reused=False)
            marker.write_text(json.dumps({**info, "scheme_sha256": sha}))
        row["real_bytes"] = pte_bytes(ppath)
        row["pte_only_bytes"] = ppath.stat().st_size
        ptd = ppath.with_suffix(".ptd")
        row["ptd_bytes"] = ptd.stat().st_size if ptd.is_file() else 0
        out["points"].append(row)
    return out


def export_fingerprint(scheme) -> str:
    """sha256 of what an export reads from a scheme: model, per-layer formats, activation and weight scales."""
    import hashlib
    h = hashlib.sha256(json.dumps([scheme.model_id, scheme.weights_sha256] + [
        [p.name, p.format.to_dict(), p.input_scale, p.output_scale] for p in scheme.layers]).encode())
    for k in sorted(scheme.weight_scales):
        h.update(k.encode())
        h.update(scheme.weight_scales[k].detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()


def _engine(spec: dict, threads: int):
    """-> (transcribe(audio) -> (text, extra dict), load seconds) for one engine."""
    name = spec["engine"]
    t0 = time.perf_counter()
    if name.startswith("pte"):
        from myqasr.export.runner import PteModel
        m = PteModel(spec["pte"], threads=threads)

        def f(audio):
            r = m.transcribe(audio)
            t = r.timings
            return r.text, {"encode_s": t.get("encode_s", 0.0) + t.get("preprocess_s", 0.0),
                            "decode_s": t.get("decode_s", 0.0), "steps": r.n_steps}
        return f, time.perf_counter() - t0
    if name.startswith("ct2"):
        import ctranslate2
        import numpy as np
        from transformers import WhisperFeatureExtractor, WhisperTokenizer
        from myqasr.embedded import bundled_ct2_dir, ensure_embedded_cache

        hf_dir, _ = ensure_embedded_cache()
        fe = WhisperFeatureExtractor.from_pretrained(hf_dir)
        tok = WhisperTokenizer.from_pretrained(hf_dir)
        m = ctranslate2.models.Whisper(str(bundled_ct2_dir()), device="cpu", compute_type=spec["compute_type"],
                                       intra_threads=threads, inter_threads=1)

        def f(audio):
            feats = fe(audio, sampling_rate=16000, return_tensors="np").input_features
            t1 = time.perf_counter()
            res = m.generate(ctranslate2.StorageView.from_array(np.ascontiguousarray(feats, dtype=np.float32)),
                             [PROMPT], beam_size=1, max_length=MAX_NEW_TOKENS)
            ids = res[0].sequences_ids[0]
            return tok.decode(ids, skip_special_tokens=True).strip(), {"steps": len(ids) + 1,
                                                                       "generate_s": time.perf_counter() - t1}
        return f, time.perf_counter() - t0
    # eager PyTorch: full precision or the simulated quantized model
    from myqasr.adapters import adapter_for
    from myqasr.models import load_model
    loaded = load_model(None)
    model = loaded.model
    if name == "sim":
        from myqasr.scheme import load_scheme
        from myqasr.simulate import simulate
        model = simulate(loaded.model, load_scheme(spec["scheme"])).eval()
    adapter = adapter_for(loaded.arch, loaded.processor)

    def f(audio):
        seq = adapter.generate_ids(model, [audio])[0]
        return loaded.processor.batch_decode([seq], skip_special_tokens=True)[0].strip(), {"steps": len(seq) - 1}
    return f, time.perf_counter() - t0


def child_engine(spec: dict) -> dict:
    threads = int(spec["threads"])
    _set_torch_threads(threads)
    from myqasr.evaluate import wer

    clips = test_clips(spec["n_test"])
    rss0 = rss_mb()
    f, load_s = _engine(spec, threads)
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


def child_wer_ptes(spec: dict) -> dict:
    """One pass of every .pte over the test clips: WER (size table)."""
    _set_torch_threads(2)
    from myqasr.evaluate import wer
    from myqasr.export.runner import PteModel
    clips = test_clips(spec["n_test"])
    out = {}
    for label, path in spec["ptes"].items():
        m = PteModel(path, threads=2)
        texts = [m.transcribe(c.audio).text for c in clips]
        out[label] = {"wer": wer([c.text for c in clips], texts), "texts": texts}
        del m
    return out


def child_profile(spec: dict) -> dict:
    """ETDump profile of one .pte on one clip (executorch >= 1.5): one profiled program per method, so each ETDump
    holds only that method's runs; a warm-up transcription, then a measured one (both are in the ETDump)."""
    threads = int(spec["threads"])
    _set_torch_threads(threads)
    import re
    import tempfile
    import executorch.kernels.quantized  # noqa: F401
    from executorch.devtools import Inspector
    from executorch.runtime import Runtime
    from myqasr.export.runner import PteModel

    clip = test_clips(1)[0]
    path = Path(spec["pte"])
    m = PteModel(path, threads=threads)
    ptd = path.with_suffix(".ptd")
    kw = {"data_path": ptd} if ptd.is_file() else {}
    progs = {}
    for method in ("encoder", "text_decoder"):
        progs[method] = Runtime.get().load_program(path, enable_etdump=True, debug_buffer_size=0, **kw)
        m.methods[method] = progs[method].load_method(method)
    m.transcribe(clip.audio)                       # warm-up
    r = m.transcribe(clip.audio)
    runs = {"encoder": 2, "text_decoder": 2 * r.n_steps}
    out = {"threads": threads, "pte": str(path), "clip": clip.path, "text": r.text, "steps": r.n_steps,
           "timings": r.timings, "methods": {}}
    with tempfile.TemporaryDirectory() as d:
        for method, prog in progs.items():
            etdp = os.path.join(d, f"{method}.etdp")
            prog.write_etdump_result_to_file(etdp, os.path.join(d, f"{method}.bin"))
            insp = Inspector(etdump_path=etdp)
            n = runs[method]
            events = []
            for block in insp.event_blocks:
                for ev in block.events:
                    raw = list(ev.perf_data.raw) if ev.perf_data is not None else []
                    if raw:
                        events.append((ev.name, sum(raw) / n, bool(getattr(ev, "is_delegated_op", False))))
            execute = sum(t for nm, t, _ in events if nm == "Method::execute")
            delegate = sum(t for nm, t, _ in events if nm == "DELEGATE_CALL")
            by_type: dict = {}
            for nm, t, deleg in events:
                if nm in ("Method::execute", "Method::init", "Program::load_method", "DELEGATE_CALL",
                          "OPERATOR_CALL"):
                    continue
                key = ("xnnpack: " if deleg else "portable: ") + re.sub(r"\s*#\d+$", "", nm)
                by_type[key] = by_type.get(key, 0.0) + t
            top = sorted(((nm, t) for nm, t, deleg in events if deleg), key=lambda x: -x[1])[:12]
            out["methods"][method] = {
                "runs": n, "execute_ms": execute, "delegate_ms": delegate,
                "portable_ms": sum(t for k, t in by_type.items() if k.startswith("portable: ")),
                "by_type": sorted(by_type.items(), key=lambda x: -x[1])[:14],
                "top_delegated_instances": top}
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Parent: run everything
# ---------------------------------------------------------------------------------------------------------------------

def run(a, st: Settings, bar) -> dict:
    work = Path(a.work)
    update = bar.update

    def checkpoint(k=1):        # keep what is measured so far (perf.partial.json), in case the run is cut short
        update(k)
        try:
            write_text(Path(a.out) / "perf.partial.json", json.dumps({**res, "command": "partial"}, default=str))
        except (OSError, TypeError, ValueError):
            pass
    bar.update = checkpoint
    res: dict = {"settings": asdict(st), "loadavg_start": os.getloadavg(), "started": time.time(),
                 "busy_start": busy_processes()}

    # 1. personalization cost
    if "cost" in a.parts:
        paths = cost_clip_paths(work, max(st.counts))
        res["cost"] = []
        for n in st.counts:
            stats_file = str(work / f"cost_stats_{n}.safetensors")
            spec = {"clips": [str(p) for p in paths[:n]], "alloc_budgets": st.alloc_budgets,
                    "cosine": st.cosine and n <= st.cosine_max, "save_stats": stats_file, "threads": st.cost_threads}
            bar.set_postfix_str(f"cost {n} clips")
            row = run_child("cost", spec, st.cost_threads)
            bar.update()
            bar.set_postfix_str(f"store-all {n} clips")
            row.update({f"{k}": v for k, v in run_child("storeall", {**spec, "stats_file": stats_file},
                                                        st.cost_threads).items() if k not in ("clips", "process_s")})
            bar.update()
            res["cost"].append(row)
            _log(bar, f"cost n={n}: " + json.dumps({k: (round(v, 2) if isinstance(v, float) else v)
                                                    for k, v in row.items()}))

    # 2-3. schemes and .pte files
    if {"runtime", "size"} & set(a.parts):
        bar.set_postfix_str("plan + export")
        prep = run_child("prepare", {"work": str(work), "size_points": st.size_points, "reuse": a.reuse,
                                     "need": ["midway"]}, COST_THREADS)
        bar.update()
        res["prepare"] = prep
        _log(bar, "prepare: " + json.dumps(prep)[:1500])
        if "error" in prep:
            return res
        points = {p["label"]: p for p in prep["points"]}

    if "runtime" in a.parts:
        engines = [{"label": f".pte {lab}", "engine": "pte", "pte": points[lab]["pte"]} for lab in RUNTIME_POINTS
                   if lab in points]
        engines += [{"label": "HF eager fp32", "engine": "hf"},
                    {"label": "eager simulated (midway)", "engine": "sim", "scheme": points["midway"]["scheme"]},
                    {"label": "ctranslate2 int8", "engine": "ct2", "compute_type": "int8"},
                    {"label": "ctranslate2 float32", "engine": "ct2", "compute_type": "float32"}]
        res["runtime"] = []
        for th in st.threads:
            for e in engines:
                bar.set_postfix_str(f"{e['label']} {th} thr")
                r = run_child("engine", {**e, "threads": th, "repeats": st.repeats, "n_test": st.n_test}, th)
                r.setdefault("engine", e["label"])
                r.setdefault("threads", th)
                res["runtime"].append(r)
                bar.update()
                _log(bar, f"{e['label']} threads={th}: " + (r.get("error") or
                     f"{r['mean_s']:.3f} s/utt, WER {100 * r['wer']:.1f} %, peak {r['peak_rss_mb']:.0f} MB"))
        ours = [r for r in res["runtime"] if r["engine"].startswith(".pte") and "error" not in r]
        ct2 = {r["threads"]: r for r in res["runtime"] if r["engine"] == "ctranslate2 int8" and "error" not in r}
        slower = [r for r in ours if r["threads"] in ct2 and r["mean_s"] > ct2[r["threads"]]["mean_s"]]
        if st.profile and slower:
            bar.set_postfix_str("ETDump profile")
            target = points.get("int8-size", prep["points"][0])
            res["profile"] = [run_child("profile", {"pte": target["pte"], "threads": th}, th) for th in (1,)]
            _log(bar, "profile: " + json.dumps(res["profile"])[:800])
        bar.update()

    if "size" in a.parts:
        bar.set_postfix_str("size truth")
        res["size_wer"] = run_child("wer_ptes", {"ptes": {p["label"]: p["pte"] for p in prep["points"]},
                                                 "n_test": st.n_test}, 2)
        bar.update()
    res["loadavg_end"] = os.getloadavg()
    res["busy_end"] = busy_processes()
    res["wall_s"] = time.time() - res["started"]
    return res


def busy_processes(min_cpu: float = 20.0) -> list[str]:
    """Other processes using the CPU right now (`ps`), e.g. other benchmarks sharing the machine."""
    try:
        r = subprocess.run(["ps", "-eo", "pid,pcpu,rss,args", "--sort=-pcpu"], capture_output=True, text=True)
    except OSError:
        return []
    out = []
    for line in r.stdout.splitlines()[1:]:
        parts = line.split(None, 3)
        if len(parts) == 4 and float(parts[1]) >= min_cpu and int(parts[0]) != os.getpid():
            out.append(f"{parts[1]}% {' '.join(parts[3].split()[:4])[:90]}")
    return out


def _log(bar, msg: str, res: dict | None = None, out: Path | None = None) -> None:
    bar.write(msg)


def n_steps(a, st: Settings) -> int:
    n = 0
    if "cost" in a.parts:
        n += 2 * len(st.counts)
    if {"runtime", "size"} & set(a.parts):
        n += 1
    if "runtime" in a.parts:
        n += 7 * len(st.threads) + 1
    if "size" in a.parts:
        n += 1
    return n


# ---------------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------------

def _f(x, d=2):
    return "-" if x is None else f"{x:.{d}f}"


def cost_section(res: dict) -> list[str]:
    rows, verdicts = [], []
    for r in res.get("cost", []):
        if "error" in r:
            rows.append([r.get("clips", "?"), "error: " + r["error"][:200]] + [""] * 11)
            continue
        rows.append([r["clips"], r["audio_s"], _f(r["plain_s"], 1), _f(r["stats_s"], 1),
                     _f(r["stats_s"] / r["plain_s"]), _f(r.get("storeall_s"), 1),
                     _f(r["alloc_s"] * 1000, 0), _f(r["minmax_s"], 1),
                     _f(r.get("cosine_s"), 1) if "cosine_s" in r else r.get("cosine_error", "-")[:60],
                     f"{r['rss_loaded_mb']:.0f}", f"{r['plain_peak_mb']:.0f}", f"{r['stats_peak_mb']:.0f}",
                     _f(r.get("cosine_peak_mb"), 0), _f(r.get("storeall_peak_mb"), 0), _f(r.get("stored_mb"), 0)])
    ok = [r for r in res.get("cost", []) if "error" not in r]
    out = [f"## 1. Personalization cost (fresh process per clip count, torch {res['settings']['cost_threads']} "
           "thread(s))", "",
           "Clips: flite `rms` then flite `slt` reading the first 32 sentences of `benchmarks.voices` "
           "(2-5 s each). *plain* = one full-precision pass without hooks: greedy transcription in batches of 4 + "
           "one teacher-forced forward per clip (exactly the work the statistics pass does, minus the hooks). "
           "*store-all* = hooks that keep every layer's output (padding dropped, i.e. the same values the "
           "streaming statistics see) for all clips, then the exact median of |y| per layer (the reference "
           "implementation also keeps inputs and gradients, so this is a lower bound on its cost). "
           f"Allocation and min-max `plan()` cover {ok[0]['n_budgets'] if ok else '?'} budgets from one "
           "statistics pass; cosine is one `plan(calibration=\"cosine\")` at the midway budget (up to "
           f"{res['settings']['cosine_max']} clips). Peak RSS of each "
           "stage is its own (VmHWM reset at the stage's start), in MB; the model, torch and transformers are "
           "already loaded (\"loaded\").", "",
           table(["clips", "audio s", "plain s", "stats s", "stats / plain", "store-all s", "alloc ms (all)",
                  "plan minmax s (all)", "plan cosine s", "loaded MB", "plain peak", "stats peak", "cosine peak",
                  "store-all peak", "stored MB"], rows), ""]
    if ok:
        ratios = [r["stats_s"] / r["plain_s"] for r in ok]
        growth = ok[-1]["stats_peak_mb"] - ok[0]["stats_peak_mb"]
        sa = [r for r in ok if "storeall_peak_mb" in r]
        met_t = all(x <= 1.3 for x in ratios)
        over = [r["stats_peak_mb"] - r["plain_peak_mb"] for r in ok]
        plain_growth = ok[-1]["plain_peak_mb"] - ok[0]["plain_peak_mb"]
        met_m = all(x <= 50.0 for x in over) and growth <= plain_growth + 50.0
        verdicts.append(f"- **Target statistics pass <= 1.3x the plain pass: {'met' if met_t else 'NOT met'}** "
                        f"(ratios {', '.join(f'{x:.2f}' for x in ratios)} for {', '.join(str(r['clips']) for r in ok)} "
                        "clips).")
        verdicts.append(f"- **Target memory flat in the number of clips: {'met' if met_m else 'NOT met'}** (criterion: "
                        "the statistics pass peaks at most 50 MB above the plain pass at every clip count, and grows "
                        "no more than the plain pass from the fewest to the most clips): statistics "
                        f"peak {ok[0]['stats_peak_mb']:.0f} MB at {ok[0]['clips']} clips, "
                        f"{ok[-1]['stats_peak_mb']:.0f} MB at {ok[-1]['clips']} clips ({growth:+.0f} MB; the plain "
                        f"pass without hooks {plain_growth:+.0f} MB: allocator retention, not statistics); above the "
                        f"plain pass by {', '.join(f'{x:+.0f}' for x in over)} MB; "
                        + (f"store-all {sa[0]['storeall_peak_mb']:.0f} -> {sa[-1]['storeall_peak_mb']:.0f} MB "
                           f"({sa[-1]['stored_mb']:.0f} MB of stored activations at {sa[-1]['clips']} clips, "
                           f"{sa[-1]['stored_mb'] / sa[-1]['clips']:.1f} MB per clip)." if sa else ""))
        if sa:
            verdicts.append("- Store-all vs streaming time: " + ", ".join(
                f"{r['clips']} clips {r['storeall_s'] / r['stats_s']:.2f}x" for r in sa) + " (store-all time "
                "includes the exact medians).")
        cmp_ = [r for r in ok if "median_max_rel_err" in r]
        if cmp_:
            verdicts.append("- Streamed (histogram) vs exact median of |y|: max relative error " + ", ".join(
                f"{100 * r['median_max_rel_err']:.3f} % ({r['clips']} clips)" for r in cmp_) +
                "; layers whose format differs between allocations from exact and streamed medians, summed "
                "over all budgets: " + ", ".join(str(r["alloc_layers_differing"]) for r in cmp_) + ".")
    return out + verdicts + [""]


def runtime_section(res: dict) -> list[str]:
    rt = res.get("runtime", [])
    if not rt:
        return []
    ref = {r["threads"]: r for r in rt if r["engine"] == ".pte int8-size" and "error" not in r}
    rows = []
    for r in rt:
        if "error" in r:
            rows.append([r["engine"], r["threads"], "error: " + r["error"][:160]] + [""] * 8)
            continue
        base = ref.get(r["threads"])
        rows.append([r["engine"], r["threads"], f"{r['mean_s']:.3f}", f"{r['median_s']:.3f}", f"{r['rtf']:.3f}",
                     f"{r['mean_s'] / base['mean_s']:.2f}" if base else "-",
                     _f(r.get("mean_encode_s"), 3), _f(r.get("ms_per_step"), 1),
                     f"{100 * r['wer']:.1f}", f"{r['peak_rss_mb']:.0f}", f"{r['load_s']:.2f}"])
    n = len(rt[0].get("per_clip_s", [])) if rt and "error" not in rt[0] else "?"
    reps = res["settings"]["repeats"]
    out = ["## 2. Runtime against peers (sample user, test clips)", "",
           f"{n} clips ({sum(rt[0].get('audio_s', [])):.1f} s of audio), end to end audio -> text per clip: our "
           "`.pte` = preprocessor (log-mel) + encoder + greedy `text_decoder` steps in the ExecuTorch runtime "
           "(`myqasr.export.runner.PteModel`); HF = feature extractor + `generate` (greedy) + decode; "
           "ctranslate2 = the same feature extractor + `Whisper.generate` (prompt [[50257, 50362]], beam 1) + "
           f"decode. s/utt = mean over clips of each clip's median over {reps} timed passes (one warm-up pass "
           "first). RTF = total time / total audio. x ours = time / `.pte int8-size` time at the same threads. "
           "encode s (`.pte`: preprocessor + encoder) and ms/step (decoder step incl. Python greedy loop) come "
           "from the runner's timings. Peak RSS is the whole process (Python, torch and the engine; the `.pte` "
           "process imports torch + executorch, the ctranslate2 one imports transformers for the features).", "",
           table(["engine", "threads", "s/utt mean", "s/utt median", "RTF", "x ours", "encode s", "ms/step",
                  "WER %", "peak RSS MB", "load s"], rows), ""]
    ct2 = {r["threads"]: r for r in rt if r["engine"] == "ctranslate2 int8" and "error" not in r}
    lines = []
    for r in rt:
        if not r["engine"].startswith(".pte") or "error" in r or r["threads"] not in ct2:
            continue
        c = ct2[r["threads"]]
        fast = r["mean_s"] <= c["mean_s"]
        good = r["wer"] <= c["wer"] + 1e-9
        lines.append(f"- {r['engine']}, {r['threads']} thread(s): {r['mean_s']:.3f} vs ctranslate2 int8 "
                     f"{c['mean_s']:.3f} s/utt ({r['mean_s'] / c['mean_s']:.2f}x), WER {100 * r['wer']:.1f} vs "
                     f"{100 * c['wer']:.1f} % -> **{'met' if fast and good else 'NOT met'}**"
                     + ("" if fast else " (slower)") + ("" if good else " (worse WER)"))
    if lines:
        out += ["**Target: our `.pte` at or below ctranslate2 int8 time with no worse WER.**", ""] + lines + [""]
    changed = [r for r in rt if r.get("text_changes")]
    if changed:
        out += ["Transcripts that changed between repeats: " + ", ".join(
            f"{r['engine']} ({r['threads']} thr): {r['text_changes']}" for r in changed), ""]
    return out


def profile_section(res: dict) -> list[str]:
    profs = [p for p in res.get("profile", []) if "error" not in p]
    errs = [p for p in res.get("profile", []) if "error" in p]
    if not profs:
        return (["## Where the `.pte` time goes", "", "ETDump profile failed: " + errs[0]["error"], ""] if errs
                else [])
    out = ["## Where the `.pte` time goes (ETDump, executorch runtime)", ""]
    for p in profs:
        t = p["timings"]
        steps = max(p["steps"], 1)
        out += [f"`{Path(p['pte']).name}`, {p['threads']} thread(s), clip `{Path(p['clip']).name}` ({p['steps']} "
                f"decoder calls), wall clock of the measured transcription: preprocess {1000 * t['preprocess_s']:.1f} "
                f"ms, encode {1000 * t['encode_s']:.1f} ms, decode {1000 * t['decode_s']:.1f} ms = "
                f"{1000 * t['decode_s'] / steps:.1f} ms per step (runner loop included). ETDump, per method call "
                "(mean of the warm-up and the measured transcription):", ""]
        for method, d in p["methods"].items():
            fc8 = [x for x in d["top_delegated_instances"] if x[0].startswith("Fully Connected")][:8]
            out += [f"**{method}**: Method::execute {d['execute_ms']:.2f} ms per call, of which XNNPACK delegate "
                    f"calls {d['delegate_ms']:.2f} ms and portable (undelegated) kernels {d['portable_ms']:.2f} ms.", "",
                    table(["op type (summed over instances)", "ms per method call", "% of execute"],
                          [[k, f"{v:.3f}", f"{100 * v / d['execute_ms']:.1f}" if d["execute_ms"] else "-"]
                           for k, v in d["by_type"]]), "",
                    (f"The 8 largest Fully Connected ops together: {sum(v for nm, v in fc8):.2f} ms per call "
                     f"({100 * sum(v for nm, v in fc8) / d['execute_ms']:.0f} % of execute). " if fc8 and
                     d["execute_ms"] else "") +
                    "Largest single delegated ops (ms per method call): " + ", ".join(
                        f"{nm} {v:.2f}" for nm, v in d["top_delegated_instances"][:8]) + ".", ""]
    return out + res.get("profile_findings", [])


def size_section(res: dict) -> list[str]:
    prep = res.get("prepare")
    if not prep or "error" in prep:
        return ["## 3. Size truth", "", "prepare failed: " + (prep or {}).get("error", "not run"), ""]
    wers = res.get("size_wer", {})
    s = prep["sizes"]
    rows = []
    for p in prep["points"]:
        w = wers.get(p["label"], {}).get("wer")
        err = (p["predicted_bytes"] - p["real_bytes"]) / p["real_bytes"]
        rows.append([p["label"], f"{p['budget_bytes'] / 1e6:.2f}", f"{p['predicted_bytes'] / 1e6:.2f}",
                     f"{p['pte_only_bytes'] / 1e6:.2f}", f"{p['ptd_bytes'] / 1e6:.2f}", f"{p['real_bytes'] / 1e6:.2f}",
                     f"{100 * err:+.2f}", "yes" if p["real_bytes"] <= p["budget_bytes"] else "**no**",
                     p["mix"], "-" if w is None else f"{100 * w:.1f}", _f(p.get("export_s"), 0)])
    return ["## 3. Size truth (sample user's 8 calibration clips, min-max, XNNPACK ladder; MB = 10^6 bytes)", "",
            f"Size model: fp32 {s['fp32'] / 1e6:.2f} MB, all-int8 {s['int8'] / 1e6:.2f} MB, all-int4 "
            f"{s['int4'] / 1e6:.2f} MB. Real = `.pte` + `.ptd` bytes on disk (`myqasr.export.size.pte_bytes`). "
            "WER on the sample user's test clips, one pass of the `.pte`.", "",
            table(["point", "budget MB", "predicted MB", ".pte MB", ".ptd MB", "real MB", "pred - real %",
                   "real <= budget", "layers", "WER %", "export s"], rows), ""]


def plots(res: dict, out: Path) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figs = []
    rt = [r for r in res.get("runtime", []) if "error" not in r]
    if rt:
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
        fig.tight_layout()
        fig.savefig(out / "perf_runtime.png", dpi=110)
        plt.close(fig)
        figs.append("perf_runtime.png")
    cost = [r for r in res.get("cost", []) if "error" not in r]
    if cost:
        n = [r["clips"] for r in cost]
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
        for ax, suffix, ylabel, title in ((a1, "s", "seconds", "time"),
                                          (a2, "peak_mb", "peak RSS MB (process)", "memory")):
            ax.plot(n, [r[f"plain_{suffix}"] for r in cost], "o-", label="plain FP pass")
            ax.plot(n, [r[f"stats_{suffix}"] for r in cost], "o-", label="statistics pass")
            if all(f"storeall_{suffix}" in r for r in cost):
                ax.plot(n, [r[f"storeall_{suffix}"] for r in cost], "o-", label="store-all + exact median")
            if all(f"cosine_{suffix}" in r for r in cost):
                ax.plot(n, [r[f"cosine_{suffix}"] for r in cost], "o--",
                        label="plan cosine (1 budget)" if suffix == "s" else "plan cosine")
            ax.set_xlabel("clips")
            ax.set_ylabel(ylabel)
            ax.set_xscale("log", base=2)
            ax.legend(fontsize=8)
            ax.set_title(title)
        fig.suptitle("Statistics cost vs number of clips (2 threads)")
        fig.tight_layout()
        fig.savefig(out / "perf_cost.png", dpi=110)
        plt.close(fig)
        figs.append("perf_cost.png")
    prep = res.get("prepare")
    if prep and "points" in prep:
        pts = prep["points"]
        fig, ax = plt.subplots(figsize=(5.5, 5))
        x = [p["predicted_bytes"] / 1e6 for p in pts]
        y = [p["real_bytes"] / 1e6 for p in pts]
        ax.plot(x, y, "o")
        for p, xi, yi in zip(pts, x, y):
            ax.annotate(p["label"], (xi, yi), fontsize=7, xytext=(4, -10), textcoords="offset points")
        lo, hi = min(x + y) * 0.97, max(x + y) * 1.03
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="real = predicted")
        ax.set_xlabel("predicted MB (myqasr.size)")
        ax.set_ylabel("real .pte (+ .ptd) MB")
        ax.legend()
        ax.set_title("Size model vs real bytes")
        fig.tight_layout()
        fig.savefig(out / "perf_size.png", dpi=110)
        plt.close(fig)
        figs.append("perf_size.png")
    return figs


def write_report(res: dict, out: Path, command: str, figs: list[str], notes: list[str]) -> Path:
    la0, la1 = res["loadavg_start"], res["loadavg_end"]
    md = [header("Performance: personalization cost, runtime against peers, size truth (embedded Whisper tiny.en)",
                 command),
          f"- load average (1/5/15 min) at start {la0[0]:.2f}/{la0[1]:.2f}/{la0[2]:.2f}, at end "
          f"{la1[0]:.2f}/{la1[1]:.2f}/{la1[2]:.2f}; wall time {res['wall_s'] / 60:.1f} min",
          f"- run started {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(res['started']))}; other busy "
          f"processes at start: {'; '.join(res.get('busy_start') or ['none'])}; at end: "
          f"{'; '.join(res.get('busy_end') or ['none'])}",
          f"- settings: {json.dumps(res['settings'])}", ""]
    md += notes
    md += cost_section(res) + runtime_section(res) + profile_section(res) + size_section(res)
    if figs:
        md += ["## Plots", ""] + [f"![{f}]({f})" for f in figs] + [""]
    path = out / "perf.md"
    write_text(path, "\n".join(md))
    return path


# ---------------------------------------------------------------------------------------------------------------------

CHILDREN = {"cost": child_cost, "storeall": child_storeall, "prepare": child_prepare, "engine": child_engine,
            "wer_ptes": child_wer_ptes, "profile": child_profile}
PARTS = ("cost", "runtime", "size")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.perf", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="results folder")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help="schemes, .pte files and rendered clips")
    ap.add_argument("--quick", action="store_true", help="small settings (smoke test)")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    ap.add_argument("--repeats", type=int, default=None, help="timed passes per engine (default 3, quick 1)")
    ap.add_argument("--counts", default=None, help="clip counts of the cost part (default 4,16,64)")
    ap.add_argument("--threads", default=None, help="runtime threads (default 1,2)")
    ap.add_argument("--no-cosine", action="store_true", help="skip the cosine calibration timing")
    ap.add_argument("--cosine-max", type=int, default=None, help="time the cosine search up to this many clips")
    ap.add_argument("--cost-threads", type=int, default=None, help=f"torch threads, cost part (default {COST_THREADS})")
    ap.add_argument("--findings", type=Path, default=None, help="markdown added after the profile (default: <out>/perf_findings.md if present)")
    ap.add_argument("--reuse", action="store_true", help="reuse .pte files already exported for the same scheme")
    ap.add_argument("--note", action="append", default=[], help="a line added to the report (e.g. machine load)")
    ap.add_argument("--from-json", type=Path, default=None, help="only rewrite the report from a perf.json")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--spec", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(CHILDREN[a.child](json.loads(a.spec)), default=str))
        return 0
    st = Settings.quick() if a.quick else Settings()
    if a.repeats:
        st.repeats = a.repeats
    if a.counts:
        st.counts = tuple(int(x) for x in a.counts.split(","))
    if a.threads:
        st.threads = tuple(int(x) for x in a.threads.split(","))
    if a.no_cosine:
        st.cosine = False
    if a.cosine_max is not None:
        st.cosine_max = a.cosine_max
    if a.cost_threads:
        st.cost_threads = a.cost_threads
    a.parts = [p for p in a.parts.split(",") if p]
    bad = [p for p in a.parts if p not in PARTS]
    if bad:
        ap.error(f"unknown part(s) {bad}; choose from {PARTS}")
    a.out.mkdir(parents=True, exist_ok=True)
    a.work.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks.perf " + " ".join(argv if argv is not None else sys.argv[1:])
    if a.from_json:
        res = json.loads(a.from_json.read_text())
        command = res["command"]
        res["notes"] = res.get("notes", []) + [n for n in a.note if n not in res.get("notes", [])]
    else:
        from tqdm import tqdm
        with tqdm(total=n_steps(a, st), desc="perf benchmark", unit="step") as bar:
            res = run(a, st, bar)
        res["command"] = command
        res["notes"] = a.note
    write_text(a.out / "perf.json", json.dumps(res, indent=1, default=str))
    figs = plots(res, a.out)
    notes = [f"- note: {n}" for n in res.get("notes", [])] + ([""] if res.get("notes") else [])
    if a.findings is None and (a.out / "perf_findings.md").is_file():     # the hand-written reading of the profile
        a.findings = a.out / "perf_findings.md"
    if a.findings and a.findings.is_file():
        res["profile_findings"] = ["", a.findings.read_text().strip(), ""]
    path = write_report(res, a.out, command, figs, notes)
    print(f"wrote {path}, {a.out / 'perf.json'}" + (", " + ", ".join(str(a.out / f) for f in figs) if figs else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
