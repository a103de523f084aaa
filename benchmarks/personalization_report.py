"""The personalization panel's report, computed from the results JSON alone
(`python -m benchmarks.personalization --render-only --out benchmarks/results`): pooled WER and pseudo-label WER
per method and budget, the issue's targets, personal gain per user, how much allocations differ between users,
the calibration guard, and two plots.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.harness import pyplot, save_figure, table
from benchmarks.personalization_methods import CORE, DEFAULT, PAPER, PAPER_OTHER

STYLES = {"uniform": ("k", "s", "--"), "uniform-mix": ("gray", "D", "--"), "knapsack": ("tab:blue", "o", "-"),
          "knapsack-other": ("tab:cyan", "x", ":"), PAPER: ("tab:red", "v", "-"), PAPER_OTHER: ("tab:pink", "^", ":")}
# (method, the same method on another user's clips, what the report calls it)
ALLOCATORS = ((DEFAULT, f"{DEFAULT}-other", "the default (the knapsack)"), (PAPER, PAPER_OTHER, "the paper's walk"))


def key(budget_mb: float) -> str:
    return f"{budget_mb:.6f}"


def score(refs: list[str], hyps: list[str]) -> dict:
    """errors / words against `refs` after the English normalizer, and clips whose transcript loops."""
    import jiwer

    from myqasr.evaluate import normalize_text
    from myqasr.guard import loops
    r = [normalize_text(x) for x in refs]
    h = [normalize_text(x) for x in hyps]
    keep = [(a, b) for a, b in zip(r, h) if a]
    out = jiwer.process_words([a for a, _ in keep], [b for _, b in keep]) if keep else None
    words = sum(len(a.split()) for a, _ in keep)
    errors = (out.substitutions + out.deletions + out.insertions) if out else 0
    return {"errors": errors, "words": words, "loops": sum(loops(b, a) for a, b in zip(r, h))}


def user_scores(u: dict, entry: dict) -> dict:
    """{"wer": score vs the sentences, "pseudo": score vs the full-precision transcripts} of one model on its clips."""
    n = len(entry["hyps"])
    return {"wer": score(u["refs"][:n], entry["hyps"]), "pseudo": score(u["fp32"][:n], entry["hyps"])}


def pooled(scores: list[dict]) -> float:
    w = sum(s["words"] for s in scores)
    return 100 * sum(s["errors"] for s in scores) / w if w else float("nan")


def scored(res: dict, n: int | None = None) -> dict:
    """{user: {budget key: {method: {"wer", "pseudo"}}}}; `n`: the first n clips only (the subset comparison)."""
    out = {}
    for name, u in res["per_user"].items():
        out[name] = {}
        for b, methods in u["results"].items():
            out[name][b] = {}
            for m, e in methods.items():
                if n is not None:
                    e = {**e, "hyps": e["hyps"][:n]}
                elif e["clips"] != "all":
                    continue
                out[name][b][m] = user_scores(u, e)
    return out


def method_table(res: dict, s: dict, methods: list[str], what: str, n: int | None = None) -> str:
    budgets = res["budgets_mb"]
    rows = []
    users = res["users"]
    fp = pooled([score(res["per_user"][u]["refs"][:n], res["per_user"][u]["fp32"][:n]) for u in users]) \
        if what == "wer" else 0.0
    rows.append(["fp32"] + [f"{fp:.2f}"] * len(budgets))
    for m in methods:
        row = [m]
        for b in budgets:
            cells = [s[u][key(b)][m][what] for u in users if m in s[u][key(b)]]
            row.append(f"{pooled(cells):.2f}" if len(cells) == len(users) else "-")
        rows.append(row)
    return table(["method"] + [f"{b:.2f} MB" for b in budgets], rows)


def loops_table(res: dict, s: dict, methods: list[str]) -> str:
    rows = [[m] + [str(sum(s[u][key(b)][m]["wer"]["loops"] for u in res["users"] if m in s[u][key(b)]))
                   for b in res["budgets_mb"]] for m in methods]
    return table(["method"] + [f"{b:.2f} MB" for b in res["budgets_mb"]], rows)


def mean_bytes(res: dict, b: float, m: str) -> float:
    v = [res["per_user"][u]["results"][key(b)][m]["bytes"] for u in res["users"] if m in res["per_user"][u]["results"][key(b)]]
    return float(np.mean(v)) / 1e6 if v else float("nan")


# --------------------------------------------------------------------------- targets

def target_lines(res: dict, s: dict) -> list[str]:
    users, budgets = res["users"], res["budgets_mb"]
    mids = budgets[1:-1]
    need = int(np.ceil(2 * len(users) / 3))
    lines = ["## Targets of the personalization issue", "",
             f"For {ALLOCATORS[0][2]} (`{DEFAULT}`, the allocator `plan` and `personalize` run) and for "
             f"{ALLOCATORS[1][2]}, both with min-max scales. The default calibration, `auto`, costs two searches "
             "per user and budget; it is measured on the secondary users only (see \"Random costs and "
             "calibrations\").", ""]
    gains = {}
    for m, other, name in ALLOCATORS:
        for what, label in (("wer", "WER"), ("pseudo", "pseudo-label WER")):
            miss = []
            for b in budgets:
                d = pooled([s[u][key(b)][m][what] for u in users])
                best = min(pooled([s[u][key(b)][x][what] for u in users]) for x in ("uniform", "uniform-mix"))
                if d > best + 1e-9:
                    miss.append(f"{b:.2f} MB ({d:.2f} vs {best:.2f} %)")
            lines.append(f"- **{name.capitalize()} <= best uniform / block-uniform model of equal or smaller size, "
                         f"by {label}:** {'met at every budget' if not miss else 'missed at ' + ', '.join(miss)}.")
        for what in ("wer", "pseudo"):
            gains[(m, what)] = {u: float(np.mean([
                100 * (s[u][key(b)][other][what]["errors"] - s[u][key(b)][m][what]["errors"])
                / max(s[u][key(b)][m][what]["words"], 1) for b in mids])) for u in users}
        g, pg = gains[(m, "wer")], gains[(m, "pseudo")]
        better, p_better = sum(x > 0 for x in g.values()), sum(x > 0 for x in pg.values())
        lines.append(f"- **{name.capitalize()}: own-user better than other-user for >= 2/3 of users over the "
                     f"intermediate budgets ({len(mids)} budgets):** by WER {better}/{len(users)} users "
                     f"({'met' if better >= need else 'missed'}; ties {sum(x == 0 for x in g.values())}); "
                     f"by pseudo-label WER {p_better}/{len(users)} ({'met' if p_better >= need else 'missed'}).")
        n_loops = sum(s[u][key(b)][m]["wer"]["loops"] for u in users for b in budgets)
        lines.append(f"- **No repetition loop in any model of {name}:** {n_loops} looping test clips over "
                     f"{len(users)} users x {len(budgets)} budgets ({'met' if n_loops == 0 else 'missed'}).")
    lines += ["", "Personal gain per user (other-user minus own-user, mean over the intermediate budgets, "
              "percentage points; positive = personalization helps):", "",
              table(["user", "fp32 WER %"] + [f"{m}: gain ({w})" for m, _, _ in ALLOCATORS
                                              for w in ("WER", "pseudo-label WER")],
                    [[u, f"{pooled([score(res['per_user'][u]['refs'], res['per_user'][u]['fp32'])]):.1f}"]
                     + [f"{gains[(m, w)][u]:+.2f}" for m, _, _ in ALLOCATORS for w in ("wer", "pseudo")]
                     for u in users]), ""]
    return lines


def difference_lines(res: dict) -> list[str]:
    """How much each allocator's formats differ between users: per budget, the share of layers whose format
    differs between two users, and the number of distinct allocations among all users."""
    users = res["users"]
    pairs = [(u, v) for i, u in enumerate(users) for v in users[i + 1:]]
    rows, n_layers = [], 0
    for b in res["budgets_mb"]:
        row = [f"{b:.2f}"]
        for m, _, _ in ALLOCATORS:
            fm = {u: res["per_user"][u]["results"][key(b)][m]["formats"] for u in users}
            n_layers = len(fm[users[0]])
            share = [np.mean([fm[u][n] != fm[v][n] for n in fm[u]]) for u, v in pairs] or [0.0]
            distinct = len({tuple(sorted(f.items())) for f in fm.values()})
            row += [f"{100 * np.mean(share):.1f}", f"{100 * max(share):.1f}", f"{distinct}/{len(users)}"]
        rows.append(row)
    return ["## How personal is the allocation?", "",
            f"Per budget and allocator: the share of the {n_layers} layers whose format differs between two users "
            "(mean and max over all user pairs), and how many distinct allocations the users get.", "",
            table(["budget MB"] + [f"{m}: {c}" for m, _, _ in ALLOCATORS
                                   for c in ("layers differing, mean %", "max %", "distinct allocations")], rows), ""]


def subset_lines(res: dict) -> list[str]:
    n = res["subset"]
    s = scored(res, n)
    users, budgets = res.get("secondary_users") or res["users"], res["budgets_mb"]   # the core methods on them too
    methods = CORE + [f"random-s{i}" for i in (0, 1, 2)] + ["cal-cosine", "cal-hessian", "cal-auto"]
    rows = []
    for m in methods:
        row = [m]
        for b in budgets:
            cells = [s[u][key(b)][m] for u in users if m in s[u][key(b)]]
            row.append(f"{pooled([c['wer'] for c in cells]):.1f} / {pooled([c['pseudo'] for c in cells]):.1f}"
                       f" ({len(cells)}u)" if cells else "-")
        rows.append(row)
    if not res.get("secondary_users"):
        return ["## Random costs and calibrations", "",
                "Not measured in this run (`--secondary-users` was empty: the panel ran in the time left of "
                "sessions, core methods first). `python -m benchmarks.personalization` measures them by default.", ""]
    lines = [f"## Random costs and calibrations (first {n} test clips per user)", "",
             f"WER / pseudo-label WER, pooled, and the number of users scored: the secondary users "
             f"({', '.join(users)}). The core methods are scored on the same users and clips, from the same "
             "transcripts.", "",
             table(["method"] + [f"{b:.2f} MB" for b in budgets], rows), ""]
    loops = {m: sum(s[u][key(b)][m]["wer"]["loops"] for u in users for b in budgets if m in s[u][key(b)])
             for m in ("knapsack", "cal-cosine", "cal-hessian", "cal-auto")}
    lines.append("Looping test clips (all users and budgets scored): " +
                 ", ".join(f"{m} {v}" for m, v in loops.items()) + ".")
    auto_rows = []
    for u in users:
        for b, a in res["per_user"][u].get("auto", {}).items():
            sc = a["scores"]
            auto_rows.append([u, f"{float(b):.2f}", a["chosen"]] +
                             [f"{100 * sc[m]['pseudo_wer']:.1f} ({sc[m]['loops']})" for m in ("minmax", "cosine", "hessian")]
                             + [f"{a['seconds']:.0f}"])
    if auto_rows:
        lines += ["", "The guard's choice (`--calibration auto`): pseudo-label WER % on the user's 8 calibration "
                  "clips (looping clips) per candidate, and the time of plan(auto) for that budget (searches are "
                  "shared with the user's other budget).", "",
                  table(["user", "budget MB", "chosen", "min-max", "cosine", "hessian", "plan s"], auto_rows)]
    return lines + [""]


# --------------------------------------------------------------------------- plots

def plot(res: dict, out: Path) -> list[str]:
    plt = pyplot()
    s = scored(res)
    users, budgets = res["users"], res["budgets_mb"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, what, label in ((axes[0], "wer", "WER %"), (axes[1], "pseudo", "pseudo-label WER % (vs fp32 transcripts)")):
        for m in CORE:
            c, mk, ls = STYLES[m]
            xs = [mean_bytes(res, b, m) for b in budgets]
            ys = [pooled([s[u][key(b)][m][what] for u in users]) for b in budgets]
            ax.plot(xs, ys, color=c, marker=mk, linestyle=ls, label=m)
        if what == "wer":
            fp = pooled([score(res["per_user"][u]["refs"], res["per_user"][u]["fp32"]) for u in users])
            ax.axhline(fp, color="k", lw=0.8, label=f"fp32 ({res['fp32_mb']:.0f} MB)")
        for lo, hi, _ in res["zones"]:
            ax.axvline(lo, color="0.85", lw=0.6)
        ax.set_xlabel("predicted model size (MB, mean over users)")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    fig.suptitle(f"Whisper tiny.en, {len(users)} synthetic users x {len(res['per_user'][users[0]]['refs'])} test clips")
    files = [save_figure(fig, out / "personalization_wer_vs_mb.png", 120)]
    mids = budgets[1:-1]
    fig, axes = plt.subplots(len(mids), 1, figsize=(12, 1.0 + 0.3 * len(users) * len(mids)), squeeze=False)
    for ax, b in zip(axes[:, 0], mids):
        fm = [res["per_user"][u]["results"][key(b)]["knapsack"]["formats"] for u in users]
        names = list(fm[0])
        bits = np.array([[int("".join(ch for ch in f[n].split("_")[0] if ch.isdigit()) or 32) for n in names] for f in fm])
        ax.imshow(np.log2(bits), aspect="auto", cmap="viridis", vmin=2, vmax=5, interpolation="nearest")
        ax.set_yticks(range(len(users)))
        ax.set_yticklabels(users, fontsize=6)
        ax.set_xticks([])
        ax.set_title(f"knapsack formats at {b:.2f} MB (purple int4, green int8, yellow fp32), one row per user",
                     fontsize=8)
    files.append(save_figure(fig, out / "personalization_formats.png", 110))
    return files


# --------------------------------------------------------------------------- markdown

def partners_of(res: dict, u: str) -> list[str]:
    """The users whose clips u's "-other" models were calibrated on (as recorded with the results)."""
    seen = [e["knapsack-other"]["partner"] for e in res["per_user"][u]["results"].values() if "knapsack-other" in e]
    return sorted(set(seen), key=seen.index)


def compute_minutes(res: dict) -> float:
    users = res["per_user"].values()
    return (sum(u["timings"]["transcribe_s"] for u in users) + sum(res.get("stats_seconds", {}).values())) / 60

def markdown(res: dict, figs: list[str]) -> str:
    env, users = res["env"], res["users"]
    s = scored(res)
    n_test = len(res["per_user"][users[0]]["refs"])
    lines = ["# Personalization benchmark: allocators and calibrations on synthetic voice users", "",
             f"- command: `{res['command']}`", f"- date: {env['date']}; git {env['git']}",
             f"- machine: {env['cpu']}, {env['cores']} cores, torch threads {env['torch_threads']} (load average "
             f"{env['loadavg_start'][0]:.1f} at start, {res['loadavg_end'][0]:.1f} at end)",
             f"- versions: Python {env['python']}, torch {env['torch']}, transformers {env['transformers']}; "
             f"{env['espeak-ng']}; {env['flite']}",
             f"- compute time {compute_minutes(res):.1f} min (statistics + cost passes and every user's models; the "
             "panel ran in per-user steps between other jobs, resuming from its checkpoints)", "",
             f"Panel: {len(users)} users, each 8 calibration clips (sentences {res['calib_range'][0]}-"
             f"{res['calib_range'][1] - 1}) and {n_test} disjoint test clips (sentences {res['test_range'][0]}-"
             f"{res['test_range'][1] - 1}); the model is the embedded Whisper tiny.en, every quantized model the SDK's "
             "simulated model (greedy, <= 96 new tokens). Methods: see `benchmarks/personalization.py`.", "",
             table(["user", "voice", "fp32 WER %", "partners (other-user)"],
                   [[u, res["voices"][u]["desc"],
                     f"{pooled([score(res['per_user'][u]['refs'], res['per_user'][u]['fp32'])]):.1f}",
                     ", ".join(partners_of(res, u))] for u in users]), "",
             "Zones of the budget range (the paper's round-robin; the knapsack has none):", "",
             table(["from MB", "to MB", "what the paper's order decides"], [list(z) for z in res["zones"]]), "",
             f"Budgets: {', '.join(f'{b:.2f}' for b in res['budgets_mb'])} MB.", ""]
    lines += [f"## WER % (pooled over {len(users)} users x {n_test} test clips)", "",
              method_table(res, s, CORE, "wer"), "",
              "## Pseudo-label WER % (against the full-precision model's own transcripts; label-free, less noisy)", "",
              method_table(res, s, CORE, "pseudo"), "",
              "Looping test clips (transcript > 2x the full-precision words, or one n-gram 4x in a row):", "",
              loops_table(res, s, CORE), ""]
    lines += [f"![WER vs size]({figs[0]})", ""]
    lines += target_lines(res, s)
    lines += difference_lines(res)
    lines += [f"![formats]({figs[1]})", ""]
    lines += subset_lines(res)
    st = res.get("stats_seconds") or {}
    if st:
        lines += [f"Statistics + cost pass per user (8 clips, in this run): median "
                  f"{float(np.median(list(st.values()))):.1f} s.", ""]
    return "\n".join(lines) + "\n"
