"""Size model: how many bytes a model takes on disk for a given per-layer format assignment.

MB means 10^6 bytes everywhere. The numbers are those of the serialized program for a backend: packed weights
(8 bits -> 1 byte, 4 bits -> half a byte), one scale per channel or group (fp32 for 8-bit, bf16 for 4-bit formats,
as XNNPACK stores them), fp32 bias, and every parameter
outside the quantizable layers (norms, positional tables) in fp32, plus a fixed per-program and per-layer
overhead. The "xnnpack" profile's constants are calibrated against real .pte bytes by myqasr_export.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .formats import Format
from .layers import Layer

MB = 1_000_000


def floor_mb(smallest_bytes: int) -> float:
    """The smallest budget in MB, rounded up to the 3 decimals we print, so that typing it back is accepted."""
    return math.ceil(smallest_bytes / 1000) / 1000


@dataclass(frozen=True)
class BackendProfile:
    name: str
    scale_bytes: int = 4              # bytes per stored scale of 8-bit formats (fp32)
    scale_bytes_4bit: int = 4         # bytes per stored scale of 4-bit formats (XNNPACK: bf16)
    program_overhead: int = 0         # fixed bytes of the file (flatbuffer, delegate headers, method graph)
    layer_overhead: int = 0           # bytes per layer (per delegated op / tensor metadata)
    container_storage: bool = True    # weights take their kernel container width (8 or 4 bits); False: exactly b bits
    shared_table: bool = False        # a tied layer (Layer.tied_to) reads its table's stored bytes: one copy (.pte + .ptd)
    side_file_bytes: int = 0          # of program_overhead: files shipped beside the program (asr-runner: tokenizer.json)


PROFILES = {
    # Calibrated against real .pte bytes of Whisper tiny.en (myqasr_export, executorch 1.5.1): program_overhead covers
    # the front end, the flatbuffer and the delegate headers (benchmarks/results/design_notes.md). The tied
    # token table is two layers (embedding lookup, XNNPACK projection), each stored. Re-measured in perf.md. 950,000
    # with the DFT-as-Conv1d LogMel front end (716,288 B of program); ExecuTorch's WhisperAudioProcessor (77,088 B)
    # takes 639,200 B less: 310,800 (all-int8 tiny.en: 60.841 MB real, 60.925 MB predicted, longform.md).
    "xnnpack": BackendProfile("xnnpack", scale_bytes=4, scale_bytes_4bit=2, program_overhead=310_800,
                              layer_overhead=0),
    # The asr-runner target: `.pte` + `.ptd` + preprocessor.pte, the tied table (lookup + output projection: weights
    # and scales) stored once in the `.ptd`; `plan.model_parts` adds the model's tokenizer.json. 232,000 B for the
    # single-file methods' program (all-int8 / all-int4 tiny.en within +4,160 / +576 B); the ASR runner's contract
    # adds 824,544 B, measured at 30 MB (mostly the decoder's 4 x 51,864 float32 rule rows, `whisper.rule_rows`;
    # the 77,600 B preprocessor moved to its own file). Re-measured in budgets-asr-runner.md.
    "xnnpack-shared": BackendProfile("xnnpack", scale_bytes=4, scale_bytes_4bit=2, program_overhead=1_057_200,
                                     layer_overhead=0, shared_table=True),
    # The paper's accounting: b-bit weights take b bits, no scale or overhead (simulation only).
    "research": BackendProfile("research", scale_bytes=0, scale_bytes_4bit=0, container_storage=False),
}


def storage_bits(fmt: Format) -> int:
    """Bits one weight takes in the file: XNNPACK stores 8 or 4 bits (or fp32)."""
    if fmt.bits >= 32:
        return 32
    return 4 if fmt.bits <= 4 else 8


def layer_bytes(layer: Layer, fmt: Format, profile: BackendProfile) -> int:
    """Bytes of one layer (weights + scales + bias) in the given format."""
    bias = 4 * layer.out_channels if layer.bias else 0
    if not fmt.quantized:
        weight = 4 * layer.numel
        scales = 0
    else:
        bits = storage_bits(fmt) if profile.container_storage else fmt.bits
        weight = math.ceil(layer.numel * bits / 8)
        if fmt.granularity == "per_group":
            n_scales = layer.numel // fmt.group_size
        else:
            n_scales = layer.out_channels
        scales = n_scales * (profile.scale_bytes_4bit if storage_bits(fmt) == 4 else profile.scale_bytes)
    return weight + scales + bias + profile.layer_overhead


def stored_bytes(layer: Layer, fmt: Format, profile: BackendProfile) -> int:
    """Bytes one layer adds to the file(s). With `shared_table`, a tied layer stores no weights or scales of its own
    (the table it is tied to is stored once, in the `.ptd`, for both uses), only its bias."""
    if profile.shared_table and layer.tied_to:
        return (4 * layer.out_channels if layer.bias else 0) + profile.layer_overhead
    return layer_bytes(layer, fmt, profile)


def model_bytes(layers: list[Layer], formats: dict[str, Format], rest_params: int, profile: BackendProfile) -> int:
    """Total bytes: quantizable layers in their formats + everything else in fp32 + program overhead."""
    total = profile.program_overhead + 4 * rest_params
    for layer in layers:
        total += stored_bytes(layer, formats[layer.name], profile)
    return total
