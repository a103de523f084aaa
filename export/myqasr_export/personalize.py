"""The whole job: clips + budget -> statistics -> scheme -> .pte -> verified -> report.

    myqasr personalize --clips my_recordings/ --budget-mb 40 --out model.pte

Writes model.pte, model.vocab.json (for the app), model.scheme.json (+ scales) and model.report.md. The file on
disk must fit the budget: if the exported bytes exceed it (the size model is an estimate), the plan is redone
with the budget reduced by the overshoot, at most `max_tries` times. The model is exported under a temporary name
and verified against the simulated model (`myqasr_export.verify`: delegation gate, numbers, tokens). One outcome
per verdict: PASS renames the .pte + vocabulary pair into place; FAIL is one error line, and the model is kept only
as `<name>.failed.pte` with `keep_failed`, never under the requested name.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from myqasr.errors import MyqasrError
from myqasr.fileio import check_output_path, replace_group, write_atomic
from myqasr.longform import calibration_segments
from myqasr.size import MB

from .verify import VERIFY_CLIPS


@dataclass
class PersonalizeResult:
    pte_path: str
    scheme_path: str
    report_path: str
    budget_bytes: int
    predicted_bytes: int
    real_bytes: int
    tries: int
    verify: object = None
    eval_rows: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)


def sidecar(pte: Path, suffix: str) -> Path:
    """`model.pte` -> `model<suffix>` (e.g. `.scheme.json`, `.report.md`, `.failed.pte`)."""
    return pte.with_name(pte.name[:-4] + suffix)


def personalize(loaded, clips, budget_mb: float, out_path, *, config=None, stats=None, eval_clips=None,
                threads: int | None = None, max_tries: int = 3, progress: bool = True,
                keep_failed: bool = False) -> PersonalizeResult:
    from myqasr.config import PlanConfig
    from myqasr.evaluate import transcribe, wer
    from myqasr.plan import check_budgets, compute_statistics, needs_costs, plan
    from myqasr.scheme import save_scheme
    from myqasr.simulate import simulate

    from .exporter import export_scheme, ptd_path_for
    from .runner import run_pte
    from .size import pte_bytes
    from .verify import verify_pte
    from .vocab import vocab_path_for

    config = config or PlanConfig()
    out = check_output_path(out_path, ".pte")
    check_budgets(loaded, [budget_mb], config)
    if not clips:
        raise MyqasrError("clips: no clips given")
    candidate = out.with_name(f".{out.name[:-4]}.unverified.pte")
    timings = {}
    t = time.perf_counter()
    stats = stats or compute_statistics(loaded, clips, progress=progress, config=config, costs=needs_costs(config))
    timings["statistics_s"] = time.perf_counter() - t
    budget = int(round(budget_mb * MB))
    target = budget
    scheme_path = sidecar(out, ".scheme.json")
    cache: dict = {}                            # searches and transcripts, reused if the plan is retried
    try:                                        # an error or Ctrl-C leaves no hidden candidate behind
        for tries in range(1, max_tries + 1):
            t = time.perf_counter()
            scheme = plan(loaded, stats, target / MB, config, clips=clips, progress=progress, cache=cache)
            scheme.budget_bytes = budget
            timings["plan_s"] = time.perf_counter() - t
            save_scheme(scheme, scheme_path)
            t = time.perf_counter()
            report = export_scheme(scheme, loaded, candidate, scheme_path=str(scheme_path))
            timings["export_s"] = time.perf_counter() - t
            real = pte_bytes(candidate)
            if real <= budget:
                break
            target -= real - budget + 20_000            # plan again below the overshoot (+ a margin)
            if tries == max_tries:
                raise MyqasrError(f"{out}: the exported file ({real / MB:.3f} MB) exceeds the budget {budget_mb:g} MB "
                                  f"after {max_tries} tries; try a budget {(real - budget) / MB:.2f} MB lower")
        t = time.perf_counter()
        sim = simulate(loaded.model, scheme)
        check = verify_pte(candidate, scheme, loaded, calibration_segments(clips)[:VERIFY_CLIPS], sim_model=sim,
                           threads=threads)
        timings["verify_s"] = time.perf_counter() - t
    except BaseException:
        _remove_pair(candidate)
        raise
    if not check.ok:
        failed = sidecar(out, ".failed.pte")
        if keep_failed:
            replace_group(_moves(candidate, failed))
        else:
            _remove_pair(candidate)
        kept = f"kept as {failed}" if keep_failed else "nothing written (--keep-failed keeps it for inspection)"
        raise MyqasrError(f"{out}: verification failed ({'; '.join(check.failed_checks())}); {kept}. The export "
                          "does not compute what the plan simulates: please report it with the scheme "
                          f"{scheme_path}; a budget on another side of a format step may avoid it meanwhile")
    single_file = not ptd_path_for(candidate).is_file()
    replace_group(_moves(candidate, out))
    if single_file:
        ptd_path_for(out).unlink(missing_ok=True)   # no stale table of an earlier asr-runner export beside it
    report.pte_path, report.vocab_path = str(out), str(vocab_path_for(out))
    report.ptd_path = str(ptd_path_for(out)) if report.ptd_path else None
    result = PersonalizeResult(str(out), str(scheme_path), str(sidecar(out, ".report.md")), budget,
                               scheme.predicted_bytes, real, tries, check, timings=timings)
    if eval_clips:
        t = time.perf_counter()
        scored = all(c.text for c in eval_clips)
        refs = [c.text for c in eval_clips]
        runs = run_pte(out, eval_clips, threads=threads)
        rows = [("full precision", transcribe(loaded, loaded.model, eval_clips), None),
                ("simulated", transcribe(loaded, sim, eval_clips), None),
                (".pte (ExecuTorch)", [r.text for r in runs], runs)]
        for name, texts, r in rows:
            per_clip = None if r is None else sorted(x.timings["total_s"] for x in r)[len(r) // 2]
            rtf = None if r is None else sum(x.timings["total_s"] for x in r) / sum(x.audio_s for x in r)
            steps = None if r is None else sorted(1000 * x.timings["decode_s"] / x.n_steps for x in r if x.n_steps)
            result.eval_rows.append({"model": name, "wer": wer(refs, texts) if scored else None,
                                     "median_s_per_clip": per_clip, "rtf": rtf, "texts": texts,
                                     "decoder_ms_per_step": steps[len(steps) // 2] if steps else None})
        timings["eval_s"] = time.perf_counter() - t
    _write_report(result, scheme, report, eval_clips)
    return result


def _moves(src: Path, dst: Path) -> list[tuple[Path, Path]]:
    """The renames that put an export's files (.pte, .vocab.json, and .ptd if it has one) under another name."""
    from .exporter import ptd_path_for
    from .vocab import vocab_path_for

    moves = [(src, dst), (vocab_path_for(src), vocab_path_for(dst))]
    if ptd_path_for(src).is_file():
        moves.append((ptd_path_for(src), ptd_path_for(dst)))
    return moves


def _remove_pair(pte: Path) -> None:
    from .exporter import ptd_path_for
    from .vocab import vocab_path_for

    pte.unlink(missing_ok=True)
    vocab_path_for(pte).unlink(missing_ok=True)
    ptd_path_for(pte).unlink(missing_ok=True)


def _write_report(result: PersonalizeResult, scheme, export_report, eval_clips) -> None:
    from myqasr.report import scheme_summary, scheme_table

    lines = ["# myqasr personalize report", "", "```", scheme_summary(scheme), "```", "",
             f"- budget: {result.budget_bytes / MB:.3f} MB; predicted {result.predicted_bytes / MB:.3f} MB; "
             f"**real {'.pte + .ptd + preprocessor + tokenizer' if export_report.ptd_path else '.pte'} {result.real_bytes / MB:.3f} MB** ({'fits' if result.real_bytes <= result.budget_bytes else 'OVER'}"
             f", {result.tries} export{'s' if result.tries > 1 else ''})",
             f"- {result.verify.summary()}",
             f"- XNNPACK subgraphs: {export_report.delegated_subgraphs}",
             "- timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items()), ""]
    if result.eval_rows:
        lines += [f"## Evaluation on {len(eval_clips)} held-out clips", "",
                  "| model | WER % | median s/clip | RTF |", "|---|---|---|---|"]
        for r in result.eval_rows:
            w = "-" if r["wer"] is None else f"{100 * r['wer']:.1f}"
            s = "-" if r["median_s_per_clip"] is None else f"{r['median_s_per_clip']:.3f}"
            f = "-" if r["rtf"] is None else f"{r['rtf']:.3f}"
            lines.append(f"| {r['model']} | {w} | {s} | {f} |")
        lines += ["", "| clip | reference | .pte transcript |", "|---|---|---|"]
        pte_texts = result.eval_rows[-1]["texts"]
        for c, t in zip(eval_clips, pte_texts):
            lines.append(f"| {Path(c.path).name} | {c.text or ''} | {t} |")
    lines += ["", "## Layers", "", "```", scheme_table(scheme), "```", ""]
    write_atomic(result.report_path, "\n".join(lines).encode())


def format_result(result: PersonalizeResult) -> str:
    lines = [f"wrote {result.pte_path} ({result.real_bytes / MB:.3f} MB on disk, budget {result.budget_bytes / MB:.3f} MB,"
             f" predicted {result.predicted_bytes / MB:.3f} MB)",
             f"      {result.scheme_path}, {result.report_path}",
             result.verify.summary()]
    for r in result.eval_rows:
        w = "n/a" if r["wer"] is None else f"{100 * r['wer']:.1f} %"
        extra = "" if r["rtf"] is None else f", {r['median_s_per_clip']:.3f} s/clip, RTF {r['rtf']:.3f}"
        lines.append(f"  {r['model']:<20} WER {w}{extra}")
    return "\n".join(lines)
