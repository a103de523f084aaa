"""The personalization panel's report: pooled and per-user WER tables, head-to-head counts, answers, two plots; all
computed from the results JSON alone (`python -m benchmarks.personalization --render-only`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.harness import pyplot, save_figure
from benchmarks.personalization_methods import METHODS

SCORED = METHODS[1:]                    # every method but fp32, in table order
PER_USER_COLUMNS = ["uniform", "uniform-mix", "myqasr-minmax", "myqasr-cosine", "myqasr-hessian", "other-cosine",
                    "abl-descending", "abl-random", "abl-mean", "abl-max"]
HEAD_TO_HEAD = [("myqasr-minmax", "uniform"), ("myqasr-cosine", "uniform"), ("myqasr-hessian", "uniform"),
                ("myqasr-cosine", "uniform-mix"), ("myqasr-cosine", "myqasr-minmax"),
                ("myqasr-hessian", "myqasr-minmax"), ("myqasr-cosine", "other-cosine"),
                ("myqasr-minmax", "abl-descending"), ("myqasr-minmax", "abl-random"), ("myqasr-minmax", "abl-mean"),
                ("myqasr-minmax", "abl-max")]
STYLES = {"uniform": ("k", "s", "--"), "uniform-mix": ("gray", "D", "--"), "myqasr-minmax": ("tab:blue", "o", "-"),
          "myqasr-cosine": ("tab:green", "o", "-"), "myqasr-hessian": ("tab:purple", "o", "-"),
          "other-cosine": ("tab:olive", "x", ":"), "abl-descending": ("tab:red", "v", "-."),
          "abl-random": ("tab:orange", "^", "-."), "abl-mean": ("tab:cyan", "<", "-."),
          "abl-max": ("tab:brown", ">", "-.")}


def key(budget_mb: float) -> str:
    """How a budget names its entries in the results JSON."""
    return f"{budget_mb:.6f}"


def pooled(entries):
    e, w = sum(x["errors"] for x in entries), sum(x["words"] for x in entries)
    return e / w if w else float("nan")


def summarize(res: dict) -> dict:
    """Pooled WER (sum of errors / sum of words) per budget x method, over all users and per engine group."""
    users, budgets = res["users"], res["budgets_mb"]
    groups = {"all": users}
    for u in users:
        groups.setdefault(res["voices"][u]["engine"], []).append(u)
    out = {}
    for g, us in groups.items():
        out[g] = {"fp32": pooled([res["per_user"][u]["fp32"] for u in us]), "users": len(us),
                  "clips": sum(res["per_user"][u]["fp32"]["clips"] for u in us),
                  "words": sum(res["per_user"][u]["fp32"]["words"] for u in us)}
        for b in budgets:
            out[g][key(b)] = {m: pooled([res["per_user"][u]["results"][key(b)][m] for u in us]) for m in SCORED}
    return out


def wins(res: dict, a: str, b: str, budgets=None) -> tuple[int, int, int]:
    """(a better, tie, a worse) over users x budgets, by per-user WER."""
    better = tie = worse = 0
    for u in res["users"]:
        for bud in budgets or res["budgets_mb"]:
            r = res["per_user"][u]["results"][key(bud)]
            x, y = r[a]["wer"], r[b]["wer"]
            better += x < y
            tie += x == y
            worse += x > y
    return better, tie, worse


def mean_size(res, budget, method) -> float:
    """Mean predicted MB over users of a method's schemes (other-cosine: the partner's cosine schemes)."""
    if method == "other-cosine":
        method = "myqasr-cosine"
    return float(np.mean([res["per_user"][u]["sizes"][key(budget)].get(method, np.nan)
                          for u in res["users"]])) / 1e6


# ---------------------------------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------------------------------

def short_layer_name(name: str) -> str:
    return (name.replace("model.", "").replace("encoder.layers.", "e").replace("decoder.layers.", "d")
            .replace("self_attn.", "sa.").replace("encoder_attn.", "xa."))


def format_bits(fmt_name: str) -> int:
    """Weight bits of a format name ('int8_per_channel' -> 8; fp32 -> 32)."""
    return int("".join(ch for ch in fmt_name.split("_")[0] if ch.isdigit()) or 32)


def plot(res: dict, out: Path) -> list[str]:
    plt = pyplot()
    table = summarize(res)["all"]
    budgets = res["budgets_mb"]
    fig, ax = plt.subplots(figsize=(8, 5))
    for m in SCORED:
        c, mk, ls = STYLES[m]
        xs = [mean_size(res, b, m) for b in budgets]
        ys = [100 * table[key(b)][m] for b in budgets]
        ax.plot(xs, ys, color=c, marker=mk, linestyle=ls, label=m)
    ax.axhline(100 * table["fp32"], color="k", lw=0.8, label=f"fp32 ({res.get('fp32_mb', 0):.0f} MB)")
    ax.set_xlabel("predicted model size (MB, mean over users)")
    ax.set_ylabel("WER % (pooled over users' test clips)")
    ax.set_title(f"Whisper tiny.en, {len(res['users'])} synthetic users, {table['clips']} test clips")
    ax.legend(fontsize=7, ncol=2)
    files = [save_figure(fig, out / "personalization_wer_vs_mb.png", 130)]
    # per-layer formats per user at the intermediate budgets (myQASR, ascending, median)
    mids = budgets[1:-1] or budgets
    fig, axes = plt.subplots(len(mids), 1, figsize=(12, 1.2 + 0.32 * len(res["users"]) * len(mids)), squeeze=False)
    for ax, b in zip(axes[:, 0], mids):
        fm = [res["per_user"][u]["formats"][key(b)]["myqasr-minmax"] for u in res["users"]]
        names = list(fm[0])
        ax.imshow(np.array([[format_bits(f[n]) for n in names] for f in fm]), aspect="auto", cmap="viridis",
                  vmin=4, vmax=8, interpolation="nearest")
        ax.set_yticks(range(len(res["users"])))
        ax.set_yticklabels(res["users"], fontsize=6)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([short_layer_name(n) for n in names], rotation=90, fontsize=5)
        ax.set_title(f"myQASR formats at {b:.2f} MB (yellow int8, purple int4)", fontsize=8)
    files.append(save_figure(fig, out / "personalization_formats.png", 130))
    return files


# ---------------------------------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------------------------------

def header_lines(res: dict) -> list[str]:
    env = res["env"]
    return ["# Personalization benchmark: myQASR on synthetic voice users", "",
            f"Command: `{res['command']}`  ", f"Date: {env['date']}; git {env['git']} (plus uncommitted work)  ",
            f"Machine: {env['cpu']}, {env['cores']} cores (shared with other jobs: load average "
            f"{env['loadavg_start'][0]:.1f} at start, {res['loadavg_end'][0]:.1f} at end), torch threads "
            f"{env['torch_threads']}  ",
            f"Versions: Python {env['python']}, torch {env['torch']}, transformers {env['transformers']}, "
            f"numpy {env['numpy']}; {env['espeak-ng']}; {env['flite']}  ",
            f"Total wall time {res['total_seconds'] / 60:.1f} min ({res['transcriptions']} distinct quantized models "
            f"transcribed, {res['transcribe_seconds'] / 60:.1f} min of it).", ""]


def panel_lines(res: dict) -> list[str]:
    calib, test = range(*res["calib_range"]), range(*res["test_range"])
    lines = [f"Model: embedded Whisper tiny.en (fp32 {res.get('fp32_mb', 0):.1f} MB by the size model), phone "
             "ladder (linears / tied embedding int8 per-channel or "
             "int4 per-group-32 with dynamic int8 activations; convs int8 with static activations). Greedy decoding, "
             "English normalizer, WER pooled as total errors / total reference words.", "",
             f"Panel: {len(res['users'])} users, each {len(calib)} calibration clips "
             f"(sentences {calib[0]}-{calib[-1]}) "
             f"and {len(test)} disjoint test clips (sentences {test[0]}-{test[-1]}), rendered by `benchmarks.voices`; "
             "other-user partner = next user in the list.", "",
             "| user | engine / voice | calib s | test s | fp32 WER | partner |", "|---|---|---|---|---|---|"]
    for u in res["users"]:
        v = res["voices"][u]
        lines.append(f"| {u} | {v['desc']} (`{v['args']}`) | {v['calib_seconds']:.1f} | {v['test_seconds']:.1f} | "
                     f"{100 * res['per_user'][u]['fp32']['wer']:.1f} | {res['partners'][u]} |")
    return lines


def method_rows(label, budgets: list[float], wer_of) -> list[str]:
    """One table row per scored method: `| label | method | WER % per budget |`, wer_of(method, budget)."""
    return [f"| {label} | {m} | " + " | ".join(f"{100 * wer_of(m, b):.2f}" for b in budgets) + " |" for m in SCORED]


def wer_tables(res: dict) -> list[str]:
    budgets = res["budgets_mb"]
    lines = ["", "## WER (%) by user group x budget x method", ""]
    head = "| group | method | " + " | ".join(f"{b:.2f} MB" for b in budgets) + " |"
    rule = "|---|---|" + "---|" * len(budgets)
    for g, t in summarize(res).items():
        lines += [f"**{g}** ({t['users']} users, {t['clips']} test clips, {t['words']} words; fp32 WER "
                  f"{100 * t['fp32']:.2f} %)", "", head, rule]
        lines += method_rows(g, budgets, lambda m, b: t[key(b)][m]) + [""]

    def per_user(m, b):
        return [res["per_user"][u]["results"][key(b)][m]["wer"] for u in res["users"]]
    for title, reduce in (("**Mean of per-user WER** (each user weighs the same)", np.mean),
                          ("**Median of per-user WER** (robust to one user's repetition loop: a looping transcript "
                           "scores several hundred %)", np.median)):
        lines += [title, "", head.replace("group", "users"), rule]
        lines += method_rows(len(res["users"]), budgets, lambda m, b: reduce(per_user(m, b)))
        fp = reduce([res["per_user"][u]["fp32"]["wer"] for u in res["users"]])
        lines += ["", f"fp32: {100 * fp:.2f} %.", ""]
    mix = res["per_user"][res["users"][0]]["mix"]
    lines += ["Sizes: myQASR and the ablations fill each budget (predicted bytes <= budget); uniform is all-int8 at "
              f"the top budget and all-int4 ({budgets[-1]:.2f} MB) below it; uniform-mix picks, per budget: " +
              "; ".join(f"{b:.2f} MB: {mix[key(b)]}" for b in budgets) + ".", ""]
    return lines


def per_user_lines(res: dict) -> list[str]:
    lines = ["## Per user (WER %, rows = budget, columns = method)", "",
             "| user | MB | " + " | ".join(PER_USER_COLUMNS) + " |", "|---|---|" + "---|" * len(PER_USER_COLUMNS)]
    for u in res["users"]:
        for b in res["budgets_mb"]:
            r = res["per_user"][u]["results"][key(b)]
            lines.append(f"| {u} | {b:.2f} | " + " | ".join(f"{100 * r[m]['wer']:.1f}" for m in PER_USER_COLUMNS)
                         + " |")
    return lines


def head_to_head_lines(res: dict) -> list[str]:
    mids = res["budgets_mb"][1:-1]
    lines = ["", "## Head-to-head (users x budgets: better / tie / worse by per-user WER)", "",
             "| a vs b | all budgets | intermediate budgets only |", "|---|---|---|"]
    for a, b in HEAD_TO_HEAD:
        w_all, w_mid = wins(res, a, b), wins(res, a, b, mids) if mids else (0, 0, 0)
        lines.append(f"| {a} vs {b} | {w_all[0]} / {w_all[1]} / {w_all[2]} | {w_mid[0]} / {w_mid[1]} / {w_mid[2]} |")
    return lines


def cost_lines(res: dict) -> list[str]:
    prof = res.get("profile") or []
    if not prof:
        return []
    lines = ["", f"## Calibration cost on {prof[0].get('clips', 8)} clips ({res['users'][0]}, "
             f"budget {prof[0].get('budget_mb', 0):.2f} MB; `plan()` after the statistics pass, own process)",
             "", "| strategy | wall s | RSS before MB | peak RSS MB | peak - before MB |", "|---|---|---|---|---|"]
    for p in prof:
        if "error" in p:
            lines.append(f"| {p['method']} | failed | | | |")
            continue
        lines.append(f"| {p['method']} | {p['seconds']:.1f} | {p['rss_before_mb']:.0f} | {p['peak_rss_mb']:.0f} |"
                     f" {p['peak_rss_mb'] - p['rss_before_mb']:.0f} |")
    stats_s = [res["per_user"][u]["stats_seconds"] for u in res["users"]]
    return lines + ["", "Statistics pass (8 clips, includes the fp32 greedy transcription): mean "
                    f"{np.mean(stats_s):.1f} s "
                    f"per user. Peak RSS is VmHWM reset just before calibration (Linux clear_refs); it includes the "
                    f"loaded model (~{prof[0].get('rss_before_mb', 0):.0f} MB before calibration). Timings on a "
                    f"shared machine are noisy."]


def markdown(res: dict, figs: list[str]) -> str:
    lines = header_lines(res) + panel_lines(res) + wer_tables(res) + per_user_lines(res)
    lines += head_to_head_lines(res) + cost_lines(res)
    lines += ["", "## Answers (computed from the numbers above)", ""] + answers(res) + [""]
    lines += [f"![WER vs MB]({figs[0]})", "", f"![formats]({figs[1]})", ""] if len(figs) >= 2 else []
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------------------------------------------------

def pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def answer_uniform(t: dict, budgets: list[float]) -> list[str]:
    """1. Does personalized myQASR (cosine) beat the best uniform baseline at every budget?"""
    rows = []
    all_beat = True
    for b in budgets:
        r = t[key(b)]
        best = min(("myqasr-minmax", "myqasr-cosine", "myqasr-hessian"), key=lambda m: r[m])
        all_beat &= r["myqasr-cosine"] < min(r["uniform"], r["uniform-mix"])
        rows.append(f"{b:.2f} MB: uniform {pct(r['uniform'])}, uniform-mix {pct(r['uniform-mix'])}, myQASR min-max "
                    f"{pct(r['myqasr-minmax'])}, cosine {pct(r['myqasr-cosine'])}, hessian {pct(r['myqasr-hessian'])}"
                    f" (best: {best})")
    return ["", "**Does personalized myQASR (cosine) beat the best uniform baseline at every budget?** "
            + ("Yes." if all_beat else "No, not at every budget.") + " Pooled WER per budget:", ""] + [
        f"- {x}" for x in rows]


def answer_same_user(res: dict, t: dict, budgets: list[float]) -> list[str]:
    """2. Same-user vs other-user calibration (cosine)."""
    rows, same_better = [], 0
    for b in budgets:
        r = t[key(b)]
        same_better += r["myqasr-cosine"] < r["other-cosine"]
        rows.append(f"{b:.2f} MB: same user {pct(r['myqasr-cosine'])} vs other user {pct(r['other-cosine'])}")
    w = wins(res, "myqasr-cosine", "other-cosine")
    return ["", f"**Does same-user calibration beat other-user calibration (cosine)?** Lower pooled WER at "
            f"{same_better} of {len(budgets)} budgets; per user x budget: same better {w[0]}, tie {w[1]}, "
            f"worse {w[2]}.", ""] + [f"- {x}" for x in rows]


def answer_order(res: dict, t: dict, mids: list[float]) -> list[str]:
    """3. Allocation order at the intermediate budgets (where order matters)."""
    if not mids:
        return []
    rows = []
    for b in mids:
        r = t[key(b)]
        rows.append(f"{b:.2f} MB: ascending {pct(r['myqasr-minmax'])}, descending {pct(r['abl-descending'])}, "
                    f"random {pct(r['abl-random'])}, mean metric {pct(r['abl-mean'])}, max metric "
                    f"{pct(r['abl-max'])}")
    w = wins(res, "myqasr-minmax", "abl-descending", mids)
    asc = sum(t[key(b)]["myqasr-minmax"] for b in mids)
    desc = sum(t[key(b)]["abl-descending"] for b in mids)
    verdict = "ascending" if asc < desc else "descending" if desc < asc else "neither"
    return ["", f"**Allocation order (min-max scales, intermediate budgets, where order matters).** Lower mean "
            f"pooled WER: {verdict} ({pct(asc / len(mids))} ascending vs {pct(desc / len(mids))} descending); "
            f"per user x budget: ascending better {w[0]}, tie {w[1]}, worse {w[2]}.", ""] + [f"- {x}" for x in rows]


def answers(res: dict) -> list[str]:
    t = summarize(res)["all"]
    budgets, mids = res["budgets_mb"], res["budgets_mb"][1:-1]
    words = t["words"]
    test_clips = len(range(*res["test_range"]))
    out = [f"Test set: {t['clips']} clips, {words} reference words in all, so one word error moves the pooled WER by "
           f"{100 / words:.2f} points; per user ({test_clips} clips) one error is several points. Read small "
           "differences "
           "as ties."]
    out += answer_uniform(t, budgets) + answer_same_user(res, t, budgets) + answer_order(res, t, mids)
    w1, w2 = wins(res, "myqasr-cosine", "myqasr-minmax"), wins(res, "myqasr-hessian", "myqasr-minmax")
    out += ["", f"**Calibration strategies** (same allocation): cosine vs min-max per user x budget better / tie / "
            f"worse {w1[0]} / {w1[1]} / {w1[2]}; hessian vs min-max {w2[0]} / {w2[1]} / {w2[2]}."]
    return out
