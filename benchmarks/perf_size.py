"""Perf study 3, size truth: budgets from the all-int8 to the all-int4 size, each planned on the sample user and
exported; budget, predicted bytes, real `.pte` (+ `.ptd`) bytes and the `.pte`'s WER. The same schemes and `.pte`
files serve the runtime study (`perf_runtime`).

Part of `python -m benchmarks.perf` (`--parts size`); its results are `perf.json["prepare"]` and `["size_wer"]`.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from pathlib import Path

from benchmarks.harness import (Stage, budget_ladder, fmt_or_dash, reference_bytes, run_child, sample_user_clips,
                                save_figure, table, utc_now)

PREPARE_THREADS = 2


def format_mix(scheme) -> str:
    """'31x8b 24x4b'-style count of layers per weight width."""
    c = Counter(p.format.bits for p in scheme.layers)
    return " ".join(f"{c[b]}x{'fp32' if b >= 32 else f'{b}b'}" for b in sorted(c, reverse=True))


def export_fingerprint(scheme) -> str:
    """sha256 of what an export reads from a scheme: model, per-layer formats, activation and weight scales."""
    h = hashlib.sha256(json.dumps([scheme.model_id, scheme.weights_sha256] + [
        [p.name, p.format.to_dict(), p.input_scale, p.output_scale] for p in scheme.layers]).encode())
    for k in sorted(scheme.weight_scales):
        h.update(k.encode())
        h.update(scheme.weight_scales[k].detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()


def point_labels(budgets: list[int], ref: dict, need_midway: bool) -> tuple[list[int], dict]:
    """Labels of the size ladder's points: int8-size, midway (added in quick mode if the ladder has none), int4-size."""
    labels = {0: "int8-size", len(budgets) - 1: "int4-size"}
    if len(budgets) % 2 == 1 and len(budgets) > 1:
        labels[len(budgets) // 2] = "midway"
    elif need_midway:
        budgets = [budgets[0], round((ref["int8"] + ref["int4"]) / 2), *budgets[1:]]
        labels = {0: "int8-size", 1: "midway", len(budgets) - 1: "int4-size"}
    return budgets, labels


def reused_scheme(path: Path, budget: int, loaded):
    """The scheme planned last time for this budget and these weights (--reuse), else None."""
    from myqasr.scheme import load_scheme
    if not path.is_file():
        return None
    try:
        old = load_scheme(path)
    except Exception:   # noqa: BLE001  (an unreadable old scheme is planned again)
        return None
    return old if old.budget_bytes == budget and old.weights_sha256 == loaded.weights_sha256 else None


def export_point(scheme, loaded, spath: Path, ppath: Path, reuse: bool) -> dict:
    """Export the scheme to `ppath` (or reuse the file if the last export read the same scheme): timing and gate."""
    from myqasr_export.exporter import export_scheme
    sha = export_fingerprint(scheme)
    marker = ppath.parent / f"{ppath.name}.export.json"      # what the last export of this scheme reported
    prev = json.loads(marker.read_text()) if marker.is_file() else {}
    if reuse and ppath.is_file() and prev.get("scheme_sha256") == sha:
        return {**{k: v for k, v in prev.items() if k != "scheme_sha256"}, "reused": True}
    ppath.unlink(missing_ok=True)
    with Stage() as s:
        rep = export_scheme(scheme, loaded, ppath, scheme_path=str(spath))
    info = {"export_s": s.seconds, "export_peak_mb": s.peak_mb, "exported_at": utc_now(), "loadavg": os.getloadavg(),
            "undelegated": {m: sum(ops.values()) for m, ops in (rep.undelegated_ops or {}).items()},
            "subgraphs": rep.delegated_subgraphs}
    marker.write_text(json.dumps({**info, "scheme_sha256": sha}))
    return {**info, "reused": False}


def child_prepare(spec: dict) -> dict:
    """Statistics on the sample user's calibration clips, schemes for the size ladder, one .pte per scheme."""
    from myqasr.models import load_model
    from myqasr.plan import PlanConfig, compute_statistics, plan
    from myqasr.scheme import save_scheme
    from myqasr.size import MB
    from myqasr_export.size import pte_bytes

    work = Path(spec["work"])
    work.mkdir(parents=True, exist_ok=True)
    loaded = load_model(None)
    ref = reference_bytes(loaded)
    out = {"sizes": ref, "points": []}
    budgets, labels = point_labels(budget_ladder(ref["int8"], ref["int4"], spec["size_points"]), ref,
                                   "midway" in spec.get("need", ()))
    stats = None
    for i, b in enumerate(budgets):
        label = labels.get(i, f"b{i}")
        spath, ppath = work / f"{label}.scheme.json", work / f"{label}.pte"
        scheme = reused_scheme(spath, b, loaded) if spec.get("reuse") else None
        if scheme is None:
            if stats is None:
                t = time.perf_counter()
                stats = compute_statistics(loaded, sample_user_clips("calib"), progress=False)
                out["stats_s"] = time.perf_counter() - t
            scheme = plan(loaded, stats, b / MB, PlanConfig(), progress=False)
            save_scheme(scheme, spath)
        row = {"label": label, "budget_bytes": b, "predicted_bytes": scheme.predicted_bytes,
               "mix": format_mix(scheme), "scheme": str(spath), "pte": str(ppath)}
        row.update(export_point(scheme, loaded, spath, ppath, bool(spec.get("reuse"))))
        row["real_bytes"] = pte_bytes(ppath)
        row["pte_only_bytes"] = ppath.stat().st_size
        ptd = ppath.with_suffix(".ptd")
        row["ptd_bytes"] = ptd.stat().st_size if ptd.is_file() else 0
        out["points"].append(row)
    return out


def child_wer_ptes(spec: dict) -> dict:
    """One pass of every .pte over the test clips: WER (size table)."""
    from myqasr.evaluate import wer
    from myqasr_export.runner import PteModel
    clips = sample_user_clips("test", spec["n_test"], with_text=True)
    out = {}
    for label, path in spec["ptes"].items():
        m = PteModel(path, threads=2)
        texts = [m.transcribe(c.audio).text for c in clips]
        out[label] = {"wer": wer([c.text for c in clips], texts), "texts": texts}
        del m
    return out


def prepare(st, work: Path, reuse: bool, progress) -> dict:
    progress.doing("plan + export")
    prep = run_child(child_prepare, {"work": str(work), "size_points": st.size_points, "reuse": reuse,
                                     "need": ["midway"]}, PREPARE_THREADS)
    progress.done()
    progress.log("prepare: " + json.dumps(prep)[:1500])
    return prep


def measure_wer(st, prep: dict, progress) -> dict:
    progress.doing("size truth")
    out = run_child(child_wer_ptes, {"ptes": {p["label"]: p["pte"] for p in prep["points"]},
                                     "n_test": st.n_test}, 2)
    progress.done()
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------------

def section(res: dict) -> list[str]:
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
                     p["mix"], "-" if w is None else f"{100 * w:.1f}", fmt_or_dash(p.get("export_s"), 0)])
    return ["## 3. Size truth (sample user's 8 calibration clips, min-max, XNNPACK ladder; MB = 10^6 bytes)", "",
            f"Size model: fp32 {s['fp32'] / 1e6:.2f} MB, all-int8 {s['int8'] / 1e6:.2f} MB, all-int4 "
            f"{s['int4'] / 1e6:.2f} MB. Real = `.pte` + `.ptd` bytes on disk (`myqasr_export.size.pte_bytes`). "
            "WER on the sample user's test clips, one pass of the `.pte`.", "",
            table(["point", "budget MB", "predicted MB", ".pte MB", ".ptd MB", "real MB", "pred - real %",
                   "real <= budget", "layers", "WER %", "export s"], rows), ""]


def plot(res: dict, out: Path, plt) -> list[str]:
    """perf_size.png: predicted against real bytes."""
    prep = res.get("prepare")
    if not prep or "points" not in prep:
        return []
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
    return [save_figure(fig, out / "perf_size.png", 110)]
