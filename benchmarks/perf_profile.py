"""Perf study 2b, where the `.pte` time goes: an ETDump profile (executorch >= 1.5) of our all-int8-size `.pte` on
one clip, run when the runtime study finds it slower than ctranslate2 int8. The hand-written reading of the tables
lives in `results/perf_findings.md` and is added to the report after them.

Part of `python -m benchmarks.perf`; its result is `perf.json["profile"]`.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from benchmarks.harness import run_child, sample_user_clips, table

SKIPPED_EVENTS = ("Method::execute", "Method::init", "Program::load_method", "DELEGATE_CALL", "OPERATOR_CALL")


def method_summary(events: list[tuple[str, float, bool]], runs: int) -> dict:
    """(name, ms per call, delegated) events of one method -> execute / delegate / portable ms, top op types."""
    execute = sum(t for nm, t, _ in events if nm == "Method::execute")
    delegate = sum(t for nm, t, _ in events if nm == "DELEGATE_CALL")
    by_type: dict = {}
    for nm, t, deleg in events:
        if nm in SKIPPED_EVENTS:
            continue
        key = ("xnnpack: " if deleg else "portable: ") + re.sub(r"\s*#\d+$", "", nm)
        by_type[key] = by_type.get(key, 0.0) + t
    top = sorted(((nm, t) for nm, t, deleg in events if deleg), key=lambda x: -x[1])[:12]
    return {"runs": runs, "execute_ms": execute, "delegate_ms": delegate,
            "portable_ms": sum(t for k, t in by_type.items() if k.startswith("portable: ")),
            "by_type": sorted(by_type.items(), key=lambda x: -x[1])[:14],
            "top_delegated_instances": top}


def child_profile(spec: dict) -> dict:
    """ETDump profile of one .pte on one clip: one profiled program per method, so each ETDump holds only that
    method's runs; a warm-up transcription, then a measured one (both are in the ETDump)."""
    import executorch.kernels.quantized  # noqa: F401
    from executorch.devtools import Inspector
    from executorch.runtime import Runtime
    from myqasr_export.runner import PteModel

    threads = int(spec["threads"])
    clip = sample_user_clips("test", 1, with_text=True)[0]
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
            n = runs[method]
            events = []
            for block in Inspector(etdump_path=etdp).event_blocks:
                for ev in block.events:
                    raw = list(ev.perf_data.raw) if ev.perf_data is not None else []
                    if raw:
                        events.append((ev.name, sum(raw) / n, bool(getattr(ev, "is_delegated_op", False))))
            out["methods"][method] = method_summary(events, n)
    return out


def measure(pte: str, progress) -> list[dict]:
    progress.doing("ETDump profile")
    out = [run_child(child_profile, {"pte": pte, "threads": th}, th) for th in (1,)]
    progress.log("profile: " + json.dumps(out)[:800])
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------------

def method_lines(method: str, d: dict) -> list[str]:
    fc8 = [x for x in d["top_delegated_instances"] if x[0].startswith("Fully Connected")][:8]
    return [f"**{method}**: Method::execute {d['execute_ms']:.2f} ms per call, of which XNNPACK delegate "
            f"calls {d['delegate_ms']:.2f} ms and portable (undelegated) kernels {d['portable_ms']:.2f} ms.", "",
            table(["op type (summed over instances)", "ms per method call", "% of execute"],
                  [[k, f"{v:.3f}", f"{100 * v / d['execute_ms']:.1f}" if d["execute_ms"] else "-"]
                   for k, v in d["by_type"]]), "",
            (f"The 8 largest Fully Connected ops together: {sum(v for nm, v in fc8):.2f} ms per call "
             f"({100 * sum(v for nm, v in fc8) / d['execute_ms']:.0f} % of execute). " if fc8 and
             d["execute_ms"] else "") +
            "Largest single delegated ops (ms per method call): " + ", ".join(
                f"{nm} {v:.2f}" for nm, v in d["top_delegated_instances"][:8]) + ".", ""]


def op_shares(method: dict) -> dict[str, tuple[float, float]]:
    """op type -> (ms per call, % of Method::execute) of one method's profile."""
    total = method["execute_ms"] or 1.0
    return {k: (v, 100 * v / total) for k, v in method["by_type"]}


def before_after_lines(before: dict, after: dict, method: str = "encoder") -> list[str]:
    """One table of a method's time per op type in an earlier profile (`before`) and the current one (`after`)."""
    b, a = op_shares(before["methods"][method]), op_shares(after["methods"][method])
    ops = sorted(set(b) | set(a), key=lambda k: -max(b.get(k, (0, 0))[1], a.get(k, (0, 0))[1]))

    def cell(d: dict, k: str) -> list[str]:
        return [f"{d[k][0]:.1f}", f"{d[k][1]:.1f}"] if k in d else ["-", "-"]

    eb, ea = before["methods"][method], after["methods"][method]
    return [f"**{method}, before and after** (ETDump, 1 thread, ms per call and % of Method::execute; before: "
            f"{before.get('label', 'the earlier profile')}, after: this run). Method::execute "
            f"{eb['execute_ms']:.1f} -> {ea['execute_ms']:.1f} ms; outside the XNNPACK delegate "
            f"{eb['portable_ms']:.1f} -> {ea['portable_ms']:.1f} ms.", "",
            table(["op type", "before ms", "before %", "after ms", "after %"],
                  [[k, *cell(b, k), *cell(a, k)] for k in ops]), ""]


def section(res: dict) -> list[str]:
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
            out += method_lines(method, d)
    before = res.get("profile_before")
    if before and "methods" in before and profs[0]["threads"] == before.get("threads"):
        out += before_after_lines(before, profs[0])
    return out + res.get("profile_findings", [])
