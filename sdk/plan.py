"""The myQASR pipeline as plain functions: statistics -> allocation -> calibration -> scheme.

    loaded = load_model()                                   # embedded Whisper tiny.en by default
    clips  = load_clips("my_recordings/")
    stats  = compute_statistics(loaded, clips)              # one forward-only pass
    scheme = plan(loaded, stats, budget_mb=40)              # any number of budgets from the same stats
    save_scheme(scheme, "scheme.json")
"""
from __future__ import annotations

from dataclasses import dataclass, asdict

from .adapters import adapter_for, rest_params
from .allocate import DEFAULT_ORDER, allocate
from .calibrate import calibrate_minmax
from .errors import MyqasrError
from .formats import get_ladder
from .quant import storable_scale
from .scheme import LayerPlan, Scheme
from .size import MB, PROFILES, model_bytes
from .stats import METRICS, Statistics, collect_statistics


@dataclass(frozen=True)
class PlanConfig:
    """Every planning choice, with its default. Each field is also a `myqasr plan` flag of the same name."""
    metric: str = "median"            # sensitivity statistic of |layer output| (see stats.METRICS)
    order: str = DEFAULT_ORDER        # which layers step down first: ascending | descending | random
    ladder: str = "xnnpack"           # xnnpack (what the phone runs) | research (2..8 bits, simulated only)
    bits: tuple[int, ...] | None = None   # research ladder widths
    group_size: int = 32              # int4 group size
    calibration: str = "minmax"       # minmax | cosine | hessian
    seed: int = 0                     # for order="random"

    def validate(self) -> None:
        if self.metric not in METRICS:
            raise MyqasrError(f"unknown metric {self.metric!r} (choose from {', '.join(METRICS)})")
        if self.group_size <= 0:
            raise MyqasrError(f"group size must be positive, got {self.group_size}")


def clips_info(clips) -> dict:
    from .audio import clips_hash
    return {"count": len(clips), "seconds": round(sum(len(c.audio) for c in clips) / 16000, 2),
            "sha256": clips_hash(clips)}


def compute_statistics(loaded, clips, progress: bool = True) -> Statistics:
    """One forward-only pass of the full-precision model over the user's clips."""
    if not clips:
        raise MyqasrError("no clips given for the statistics pass")
    adapter = adapter_for(loaded.arch, loaded.processor)
    layers = adapter.layers(loaded.model)
    return collect_statistics(loaded.model, adapter, [c.audio for c in clips], layers, model_id=loaded.model_id,
                              weights_sha256=loaded.weights_sha256, clips=clips_info(clips), progress=progress)


def reachable_bytes(loaded, config: PlanConfig = PlanConfig()) -> tuple[int, int]:
    """(smallest, largest) predicted bytes this model can take with the config's ladder."""
    from .allocate import size_range
    layers = adapter_for(loaded.arch, loaded.processor).layers(loaded.model)
    ladder = get_ladder(config.ladder, config.group_size, config.bits)
    profile = PROFILES[config.ladder if config.ladder == "research" else "xnnpack"]
    return size_range(layers, ladder, rest_params(loaded.model, layers), profile)


def check_budgets(loaded, budgets_mb, config: PlanConfig = PlanConfig()) -> None:
    """Fail early (before any forward pass) on a budget that no allocation can meet."""
    smallest, _ = reachable_bytes(loaded, config)
    for b in budgets_mb:
        if b is None:
            continue
        if not b > 0:
            raise MyqasrError(f"budget must be a positive number of MB, got {b:g}")
        if round(b * MB) < smallest:
            raise MyqasrError(f"budget {b:g} MB is below the smallest reachable size {smallest / MB:.3f} MB "
                              f"for {loaded.model_id} with the {config.ladder} ladder")


def plan(loaded, stats: Statistics, budget_mb: float | None, config: PlanConfig = PlanConfig(), clips=None,
         progress: bool = True) -> Scheme:
    """A scheme for `budget_mb` (10^6 bytes; None = no budget, stay at full precision) from existing statistics."""
    config.validate()
    if stats.weights_sha256 and stats.weights_sha256 != loaded.weights_sha256:
        raise MyqasrError(f"statistics were computed on other weights than model {loaded.model_id!r}")
    if budget_mb is not None and not budget_mb > 0:
        raise MyqasrError(f"budget must be a positive number of MB, got {budget_mb}")
    adapter = adapter_for(loaded.arch, loaded.processor)
    layers = adapter.layers(loaded.model)
    ladder = get_ladder(config.ladder, config.group_size, config.bits)
    profile = PROFILES[config.ladder if config.ladder == "research" else "xnnpack"]
    rest = rest_params(loaded.model, layers)
    missing = [l.name for l in layers if l.name not in stats.layers]
    if missing:
        raise MyqasrError(f"statistics lack {len(missing)} layer(s) of model {loaded.model_id!r} "
                          f"(e.g. {missing[0]}): recompute them for this model")
    sensitivity = stats.metric(config.metric)
    budget = None if budget_mb is None else int(round(budget_mb * MB))
    if budget is None:
        formats = {l.name: ladder[l.kind][0] for l in layers}
    else:
        formats = allocate(layers, sensitivity, budget, ladder, rest, profile, config.order, config.seed)
    weight_scales, act_scales = _calibrate(loaded, layers, formats, stats, config, clips, progress)
    weight_scales = {f"{l.name}.weight_scale": storable_scale(weight_scales[f"{l.name}.weight_scale"], formats[l.name])
                     for l in layers if formats[l.name].quantized}
    plans = [LayerPlan(l, formats[l.name], float(sensitivity[l.name]),
                       {k: stats.layers[l.name][k] for k in ("median", "mean", "abs_max", "std", "input_abs_max")},
                       *act_scales.get(l.name, (None, None))) for l in layers]
    return Scheme(model_id=loaded.model_id, arch=loaded.arch, weights_sha256=loaded.weights_sha256,
                  backend=profile.name, layers=plans, weight_scales=weight_scales,
                  predicted_bytes=model_bytes(layers, formats, rest, profile), rest_params=rest,
                  budget_bytes=budget, allocation={k: v for k, v in asdict(config).items() if k != "calibration"},
                  calibration={"method": config.calibration}, clips=stats.clips)


def _calibrate(loaded, layers, formats, stats, config, clips, progress):
    if config.calibration == "minmax":
        return calibrate_minmax(loaded.model, layers, formats, stats)
    try:
        from . import search
    except ImportError:
        search = None
    if search is None or config.calibration not in getattr(search, "METHODS", ()):
        raise MyqasrError(f"unknown calibration {config.calibration!r} (choose from minmax, cosine, hessian)")
    if not clips:
        raise MyqasrError(f"calibration {config.calibration!r} needs the clips (pass clips=...)")
    return search.calibrate(loaded, layers, formats, stats, clips, method=config.calibration, progress=progress)
