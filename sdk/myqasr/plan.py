"""The myQASR pipeline as plain functions: statistics -> allocation -> calibration -> scheme.

    loaded = load_model()                                   # embedded Whisper tiny.en by default
    clips  = load_clips("my_recordings/")
    stats  = compute_statistics(loaded, clips)              # statistics pass + cost pass
    scheme = plan(loaded, stats, budget_mb=40)              # any number of budgets from the same stats
    save_scheme(scheme, "scheme.json")
"""
from __future__ import annotations

from dataclasses import replace

from .adapters import adapter_for, rest_params
from .allocate import allocate_min_cost, allocate_round_robin, size_range, uniform
from . import guard
from .calibrate import calibrate_minmax
from .config import Allocator, Calibration, Ladder, PlanConfig, Target, positive_finite
from .constants import CALIBRATION_TRANSCRIBE_BATCH, SAMPLE_RATE
from .errors import MyqasrError
from .formats import get_ladder
from .models import tokenizer_json
from .quant import storable_scale
from .scheme import LayerPlan, Scheme
from .size import MB, PROFILES, BackendProfile, floor_mb, model_bytes
from .stats import Statistics, collect_statistics

__all__ = ["PlanConfig", "compute_statistics", "plan", "check_budgets", "reachable_bytes", "uniform_bytes",
           "clips_info", "floor_mb", "model_parts", "statistics_for"]


def clips_info(clips) -> dict:
    """What a statistics file and a scheme record about the clip set: count, seconds, sha256 of the audio."""
    from .audio import clip_samples, clips_hash
    return {"count": len(clips), "seconds": round(sum(clip_samples(c) for c in clips) / SAMPLE_RATE, 2),
            "sha256": clips_hash(clips)}


def compute_statistics(loaded, clips, progress: bool = True, config: PlanConfig = PlanConfig(),
                       costs: bool = True) -> Statistics:
    """The full-precision model over the user's clips: its own greedy transcripts, one forward-only statistics pass
    (the paper's stage 1) and, with `costs`, one forward + backward cost pass pricing every format of the ladder.
    Recordings longer than 30 s are cut at pauses into segments of at most 30 s
    (`myqasr.longform.calibration_segments`), each read when a pass uses it (`SegmentAudios`: a long recording
    loaded by `load_clips` is never in memory whole); the statistics record the clips as given (count, seconds,
    sha256)."""
    from .adapters import own_transcripts
    from .cost import collect_costs, priced_formats
    from .longform import SegmentAudios, calibration_segments
    from .stats import release_freed_memory

    if not clips:
        raise MyqasrError("clips: no clips given for the statistics pass")
    adapter = adapter_for(loaded.arch, loaded.processor)
    layers, ladder, _, _ = model_parts(loaded, config)
    segments = calibration_segments(clips)
    if not segments:
        raise MyqasrError("clips: no segment with sound in them for the statistics pass")
    audios = SegmentAudios(segments)
    ids = own_transcripts(loaded.model, adapter, audios, batch_size=CALIBRATION_TRANSCRIBE_BATCH,
                          progress=progress, after_batch=release_freed_memory)
    stats = collect_statistics(loaded.model, adapter, audios, layers, model_id=loaded.model_id,
                               weights_sha256=loaded.weights_sha256, clips=clips_info(clips), progress=progress,
                               decoder_ids=ids)
    if costs:
        stats.costs = collect_costs(loaded.model, adapter, audios, ids, layers, priced_formats(layers, ladder),
                                    progress)
    return stats


def needs_costs(config: PlanConfig) -> bool:
    """Whether planning with `config` reads the cost pass (the knapsack, also as `auto`; ~2/3 of the pass)."""
    return config.allocator in (Allocator.knapsack, Allocator.auto)


def resolved_calibration(config: PlanConfig, stats: Statistics, clips) -> Calibration:
    """The calibration that runs: `auto` is the guard (`myqasr.guard`) on the user's clips, and min-max without them
    (no clips given, or a phone's statistics: the audio stayed on the phone, and clips given next to its file serve
    verification only)."""
    if config.calibration != Calibration.auto:
        return config.calibration
    own = bool(clips) and stats.provenance.get("computed_on", "host") != "phone"
    return Calibration.auto if own else Calibration.minmax


def resolved_allocator(config: PlanConfig, stats: Statistics) -> Allocator:
    """The allocator that runs: `auto` is the knapsack when the statistics hold format costs (every host pass that
    asks for them) and the paper's walk otherwise (a phone's statistics: the cost pass needs a backward pass)."""
    if config.allocator == Allocator.auto:
        return Allocator.knapsack if stats.costs else Allocator.myqasr
    return config.allocator


def profile_for(ladder: Ladder, target: Target = Target.module) -> BackendProfile:
    """The size accounting of a ladder: real XNNPACK bytes (of one `.pte`, or of `.pte` + `.ptd` with a tied table
    stored once for the asr-runner target), or the paper's b bits per weight (simulated only, no target)."""
    if ladder == Ladder.research:
        return PROFILES["research"]
    return PROFILES["xnnpack-shared" if Target.parse(target, "target") == Target.asr_runner else "xnnpack"]


def model_parts(loaded, config: PlanConfig = PlanConfig()):
    """(layers, ladder, rest_params, size profile) of a loaded model under a config: what allocation works on.
    For the asr-runner target the profile also counts the model's tokenizer.json, a file the runner loads."""
    layers = adapter_for(loaded.arch, loaded.processor).layers(loaded.model)
    ladder = get_ladder(config.ladder, config.group_size, config.bits)
    profile = profile_for(config.ladder, config.target)
    if profile.shared_table:
        profile = with_side_files(profile, len(tokenizer_json(loaded)))
    return layers, ladder, rest_params(loaded.model, layers), profile


def with_side_files(profile: BackendProfile, side_bytes: int) -> BackendProfile:
    """A profile whose fixed bytes also cover files shipped beside the program (the asr-runner's tokenizer.json)."""
    return replace(profile, program_overhead=profile.program_overhead + side_bytes, side_file_bytes=side_bytes)


def reachable_bytes(loaded, config: PlanConfig = PlanConfig()) -> tuple[int, int]:
    """(smallest, largest) predicted bytes this model can take with the config's ladder."""
    layers, ladder, rest, profile = model_parts(loaded, config)
    return size_range(layers, ladder, rest, profile)


def uniform_bytes(loaded, rung: int, config: PlanConfig = PlanConfig()) -> int:
    """Predicted bytes with every layer on rung `rung` of its ladder (0 = fp32; xnnpack 1 = all-int8 size)."""
    layers, ladder, rest, profile = model_parts(loaded, config)
    return model_bytes(layers, uniform(layers, ladder, rung), rest, profile)


def check_budgets(loaded, budgets_mb, config: PlanConfig = PlanConfig()) -> None:
    """Fail early (before any forward pass) on a budget that no allocation can meet."""
    smallest, _ = reachable_bytes(loaded, config)
    for b in budgets_mb:
        if b is None:
            continue
        b = positive_finite(b, "budget-mb")
        if round(b * MB) < smallest:
            raise MyqasrError(f"budget-mb: {b:g} MB is below the smallest reachable size {floor_mb(smallest):.3f} MB "
                              f"for {loaded.model_id} with the {config.ladder} ladder")


def plan(loaded, stats: Statistics, budget_mb: float | None, config: PlanConfig = PlanConfig(), clips=None,
         progress: bool = True, cache: dict | None = None) -> Scheme:
    """A scheme for `budget_mb` (10^6 bytes; None = no budget, stay at full precision) from existing statistics.

    `clips`: the user's clips, needed by the searched calibrations (not by min-max); `auto` (the default) guards on
    them, and is min-max without them or with a phone's statistics (`resolved_calibration`).
    `cache`: a dict to pass again to later calls on the same clips (other budgets): full-precision transcripts and
    finished searches are reused, so more budgets cost little more than one."""
    if not isinstance(config, PlanConfig):
        raise MyqasrError(f"config: expected a PlanConfig, got {type(config).__name__}")
    if stats.weights_sha256 and stats.weights_sha256 != loaded.weights_sha256:
        raise MyqasrError(f"statistics: computed on other weights than model {loaded.model_id!r}")
    config = replace(config, allocator=resolved_allocator(config, stats),     # the scheme records what ran
                     calibration=resolved_calibration(config, stats, clips))
    budget = None if budget_mb is None else int(round(positive_finite(budget_mb, "budget-mb") * MB))
    if config.calibration != Calibration.minmax and not clips:
        raise MyqasrError(f"calibration: {config.calibration} needs the clips (pass clips=...)")
    layers, ladder, rest, profile = model_parts(loaded, config)
    missing = [l.name for l in layers if l.name not in stats.layers]
    if missing:
        raise MyqasrError(f"statistics: lack {len(missing)} layer(s) of model {loaded.model_id!r} "
                          f"(e.g. {missing[0]}): recompute them for this model")
    if budget is None:
        formats = {l.name: ladder[l.kind][0] for l in layers}
    elif config.allocator == Allocator.knapsack:
        if not stats.costs:
            raise MyqasrError(f"statistics: hold no format costs (computed on the "
                              f"{stats.provenance.get('computed_on', 'host')}: the cost pass needs a backward pass); "
                              "compute costs on the host with `myqasr stats --clips ...`, or use --allocator myqasr")
        formats = allocate_min_cost(layers, stats.costs, budget, ladder, rest, profile)
    else:
        formats = allocate_round_robin(layers, stats.metric(config.metric), budget, ladder, rest, profile,
                                       config.order, config.seed)
    cache = {} if cache is None else cache
    methods = guard.CANDIDATES if config.calibration == Calibration.auto else (config.calibration,)
    if any(m != Calibration.minmax for m in methods) and not any(f.quantized for f in formats.values()):
        methods = (Calibration.minmax,)                    # nothing to calibrate: full precision
    schemes = {}
    for method in methods:
        scales = calibrate_scales(loaded, layers, formats, stats, method, clips, progress, cache)
        schemes[method.value] = assemble_scheme(loaded, stats, config, layers, formats, rest, profile, budget, *scales)
        schemes[method.value].calibration = {"method": method.value}
    if len(schemes) == 1:
        return next(iter(schemes.values()))
    scores = score_calibrations(loaded, schemes, clips, progress, cache)
    chosen = guard.choose(scores)
    scheme = schemes[chosen]
    scheme.calibration = {"method": Calibration.auto.value, "chosen": chosen, "scores": scores}
    return scheme


def assemble_scheme(loaded, stats: Statistics, config: PlanConfig, layers, formats, rest, profile: BackendProfile,
                    budget: int | None, weight_scales: dict, act_scales: dict) -> Scheme:
    """The scheme of one allocation and calibration: formats, stored scales, per-layer evidence, predicted bytes."""
    sensitivity = stats.metric(config.metric)
    weight_scales = {f"{l.name}.weight_scale": storable_scale(weight_scales[f"{l.name}.weight_scale"], formats[l.name])
                     for l in layers if formats[l.name].quantized}
    if profile.shared_table:
        weight_scales = shared_table_scales(layers, formats, weight_scales)
    evidence = ("median", "mean", "abs_max", "std", "input_abs_max")
    plans = [LayerPlan(l, formats[l.name], float(sensitivity[l.name]),
                       {**{k: stats.layers[l.name][k] for k in evidence},
                        **({"costs": stats.costs[l.name]} if l.name in stats.costs else {})},
                       *act_scales.get(l.name, (None, None))) for l in layers]
    allocation = {k: v for k, v in config.to_dict().items() if k != "calibration"}
    if profile.side_file_bytes:
        allocation["side_file_bytes"] = profile.side_file_bytes
    return Scheme(model_id=loaded.model_id, arch=loaded.arch, weights_sha256=loaded.weights_sha256,
                  backend=profile.name, layers=plans, weight_scales=weight_scales,
                  predicted_bytes=model_bytes(layers, formats, rest, profile), rest_params=rest,
                  budget_bytes=budget, allocation=allocation,
                  calibration={"method": config.calibration.value}, clips=stats.clips)


def shared_table_scales(layers, formats, weight_scales: dict) -> dict:
    """One stored table has one set of integers and scales: a table and the layer tied to it (Whisper's lookup and
    proj_out) both take the tied layer's scales, the output projection's, which the searched calibrations fit to the
    logits (the lookup is min-max only). Same bits, same fp32 weight, same scales: the same integers."""
    out = dict(weight_scales)
    for l in layers:
        if l.tied_to and formats[l.name].quantized:
            out[f"{l.tied_to}.weight_scale"] = out[f"{l.name}.weight_scale"].clone()
    return out


def scheme_target(scheme: Scheme) -> Target:
    """The target a scheme was planned for (schemes written before targets existed: one `.pte`)."""
    return Target.parse(scheme.allocation.get("target", Target.module.value), "scheme: target")


def check_shared_table(scheme: Scheme, source: str = "scheme") -> None:
    """An asr-runner scheme stores each tied table once: the table and the layer tied to it must have the same bits,
    granularity and scales (else the export would hold two tables and outgrow its budget). One MyqasrError line."""
    if scheme_target(scheme) != Target.asr_runner:
        return
    plans = {p.name: p for p in scheme.layers}
    for p in scheme.layers:
        table = plans.get(p.layer.tied_to) if p.layer.tied_to else None
        if table is None:
            continue
        a, b = table.format, p.format
        same = (a.bits, a.granularity, a.group_size) == (b.bits, b.granularity, b.group_size)
        if same and a.quantized:
            sa, sb = scheme.weight_scales.get(table.weight_scale_key), scheme.weight_scales.get(p.weight_scale_key)
            same = sa is not None and sb is not None and sa.shape == sb.shape and bool((sa == sb).all())
        if not same:
            raise MyqasrError(f"{source}: target asr-runner stores {table.name} once for {p.name}, but the two have "
                              f"different formats or scales ({a.name}, {b.name}); plan again with --target asr-runner")


def scheme_profile(scheme: Scheme) -> BackendProfile:
    """The size accounting a scheme was planned with (its side files' bytes included)."""
    profile = profile_for(Ladder.research if scheme.backend == "research" else Ladder.xnnpack, scheme_target(scheme))
    side = int(scheme.allocation.get("side_file_bytes", 0))
    return with_side_files(profile, side) if side else profile


def calibrate_scales(loaded, layers, formats, stats, method: Calibration, clips, progress: bool, cache: dict):
    """(weight scales, activation scales) of one calibration method (see myqasr.calibrate and myqasr.search)."""
    if method == Calibration.minmax:
        return calibrate_minmax(loaded.model, layers, formats, stats)
    from . import search

    if not clips:
        raise MyqasrError(f"calibration: {method} needs the clips (pass clips=...)")
    from .longform import calibration_segments
    return search.calibrate(loaded, layers, formats, stats, calibration_segments(clips), method=method,
                            progress=progress, cache=cache)


def score_calibrations(loaded, schemes: dict[str, Scheme], clips, progress: bool, cache: dict) -> dict[str, dict]:
    """The guard's scores of each candidate scheme on the user's clips (myqasr.guard)."""
    from tqdm.auto import tqdm

    from .simulate import simulate

    if not clips:
        raise MyqasrError("calibration: auto needs the clips (pass clips=...)")
    from .longform import calibration_segments

    adapter = adapter_for(loaded.arch, loaded.processor)
    audios = [c.audio for c in calibration_segments(clips)]
    if "reference_texts" not in cache:
        cache["reference_texts"] = adapter.transcribe(loaded.model, audios)
    scores = {}
    for method, scheme in tqdm(schemes.items(), desc="calibration guard", disable=not progress):
        hyps = adapter.transcribe(simulate(loaded.model, scheme), audios)
        scores[method] = guard.score(hyps, cache["reference_texts"])
    return scores


def statistics_for(loaded, clips, stats_path=None, progress: bool = True,
                   config: PlanConfig = PlanConfig()) -> Statistics:
    """The statistics of `clips`: read from `stats_path` if that file exists, else computed (and saved there if a
    path is given). A statistics file records the clip set it came from (count, seconds, sha256 of the audio) and
    the model's weights; reusing it for other clips or weights is refused, so a stale file is never used silently."""
    import os
    import time

    from .stats import load_statistics, save_statistics

    if stats_path and os.path.exists(stats_path):
        stats = load_statistics(stats_path)
        if stats.weights_sha256 and stats.weights_sha256 != loaded.weights_sha256:
            raise MyqasrError(f"{stats_path}: computed on other weights than model {loaded.model_id!r}; "
                              "delete it or give another --stats path")
        if stats.provenance.get("computed_on") == "phone":   # the audio stayed on the phone: no clip hash to match
            print(f"using statistics {stats_path} computed on a phone ({stats.clips.get('count')} clips, "
                  f"{stats.clips.get('seconds')} s); clips given here serve only the verification and evaluation")
            return stats
        given = clips_info(clips)
        if stats.clips.get("sha256") != given["sha256"]:
            raise MyqasrError(f"{stats_path}: computed on another clip set ({stats.clips.get('count')} clips, "
                              f"{stats.clips.get('seconds')} s) than the {given['count']} clips given; "
                              "delete it or give another --stats path")
        print(f"reusing statistics {stats_path} ({stats.clips.get('count')} clips)")
        return stats
    t = time.perf_counter()
    # a statistics file is kept for reuse with any allocator; a one-off pass skips the costs nobody reads
    stats = compute_statistics(loaded, clips, progress=progress, config=config,
                               costs=bool(stats_path) or needs_costs(config))
    print(f"statistics pass: {len(clips)} clips in {time.perf_counter() - t:.1f} s")
    if stats_path:
        save_statistics(stats, stats_path)
    return stats
