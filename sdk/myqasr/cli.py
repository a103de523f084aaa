"""`myqasr` command line, core part: argument parsing for the commands that need no ExecuTorch.

    myqasr plan --clips DIR --budget-mb 40 --out scheme.json      # statistics + allocation + calibration
    myqasr eval --scheme scheme.json --clips DIR                   # WER: full precision vs simulated
    myqasr info scheme.json [--layers] [--plot bits.png]
    myqasr stats --clips DIR --out stats.safetensors               # the statistics pass alone

`myqasr export`, `run` and `personalize` need a `.pte` and live in `myqasr_export.cli`, which adds them to this
parser (the installed `myqasr` command is that one; `python -m myqasr` runs the core commands alone). The planning
flags are built from `myqasr.config.PlanConfig`'s fields, so each default and choice list lives there only.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields
from pathlib import Path

from .config import PlanConfig, positive_finite, positive_int
from .errors import MyqasrError

SAMPLE_USER = Path(__file__).parent / "data" / "sample_user"
CORE_COMMANDS = ("plan", "eval", "info", "stats")


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad flag is one `myqasr: error:` line (a MyqasrError), not a usage block."""

    def error(self, message):
        raise MyqasrError(message)


def sample_clips(part: str) -> str:
    return str(SAMPLE_USER / part)


def add_plan_args(p: argparse.ArgumentParser) -> None:
    """--model, --clips, --stats, --threads, and one flag per PlanConfig field (values checked by PlanConfig)."""
    p.add_argument("--model", default=None, help="Hugging Face id or local dir (default: embedded whisper tiny.en)")
    p.add_argument("--clips", default=None, help="the user's recordings: a folder, files, or a .jsonl manifest "
                   "(default: the bundled sample user's calibration clips)")
    p.add_argument("--stats", default=None, help="statistics file: reused if it exists (it must come from the same "
                   "clips), else written after the pass")
    helps = PlanConfig.field_help()
    for f in fields(PlanConfig):
        kind = int if f.name in ("group_size", "seed") else str
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind, default=None, help=helps[f.name])
    add_threads_arg(p)


def add_threads_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")


def config_from_args(a) -> PlanConfig:
    """The PlanConfig of the flags given (the others keep PlanConfig's defaults)."""
    return PlanConfig(**{f.name: getattr(a, f.name) for f in fields(PlanConfig) if getattr(a, f.name) is not None})


def set_threads(n) -> None:
    if n is not None:
        import torch
        torch.set_num_threads(positive_int(n, "threads"))


def add_core_parsers(sub) -> None:
    p = sub.add_parser("plan", help="plan a per-layer scheme for one or more budgets")
    add_plan_args(p)
    p.add_argument("--budget-mb", type=str, nargs="+", required=True, help="budget(s) in MB (10^6 bytes)")
    p.add_argument("--out", required=True, help="scheme JSON; with several budgets, -<budget>MB is added to the name")
    p.add_argument("--plot", default=None, help="write a per-layer bits plot (PNG) next to each scheme")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("eval", help="WER of the full-precision and the simulated quantized model on clips with text")
    p.add_argument("--scheme", required=True)
    p.add_argument("--clips", default=None, help="clips with transcripts (default: the sample user's test clips)")
    p.add_argument("--model", default=None)
    p.add_argument("--no-fp", action="store_true", help="skip the full-precision reference")
    add_threads_arg(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("info", help="print a scheme")
    p.add_argument("scheme")
    p.add_argument("--layers", action="store_true", help="print every layer")
    p.add_argument("--plot", default=None)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("stats", help="run the statistics pass only and save it")
    add_plan_args(p)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_stats)


def build_parser(extra=None) -> ArgumentParser:
    """The parser of the core commands; `extra(subparsers)` adds more (myqasr_export adds export/run/personalize)."""
    ap = ArgumentParser(prog="myqasr", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    add_core_parsers(sub)
    if extra:
        extra(sub)
    return ap


def scheme_paths(out: str, budgets: list[float]) -> list[Path]:
    out = Path(out)
    if len(budgets) == 1:
        return [out]
    stem = out.name[:-5] if out.name.endswith(".json") else out.name
    return [out.with_name(f"{stem}-{b:g}MB.json") for b in budgets]


def cmd_plan(a) -> int:
    from .audio import load_clips
    from .fileio import check_output_path
    from .models import load_model
    from .plan import check_budgets, plan, statistics_for
    from .report import plot_bits, scheme_summary
    from .scheme import save_scheme

    set_threads(a.threads)
    config = config_from_args(a)
    budgets = [positive_finite(b, "budget-mb") for b in a.budget_mb]
    paths = [check_output_path(p) for p in scheme_paths(a.out, budgets)]
    clips = load_clips(a.clips or sample_clips("calib"))
    loaded = load_model(a.model)
    check_budgets(loaded, budgets, config)
    stats = statistics_for(loaded, clips, a.stats, config=config)
    cache: dict = {}                     # full-precision transcripts and searches, shared by the budgets
    for budget, path in zip(budgets, paths):
        scheme = plan(loaded, stats, budget, config, clips=clips, cache=cache)
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
    from .fileio import check_output_path
    from .models import load_model
    from .plan import statistics_for
    from .stats import save_statistics

    set_threads(a.threads)
    config = config_from_args(a)         # the cost pass prices the formats of the chosen ladder
    out = check_output_path(a.out)
    loaded = load_model(a.model)
    clips = load_clips(a.clips or sample_clips("calib"))
    stats = statistics_for(loaded, clips, a.stats, config=config)
    save_statistics(stats, out)
    print(f"wrote {out}")
    return 0


def cmd_eval(a) -> int:
    from .audio import load_clips
    from .evaluate import evaluate_scheme, format_eval
    from .models import load_model
    from .scheme import check_scheme_matches, load_scheme

    set_threads(a.threads)
    scheme = load_scheme(a.scheme)
    loaded = load_model(a.model or scheme.model_id)
    check_scheme_matches(scheme, loaded.model_id, loaded.weights_sha256, a.scheme)
    clips = load_clips(a.clips or sample_clips("test"), with_text=True)
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


def run(parser: ArgumentParser, argv=None) -> int:
    """Parse and run one command; a MyqasrError is one `myqasr: error: ...` line and exit status 2."""
    quiet_libraries()
    try:
        a = parser.parse_args(argv)
        return a.func(a) or 0
    except MyqasrError as e:
        print(f"myqasr: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("myqasr: interrupted", file=sys.stderr)
        return 130


def main(argv=None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
