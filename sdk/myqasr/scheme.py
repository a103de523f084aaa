"""The scheme: the one contract between planning, export, the CLI and the app.

A scheme is a versioned JSON file (human-readable: per layer its format, sensitivity and activation scales)
plus a side file `<name>.scales.safetensors` with the per-channel / per-group weight scales, referenced from
the JSON with its sha256. Both are written atomically (temp file, then rename).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .errors import MyqasrError
from .fileio import write_atomic_group
from .formats import KINDS, Format, runs_on
from .layers import Layer

SCHEME_FORMAT = "myqasr-scheme"
SCHEME_VERSION = 2     # 2: a tied output projection (Whisper's proj_out) is a layer of its own


@dataclass
class LayerPlan:
    """One layer's entry in a scheme."""
    layer: Layer
    format: Format
    sensitivity: float = 0.0
    stats: dict = field(default_factory=dict)
    input_scale: float | None = None       # static activation scale of the layer input (static_int8 formats)
    output_scale: float | None = None      # static activation scale of the layer output (static_int8 formats)

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def weight_scale_key(self) -> str | None:
        return f"{self.layer.name}.weight_scale" if self.format.quantized else None


@dataclass
class Scheme:
    model_id: str
    arch: str
    weights_sha256: str
    backend: str
    layers: list[LayerPlan]
    weight_scales: dict[str, torch.Tensor]
    predicted_bytes: int
    rest_params: int
    budget_bytes: int | None = None
    allocation: dict = field(default_factory=dict)
    calibration: dict = field(default_factory=dict)
    clips: dict = field(default_factory=dict)
    version: int = SCHEME_VERSION

    def formats(self) -> dict[str, Format]:
        return {p.name: p.format for p in self.layers}

    def plan(self, name: str) -> LayerPlan:
        for p in self.layers:
            if p.name == name:
                return p
        raise MyqasrError(f"scheme: no layer named {name!r}")

    def to_dict(self, scales_file: str, scales_sha256: str) -> dict:
        return {
            "format": SCHEME_FORMAT,
            "version": self.version,
            "model": {"id": self.model_id, "arch": self.arch, "weights_sha256": self.weights_sha256},
            "backend": self.backend,
            "budget_bytes": self.budget_bytes,
            "predicted_bytes": self.predicted_bytes,
            "rest_params": self.rest_params,
            "allocation": self.allocation,
            "calibration": self.calibration,
            "clips": self.clips,
            "scales_file": scales_file,
            "scales_sha256": scales_sha256,
            "layers": [
                {**p.layer.to_dict(), "format": p.format.to_dict(), "sensitivity": p.sensitivity,
                 "weight_scale": p.weight_scale_key, "input_scale": p.input_scale,
                 "output_scale": p.output_scale, "stats": p.stats}
                for p in self.layers
            ],
        }


def scales_path_for(path: Path) -> Path:
    path = Path(path)
    stem = path.name[:-5] if path.name.endswith(".json") else path.name
    return path.with_name(stem + ".scales.safetensors")


def save_scheme(scheme: Scheme, path: str | os.PathLike) -> Path:
    """Write `path` (JSON) and its scales side file. Nothing is left behind on failure."""
    from safetensors.torch import save

    path = Path(path)
    if not path.parent.is_dir():
        raise MyqasrError(f"{path}: output directory {path.parent} does not exist")
    scales = {k: v.detach().float().contiguous() for k, v in sorted(scheme.weight_scales.items())}
    blob = save(scales) if scales else save({"_empty": torch.zeros(0)})
    sha = hashlib.sha256(blob).hexdigest()
    spath = scales_path_for(path)
    text = json.dumps(scheme.to_dict(spath.name, sha), indent=1) + "\n"
    write_atomic_group({spath: blob, path: text.encode()})
    return path


def load_scheme(path: str | os.PathLike) -> Scheme:
    """Read and validate a scheme; every problem is one MyqasrError line naming the file."""
    from safetensors.torch import load

    path = Path(path)
    if not path.is_file():
        raise MyqasrError(f"{path}: scheme file not found")
    try:
        d = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MyqasrError(f"{path}: not a myqasr scheme (invalid JSON: {e})") from None
    if not isinstance(d, dict) or d.get("format") != SCHEME_FORMAT:
        raise MyqasrError(f"{path}: not a myqasr scheme (missing \"format\": \"{SCHEME_FORMAT}\")")
    if d.get("version") != SCHEME_VERSION:
        raise MyqasrError(f"{path}: scheme version {d.get('version')} is not supported (expected {SCHEME_VERSION})")
    spath = path.with_name(d.get("scales_file") or "")
    if not d.get("scales_file") or not spath.is_file():
        raise MyqasrError(f"{path}: scales file {spath.name} is missing")
    blob = spath.read_bytes()
    if hashlib.sha256(blob).hexdigest() != d.get("scales_sha256"):
        raise MyqasrError(f"{spath}: scales file does not match its scheme (sha256 differs)")
    try:
        scales = load(blob)
        scales.pop("_empty", None)
        layers = []
        for ld in d["layers"]:
            if ld["kind"] not in KINDS:
                raise ValueError(f"layer {ld['name']}: unknown kind {ld['kind']!r}")
            layer = Layer(ld["name"], ld["kind"], tuple(ld["shape"]), ld.get("bias", False), ld.get("tied_to"))
            try:
                fmt = Format.from_dict(ld["format"])
            except MyqasrError as e:
                raise ValueError(f"layer {layer.name}: {e}") from None
            plan = LayerPlan(layer, fmt, ld.get("sensitivity", 0.0), ld.get("stats", {}),
                             ld.get("input_scale"), ld.get("output_scale"))
            if plan.weight_scale_key and plan.weight_scale_key not in scales:
                raise ValueError(f"no weight scale for layer {layer.name}")
            layers.append(plan)
        scheme = Scheme(
            model_id=d["model"]["id"], arch=d["model"]["arch"], weights_sha256=d["model"]["weights_sha256"],
            backend=d["backend"], layers=layers, weight_scales=scales, predicted_bytes=int(d["predicted_bytes"]),
            rest_params=int(d["rest_params"]), budget_bytes=d.get("budget_bytes"),
            allocation=d.get("allocation", {}), calibration=d.get("calibration", {}), clips=d.get("clips", {}),
            version=d["version"])
    except (KeyError, TypeError, ValueError) as e:
        raise MyqasrError(f"{path}: corrupted scheme ({type(e).__name__}: {e})") from None
    check_runs_on_backend(scheme, str(path))
    return scheme


def check_runs_on_backend(scheme: Scheme, source: str = "scheme") -> None:
    """Every layer's format must be one its backend runs for the layer's kind (a hand-edited scheme that asks for
    3-bit convs, or a format whose name and fields disagree, is refused before anything uses it)."""
    for p in scheme.layers:
        problem = runs_on(p.format, p.layer.kind, scheme.backend)
        if problem:
            raise MyqasrError(f"{source}: layer {p.name}: {problem}")
        if p.format.activation == "static_int8" and not (p.input_scale and p.output_scale):
            raise MyqasrError(f"{source}: layer {p.name}: {p.format.name} needs static input and output scales")


def check_scheme_matches(scheme: Scheme, model_id: str, weights_sha256: str, source: str = "scheme") -> None:
    """A scheme only applies to the exact weights it was planned for."""
    if scheme.weights_sha256 != weights_sha256:
        raise MyqasrError(f"{source}: planned for model {scheme.model_id!r} (weights {scheme.weights_sha256[:12]}), "
                          f"but the loaded model {model_id!r} has weights {weights_sha256[:12]}")
