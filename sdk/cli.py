"""`myqasr` command line. Every flag is a parameter of a Python function of the same name (plan.PlanConfig, ...).

    myqasr plan --clips DIR --budget-mb 40 --out scheme.json      # statistics + allocation + calibration
    myqasr eval --scheme scheme.json --clips DIR                   # WER: full precision vs simulated
    myqasr info scheme.json [--plot bits.png]
    myqasr export --scheme scheme.json --out model.pte             # (myqasr.export)
    myqasr run model.pte CLIPS...
    myqasr personalize --clips DIR --budget-mb 40 --out model.pte  # the whole job
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .errors import MyqasrError


def _sample_clips(part: str) -> str:
    return str(Path(__file__).parent / "data" / "sample_user" / part)


def _add_plan_args(p: argparse.ArgumentParser) -> None:
    from .allocate import ORDERS
    from .stats import METRICS
    p.add_argument("--model", default=None, help="Hugging Face id or local dir (default: embedded whisper tiny.en)")
    p.add_argument("--clips", default=None, help="the user's recordings: a folder, files, or a .jsonl manifest "
                   "(default: the bundled sample user's calibration clips)")
    p.add_argument("--stats", default=None, help="statistics file: reused if it exists, else written after the pass")
    p.add_argument("--metric", default="median", choices=METRICS)
    p.add_argument("--order", default="ascending", choices=ORDERS)
    p.add_argument("--ladder", default="xnnpack", choices=("xnnpack", "research"))
    p.add_argument("--bits", default=None, help="research ladder widths, e.g. 8,6,4")
    p.add_argument("--group-size", type=int, default=32)
    p.add_argument("--calibration", default="minmax", choices=("minmax", "cosine", "hessian"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="myqasr", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("plan", help="plan a per-layer scheme for one or more budgets")
    _add_plan_args(p)
    p.add_argument("--budget-mb", type=float, nargs="+", required=True, help="budget(s) in MB (10^6 bytes)")
    p.add_argument("--out", required=True, help="scheme JSON; with several budgets, -<budget>MB is added to the name")
    p.add_argument("--plot", default=None, help="write a per-layer bits plot (PNG) next to each scheme")

    p = sub.add_parser("eval", help="WER of the full-precision and the simulated quantized model on clips with text")
    p.add_argument("--scheme", required=True)
    p.add_argument("--clips", default=None, help="clips with transcripts (default: the sample user's test clips)")
    p.add_argument("--model", default=None)
    p.add_argument("--no-fp", action="store_true", help="skip the full-precision reference")
    p.add_argument("--threads", type=int, default=None)

    p = sub.add_parser("personalize", help="the whole job: clips + budget -> verified .pte + report")
    _add_plan_args(p)
    p.add_argument("--budget-mb", type=float, required=True, help="budget in MB (10^6 bytes) of the .pte on disk")
    p.add_argument("--out", required=True, help="output .pte (model.vocab.json, .scheme.json, .report.md beside it)")
    p.add_argument("--eval-clips", default=None, help="held-out clips with transcripts for the report "
                   "(default with the sample user: its test clips)")

    p = sub.add_parser("info", help="print a scheme")
    p.add_argument("scheme")
    p.add_argument("--layers", action="store_true", help="print every layer")
    p.add_argument("--plot", default=None)

    p = sub.add_parser("stats", help="run the statistics pass only and save it")
    _add_plan_args(p)
    p.add_argument("--out", required=True)

    try:  # export commands come from myqasr.export, which imports executorch only when a command runs
        from .export.cli import add_parsers as add_export_parsers
    except ImportError:  # pragma: no cover - installed without the export package
        add_export_parsers = None
    if add_export_parsers:
        add_export_parsers(sub)
    return ap


def _threads(n) -> None:
    if n:
        import torch
        torch.set_num_threads(n)


def config_from_args(a):
    from .plan import PlanConfig
    bits = tuple(int(b) for b in a.bits.split(",")) if a.bits else None
    return PlanConfig(metric=a.metric, order=a.order, ladder=a.ladder, bits=bits, group_size=a.group_size,
                      calibration=a.calibration, seed=a.seed)


def statistics_for(a, loaded, clips):
    """Reuse a statistics file when given and present; otherwise run the pass (and save it if asked)."""
    from .plan import compute_statistics
    from .stats import load_statistics, save_statistics
    if a.stats and os.path.exists(a.stats):
        stats = load_statistics(a.stats)
        print(f"reusing statistics {a.stats} ({stats.clips.get('count')} clips)")
        return stats
    t = time.perf_counter()
    stats = compute_statistics(loaded, clips)
    print(f"statistics pass: {len(clips)} clips in {time.perf_counter() - t:.1f} s")
    if a.stats:
        save_statistics(stats, a.stats)
    return stats


def out_paths(out: str, budgets: list[float]) -> list[Path]:
    out = Path(out)
    if len(budgets) == 1:
        return [out]
    stem = out.name[:-5] if out.name.endswith(".json") else out.name
    return [out.with_name(f"{stem}-{b:g}MB.json") for b in budgets]


def cmd_plan(a) -> int:
    from .audio import load_clips
    from .models import load_model
    from .plan import check_budgets, plan
    from .report import plot_bits, scheme_summary
    from .scheme import save_scheme

    _threads(a.threads)
    config = config_from_args(a)
    paths = out_paths(a.out, a.budget_mb)
    for p in paths:
        if not p.parent.is_dir():
            raise MyqasrError(f"{p}: output directory {p.parent} does not exist")
    for b in a.budget_mb:
        if not b > 0:
            raise MyqasrError(f"--budget-mb: budget must be a positive number of MB, got {b:g}")
    clips = load_clips(a.clips or _sample_clips("calib"))
    loaded = load_model(a.model)
    check_budgets(loaded, a.budget_mb, config)
    stats = statistics_for(a, loaded, clips)
    for budget, path in zip(a.budget_mb, paths):
        scheme = plan(loaded, stats, budget, config, clips=clips)
        save_scheme(scheme, path)
        print(scheme_summary(scheme))
        print(f"wrote {path}")
        if a.plot:
            plot = Path(a.plot) if len(paths) == 1 else path.with_suffix(".png")
            plot_bits(scheme, plot)
            print(f"wrote {plot}")
    return 0


def cmd_stats(a) -> int:
    from .audio import load_clips
    from .models import load_model
    from .stats import save_statistics
    _threads(a.threads)
    loaded = load_model(a.model)
    clips = load_clips(a.clips or _sample_clips("calib"))
    a.stats = None
    stats = statistics_for(a, loaded, clips)
    save_statistics(stats, a.out)
    print(f"wrote {a.out}")
    return 0


def cmd_eval(a) -> int:
    from .audio import load_clips
    from .evaluate import evaluate_scheme, format_eval
    from .models import load_model
    from .scheme import check_scheme_matches, load_scheme
    _threads(a.threads)
    scheme = load_scheme(a.scheme)
    loaded = load_model(a.model or scheme.model_id)
    check_scheme_matches(scheme, loaded.model_id, loaded.weights_sha256, a.scheme)
    clips = load_clips(a.clips or _sample_clips("test"), with_text=True)
    result = evaluate_scheme(loaded, scheme, clips, full_precision=not a.no_fp)
    print(format_eval(result))
    return 0


def cmd_info(a) -> int:
    from .report import plot_bits, scheme_summary, scheme_table
    from .scheme import load_scheme
    scheme = load_scheme(a.scheme)
    print(scheme_summary(scheme))
    if a.layers:
        print(scheme_table(scheme))
    if a.plot:
        plot_bits(scheme, a.plot)
        print(f"wrote {a.plot}")
    return 0


def cmd_personalize(a) -> int:
    from .audio import load_clips
    from .models import load_model
    from .personalize import format_result, personalize
    _threads(a.threads)
    config = config_from_args(a)
    if not a.budget_mb > 0:
        raise MyqasrError(f"--budget-mb: budget must be a positive number of MB, got {a.budget_mb:g}")
    clips = load_clips(a.clips or _sample_clips("calib"))
    eval_src = a.eval_clips or (None if a.clips else _sample_clips("test"))
    eval_clips = load_clips(eval_src, with_text=True) if eval_src else None
    loaded = load_model(a.model)
    stats = None
    if a.stats:
        stats = statistics_for(a, loaded, clips)
    result = personalize(loaded, clips, a.budget_mb, a.out, config=config, stats=stats, eval_clips=eval_clips,
                         threads=a.threads)
    print(format_result(result))
    return 0


COMMANDS = {"plan": cmd_plan, "personalize": cmd_personalize, "eval": cmd_eval, "info": cmd_info, "stats": cmd_stats}


def quiet_libraries() -> None:
    """Keep library chatter (transformers deprecations, torchao's missing GPU kernels) out of a user's terminal."""
    import logging
    import warnings
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")   # also silences "Loading weights" bars
    for name in ("torchao", "torch._dynamo", "torch.utils._pytree", "transformers"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def main(argv=None) -> int:
    quiet_libraries()
    parser = build_parser()
    a = parser.parse_args(argv)
    try:
        fn = COMMANDS.get(a.command) or a.func
        return fn(a) or 0
    except MyqasrError as e:
        print(f"myqasr: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("myqasr: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
