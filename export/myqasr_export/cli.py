"""The `myqasr` command: the core commands (myqasr.cli) plus the ones that need a `.pte`.

    myqasr export --scheme scheme.json --out model.pte [--model ID]
    myqasr run model.pte CLIPS... [--threads N]
    myqasr personalize --clips DIR --budget-mb 40 --out model.pte    # the whole job, verified

Argument parsing only: the work is done by `myqasr_export.exporter`, `.runner` and `.personalize`.
"""
from __future__ import annotations

import sys

from myqasr.cli import add_plan_args, build_parser, config_from_args, run, sample_clips, set_threads
from myqasr.config import positive_finite


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
    p.add_argument("--budget-mb", type=str, required=True, help="budget in MB (10^6 bytes) of the .pte on disk")
    p.add_argument("--out", required=True, help="output .pte (model.vocab.json, .scheme.json, .report.md beside it)")
    p.add_argument("--eval-clips", default=None, help="held-out clips with transcripts for the report "
                   "(default with the sample user: its test clips)")
    p.add_argument("--keep-failed", action="store_true", help="if verification fails, keep the model as "
                   "<name>.failed.pte for inspection (never under the requested name)")
    p.set_defaults(func=cmd_personalize)


def main(argv=None) -> int:
    return run(build_parser(add_export_parsers), argv)


if __name__ == "__main__":
    sys.exit(main())
