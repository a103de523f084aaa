"""The `myqasr` command: the core commands (myqasr.cli) plus the ones that need a `.pte`.

    myqasr export --scheme scheme.json --out model.pte [--model ID]
    myqasr run model.pte CLIPS... [--threads N]
    myqasr personalize --clips DIR --budget-mb 40 --out model.pte    # the whole job, verified
    myqasr fleet --users USERS/ --budget-mb 40 30 --out OUT/          # many users x budgets, on Ray
    myqasr export-stats --out stats.pte                               # the statistics program for the phone
    myqasr phone-stats stats.pte --clips DIR --out phone.stats        # what the phone computes, on the host

Argument parsing only: the work is done by `myqasr_export.exporter`, `.runner`, `.personalize`, `.fleet`,
`.statsprogram` and `.phonestats`.
"""
from __future__ import annotations

import sys

import argparse
from dataclasses import fields

from myqasr.cli import add_plan_args, build_parser, config_from_args, run, sample_clips, set_threads
from myqasr.config import PlanConfig, positive_finite


def cmd_export(a) -> int:
    from myqasr.fileio import check_output_path
    from myqasr.models import load_model
    from myqasr.scheme import load_scheme

    from .exporter import export_scheme

    scheme = load_scheme(a.scheme)
    check_output_path(a.out, ".pte")
    loaded = load_model(a.model or scheme.model_id)
    report = export_scheme(scheme, loaded, a.out, scheme_path=str(a.scheme))
    print(report.summary())
    print("  checked: the delegation gate (no quantized or linear/conv op outside XNNPACK). "
          "`myqasr personalize` also checks the numbers against the simulated model.")
    return 0


def cmd_run(a) -> int:
    from myqasr.audio import load_clips

    from .runner import run_pte

    set_threads(a.threads)
    clips = [c for source in a.clips for c in load_clips(source)]
    results = run_pte(a.pte, clips, threads=a.threads)
    for r in results:
        print(r.line())
    if results:
        total = sum(r.timings["total_s"] for r in results)
        audio = sum(r.audio_s for r in results)
        print(f"{len(results)} clips, load {results[0].timings['load_s']:.3f} s, total {total:.2f} s for "
              f"{audio:.1f} s of audio, RTF {total / audio if audio else float('nan'):.3f}, threads {results[0].threads}")
    return 0


def cmd_personalize(a) -> int:
    from myqasr.audio import load_clips
    from myqasr.models import load_model
    from myqasr.plan import statistics_for

    from .personalize import format_result, personalize

    set_threads(a.threads)
    config = config_from_args(a)
    budget = positive_finite(a.budget_mb, "budget-mb")
    clips = load_clips(a.clips or sample_clips("calib"))
    eval_src = a.eval_clips or (None if a.clips else sample_clips("test"))
    eval_clips = load_clips(eval_src, with_text=True) if eval_src else None
    loaded = load_model(a.model)
    stats = statistics_for(loaded, clips, a.stats, config=config) if a.stats else None
    result = personalize(loaded, clips, budget, a.out, config=config, stats=stats, eval_clips=eval_clips,
                         threads=a.threads, keep_failed=a.keep_failed)
    print(format_result(result))
    return 0


def cmd_export_stats(a) -> int:
    from myqasr.fileio import check_output_path
    from myqasr.models import load_model

    from .statsprogram import export_statistics_program

    check_output_path(a.out, ".pte")
    report = export_statistics_program(load_model(a.model), a.out)
    print(report.summary())
    return 0


def cmd_phone_stats(a) -> int:
    from myqasr.audio import load_clips
    from myqasr.fileio import check_output_path
    from myqasr.stats import save_statistics

    from .phonestats import phone_statistics

    set_threads(a.threads)
    out = check_output_path(a.out)
    clips = load_clips(a.clips or sample_clips("calib"))
    stats = phone_statistics(a.pte, clips, threads=a.threads)
    save_statistics(stats, out)
    print(f"wrote {out} (computed_on phone: {len(clips)} clips, {stats.clips['seconds']} s; no audio, no text)")
    return 0


def cmd_fleet(a) -> int:
    from .fleet import fleet, format_summary

    result = fleet(a.users, a.budget_mb, a.out, model=a.model, config=config_from_args(a), workers=a.workers,
                   threads_per_worker=a.threads_per_worker, memory_gb_per_worker=a.memory_gb_per_worker,
                   address=a.address, object_store_mb=a.object_store_mb, progress=a.progress)
    print(format_summary(result.summary))
    print(f"wrote {result.results_path} and {result.summary_path}")
    return 1 if result.failed else 0


def add_fleet_parser(sub) -> None:
    p = sub.add_parser("fleet", help="personalize many users x budgets on Ray (local by default, or --address)")
    p.add_argument("--users", required=True, help="a folder with one sub-folder per user (stats.safetensors and/or "
                   "clips/, clips.jsonl or audio files) or a .jsonl manifest of {user, stats, clips}")
    p.add_argument("--budget-mb", type=str, nargs="+", required=True, help="budget(s) in MB (10^6 bytes)")
    p.add_argument("--out", required=True, help="output folder: <out>/<user>/<budget>MB/, results.jsonl, summary.json")
    p.add_argument("--model", default=None, help="Hugging Face id or local dir (default: embedded whisper tiny.en)")
    helps = PlanConfig.field_help()
    for f in fields(PlanConfig):
        kind = int if f.name in ("group_size", "seed") else str
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind, default=None, help=helps[f.name])
    p.add_argument("--workers", type=int, default=None, help="Ray workers, each loading the model once "
                   "(default: cores / threads-per-worker on this machine, 1 on a cluster)")
    p.add_argument("--threads-per-worker", type=int, default=1, help="CPUs each worker reserves and torch threads "
                   "it uses (default 1)")
    p.add_argument("--memory-gb-per-worker", type=float, default=3.0, help="memory each worker reserves in Ray's "
                   "scheduler (default 3 GB; a reservation, not a limit)")
    p.add_argument("--address", default=None, help="join this Ray cluster (e.g. ray://head:10001 or auto) instead "
                   "of starting Ray on this machine")
    p.add_argument("--object-store-mb", type=int, default=128, help="object store of the local Ray (default 128)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                   help="progress bar on stderr (default on)")
    p.set_defaults(func=cmd_fleet)


def add_export_parsers(sub) -> None:
    p = sub.add_parser("export", help="export a scheme as an ExecuTorch .pte (+ .vocab.json)")
    p.add_argument("--scheme", required=True, help="scheme JSON from `myqasr plan`")
    p.add_argument("--out", required=True, help="output .pte path")
    p.add_argument("--model", default=None, help="model id (default: the scheme's model)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("run", help="transcribe clips with a .pte on this machine (ExecuTorch runtime)")
    p.add_argument("pte", help=".pte file (its .vocab.json must be next to it)")
    p.add_argument("clips", nargs="+", help="audio files or folders")
    p.add_argument("--threads", type=int, default=None, help="XNNPACK threads (default: runtime default)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("personalize", help="the whole job: clips + budget -> verified .pte + report")
    add_plan_args(p)
    p.add_argument("--budget-mb", type=str, required=True, help="budget in MB (10^6 bytes) of the .pte on disk "
                   "(+ its .ptd for --target asr-runner)")
    p.add_argument("--out", required=True, help="output .pte (model.vocab.json, .scheme.json, .report.md beside it)")
    p.add_argument("--eval-clips", default=None, help="held-out clips with transcripts for the report "
                   "(default with the sample user: its test clips)")
    p.add_argument("--keep-failed", action="store_true", help="if verification fails, keep the model as "
                   "<name>.failed.pte for inspection (never under the requested name)")
    p.set_defaults(func=cmd_personalize)

    p = sub.add_parser("export-stats", help="export the statistics program a phone runs on its user's clips")
    p.add_argument("--out", required=True, help="output .pte (.vocab.json and .layers.json beside it)")
    p.add_argument("--model", default=None, help="Hugging Face id or local dir (default: embedded whisper tiny.en)")
    p.set_defaults(func=cmd_export_stats)

    p = sub.add_parser("phone-stats", help="run the statistics program on clips with the host runtime, as the "
                       "phone does, and write the statistics file the phone would send")
    p.add_argument("pte", help="the statistics program from `myqasr export-stats`")
    p.add_argument("--clips", default=None, help="recordings (default: the bundled sample user's calibration clips)")
    p.add_argument("--out", required=True, help="statistics file (for `myqasr plan|personalize --stats`)")
    p.add_argument("--threads", type=int, default=None, help="XNNPACK threads (default: runtime default)")
    p.set_defaults(func=cmd_phone_stats)

    add_fleet_parser(sub)


def main(argv=None) -> int:
    return run(build_parser(add_export_parsers), argv)


if __name__ == "__main__":
    sys.exit(main())
