"""Human-readable output: scheme tables and the per-layer bit-width plot."""
from __future__ import annotations

from collections import Counter

from .fileio import write_atomic
from .scheme import Scheme
from .size import MB


def short_name(name: str) -> str:
    return name.replace("model.", "").replace("encoder.layers.", "enc.").replace("decoder.layers.", "dec.")


def calibration_line(scheme: Scheme) -> str:
    """The calibration method; for `auto`, the guard's choice and every candidate's label-free scores."""
    cal = scheme.calibration
    if cal.get("method") != "auto":
        return str(cal.get("method"))
    scores = ", ".join(f"{m} {100 * s['pseudo_wer']:.1f} %{' (' + str(s['loops']) + ' looping)' if s['loops'] else ''}"
                       for m, s in cal.get("scores", {}).items())
    return f"auto -> {cal.get('chosen')} (pseudo-label WER on the user's clips: {scores})"


def scheme_summary(scheme: Scheme) -> str:
    counts = Counter(p.format.name for p in scheme.layers)
    params = Counter()
    for p in scheme.layers:
        params[p.format.name] += p.layer.numel
    lines = [
        f"model      {scheme.model_id} ({scheme.arch}, weights {scheme.weights_sha256[:12]})",
        f"backend    {scheme.backend}; allocation {scheme.allocation}; calibration {calibration_line(scheme)}",
        f"clips      {scheme.clips.get('count', '?')} clips, {scheme.clips.get('seconds', '?')} s",
        f"budget     {'none' if scheme.budget_bytes is None else f'{scheme.budget_bytes / MB:.3f} MB'}; "
        f"predicted size {scheme.predicted_bytes / MB:.3f} MB",
        "formats    " + ", ".join(f"{name}: {counts[name]} layers / {params[name] / 1e6:.2f} M params"
                                 for name in sorted(counts)),
    ]
    return "\n".join(lines)


def scheme_table(scheme: Scheme) -> str:
    rows = [f"{'layer':<34} {'kind':<9} {'params':>9} {'format':<14} {'sensitivity':>11}"]
    for p in scheme.layers:
        rows.append(f"{short_name(p.name):<34} {p.layer.kind:<9} {p.layer.numel:>9} {p.format.name:<14} "
                    f"{p.sensitivity:>11.4g}")
    return "\n".join(rows)


def plot_bits(scheme: Scheme, path) -> None:
    """Bar chart: weight bits per layer in model order, coloured by layer kind; written atomically as PNG."""
    import io
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"linear": "tab:blue", "conv1d": "tab:orange", "embedding": "tab:green"}
    fig, ax = plt.subplots(figsize=(max(8, len(scheme.layers) * 0.16), 3.6))
    xs = range(len(scheme.layers))
    ax.bar(xs, [p.format.bits for p in scheme.layers], color=[colors[p.layer.kind] for p in scheme.layers])
    ax.set_xticks(list(xs))
    ax.set_xticklabels([short_name(p.name) for p in scheme.layers], rotation=90, fontsize=5)
    ax.set_yscale("log", base=2)
    ax.set_ylim(1.5, 40)
    ax.set_yticks([2, 4, 8, 16, 32])
    ax.set_yticklabels(["2", "4", "8", "16", "32"])
    ax.set_ylabel("weight bits")
    sens = ax.twinx()
    sens.plot(list(xs), [max(p.sensitivity, 1e-9) for p in scheme.layers], "k.", markersize=3)
    sens.set_yscale("log")
    sens.set_ylabel(f"sensitivity ({scheme.allocation.get('metric', 'median')} |output|)", fontsize=8)
    budget = "none" if scheme.budget_bytes is None else f"{scheme.budget_bytes / MB:.1f} MB"
    ax.set_title(f"{scheme.model_id}: budget {budget}, predicted {scheme.predicted_bytes / MB:.2f} MB", fontsize=9)
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(color=c, label=k) for k, c in colors.items()], fontsize=7, loc="upper left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130)
    plt.close(fig)
    write_atomic(path, buf.getvalue())
