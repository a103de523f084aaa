"""Do static activation ranges taken from 8 clips generalize to the user's next recordings?

    python -m benchmarks.activation_ranges --out benchmarks/results                  # after the personalization panel
    python -m benchmarks.activation_ranges --out benchmarks/results --budgets 0,4 --margins 1.5

Only Whisper's two encoder convs run with static int8 activations (`static_int8` formats); min-max calibration sets
their input and output scales from the |max| the statistics pass saw on the user's 8 calibration clips. The
personalization issue measured that, at the all-int4 size (where the allocation is fixed and these scales are the
only user-dependent part), another user's scales beat the user's own for half the users: the user's own |max| may
clip the next recordings. This benchmark widens the user's own ranges by a margin (scale x m: m = 1 is min-max) and
transcribes the panel's 24 test clips per user with each simulated model.

Reads the personalization panel's statistics and checkpoints (`--work`, from `python -m benchmarks.personalization`):
the panel's own-user (`knapsack`) and other-user (`knapsack-other`) transcripts at the same budget are the m = 1
and "another user's scales" rows (the same schemes, so not transcribed again). Writes activation_ranges.md / .json.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.harness import header, machine_meta, read_json, size_model, table, write_json, write_text
from benchmarks.personalization import (DEFAULT_VOICES, DEFAULT_WORK, USERS, Transcriber, heavy_lock, key,
                                        user_clips)
from benchmarks.personalization_methods import panel_budgets, planned, zones
from benchmarks.personalization_report import pooled, score


def is_static(layer_plan) -> bool:
    from myqasr.formats import Activation
    return layer_plan.format.activation == Activation.static_int8


def widened(scheme, margin: float):
    """`scheme` with every static activation scale (input and output) multiplied by `margin`."""
    layers = [replace(p, input_scale=p.input_scale * margin, output_scale=p.output_scale * margin)
              if is_static(p) else p for p in scheme.layers]
    return replace(scheme, layers=layers)


def run(a) -> dict:
    import torch

    from myqasr.config import PlanConfig
    from myqasr.models import load_model
    from myqasr.stats import load_statistics

    t0 = time.perf_counter()
    loaded = load_model(None)
    budgets = panel_budgets(zones(size_model(loaded)))
    chosen = [budgets[i] for i in a.budgets]
    per_user = {}
    for u in a.users:
        done = read_json(a.work / "users" / f"{u}.json")
        stats = load_statistics(a.work / "stats" / f"{u}.safetensors")
        test = user_clips(a.voices_dir, u, range(8, 8 + len(done["refs"])))
        tr = Transcriber(loaded, test)
        rows = {}
        for b in chosen:
            panel = done["results"][key(b)]
            base = planned(loaded, stats, b, PlanConfig(allocator="knapsack", calibration="minmax"))
            assert base.predicted_bytes == panel["knapsack"]["bytes"], (u, b)
            r = {"1": panel["knapsack"]["hyps"], "other": panel["knapsack-other"]["hyps"],
                 "partner": panel["knapsack-other"].get("partner")}
            with heavy_lock(a.lock):
                torch.manual_seed(0)
                for m in a.margins:
                    r[f"{m:g}"] = tr.scheme(widened(base, m), len(test))
            r["conv_scales"] = {p.name: [p.input_scale, p.output_scale] for p in base.layers if is_static(p)}
            rows[key(b)] = r
        per_user[u] = {"refs": done["refs"], "fp32": done["fp32"], "results": rows}
        print(f"[{time.perf_counter() - t0:6.0f} s] {u}", flush=True)
    return {"users": a.users, "budgets_mb": chosen, "margins": [f"{m:g}" for m in a.margins], "per_user": per_user,
            "total_seconds": round(time.perf_counter() - t0, 1)}


def markdown(res: dict, command: str) -> str:
    users, cols = res["users"], ["1"] + res["margins"] + ["other"]
    names = {"1": "own, min-max (m = 1)", "other": "another user's min-max"}
    lines = [header("Static activation ranges: the user's own min-max vs a margin vs another user's", command,
                    res["meta"]),
             f"- compute time {res['total_seconds'] / 60:.1f} min", "",
             __doc__.split("\n\n")[2].replace("\n", " "), "",
             f"{len(users)} users x {len(res['per_user'][users[0]]['refs'])} test clips; the knapsack's formats "
             "(the default allocator) with min-max weight scales; greedy, <= 96 new tokens. Pooled WER % / "
             "pseudo-label WER % (against the full-precision transcripts) / looping clips. At the all-int4 size "
             "another user's model differs from the user's own in these two convs' scales only; at other budgets "
             "its formats differ too (the knapsack on the other user's costs).", ""]
    for b in res["budgets_mb"]:
        rows, gain = [], {}
        for c in cols:
            s = [{"wer": score(p["refs"], p["results"][key(b)][c]), "pseudo": score(p["fp32"], p["results"][key(b)][c])}
                 for p in (res["per_user"][u] for u in users)]
            rows.append([names.get(c, f"own, range x {c}"), f"{pooled([x['wer'] for x in s]):.2f}",
                         f"{pooled([x['pseudo'] for x in s]):.2f}", sum(x["wer"]["loops"] for x in s)])
            gain[c] = [100 * x["wer"]["errors"] / max(x["wer"]["words"], 1) for x in s]
        lines += [f"## {b:.2f} MB", "", table(["scales", "WER %", "pseudo-label WER %", "loops"], rows), ""]
        per = [[u, f"{gain['other'][i] - gain['1'][i]:+.2f}"] +
               [f"{gain['other'][i] - gain[m][i]:+.2f}" for m in res["margins"]] for i, u in enumerate(users)]
        wins = {c: sum(gain["other"][i] > gain[c][i] for i in range(len(users))) for c in ["1"] + res["margins"]}
        lines += ["Personal gain per user (another user's WER minus this one's, points; positive = own scales win):",
                  "", table(["user", "own m = 1"] + [f"own x {m}" for m in res["margins"]], per), "",
                  "Users whose own scales beat another user's: " +
                  ", ".join(f"m = {c}: {wins[c]}/{len(users)}" for c in wins) + ".", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.activation_ranges", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="results folder (activation_ranges.md / .json)")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help="the personalization panel's checkpoints")
    ap.add_argument("--voices-dir", type=Path, default=DEFAULT_VOICES)
    ap.add_argument("--users", default=",".join(USERS))
    ap.add_argument("--budgets", default="0", help="indices into the panel's budgets (0 = all-int4)")
    ap.add_argument("--margins", default="1.25,1.5,2", help="range multipliers to try besides 1")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lock", type=Path, default=None, help="a lock file to hold (flock) while transcribing")
    ap.add_argument("--render-only", action="store_true")
    a = ap.parse_args(argv)
    command = "python -m benchmarks.activation_ranges " + " ".join(argv if argv is not None else sys.argv[1:])
    if a.render_only:
        res = read_json(a.out / "activation_ranges.json")
    else:
        import torch
        torch.set_num_threads(a.threads)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        a.users = a.users.split(",")
        a.budgets = [int(i) for i in a.budgets.split(",")]
        a.margins = [float(m) for m in a.margins.split(",")]
        res = run(a)
        res.update({"meta": machine_meta(a.threads), "command": command})
        write_json(a.out / "activation_ranges.json", res)
    write_text(a.out / "activation_ranges.md", markdown(res, res["command"]))
    print(f"wrote {a.out / 'activation_ranges.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
