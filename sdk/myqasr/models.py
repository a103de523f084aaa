"""Loading an ASR model: `load_model(model_id)` -> `LoadedModel` (fp32 eval torch module + processor).

`None` or "embedded:whisper-tiny.en" is the embedded model (no network). Anything else is a local
directory or a Hugging Face hub id holding a Whisper (`WhisperForConditionalGeneration`) or a CTC
Wav2Vec2 (`Wav2Vec2ForCTC`) checkpoint. Every failure is a one-line `MyqasrError` naming the model id.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

from .embedded import EMBEDDED_ID, load_embedded_whisper
from .errors import MyqasrError

ARCHS = ("whisper", "wav2vec2")
HUB_PROBE_TIMEOUT_S = 5.0


@dataclass
class LoadedModel:
    """A model ready for calibration / quantization: `model` is an fp32 torch module in eval mode."""
    model: Any
    processor: Any
    arch: str           # "whisper" | "wav2vec2"
    model_id: str
    weights_sha256: str


def weights_hash(model) -> str:
    """sha256 over the state_dict tensors in sorted name order (name, dtype, shape and raw bytes of each);
    a tensor shared by several names (tied weights) counts once, under its first name."""
    import torch

    h = hashlib.sha256()
    seen = set()
    for name, t in sorted(model.state_dict().items()):
        if t.numel():  # same memory, shape and dtype = the same (tied) tensor
            key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()), t.dtype)
            if key in seen:
                continue
            seen.add(key)
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


# --------------------------------------------------------------------------- where the files come from

def _one_line(e: BaseException) -> str:
    """The first line of an exception's message, or its type name."""
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _hub_problem(model_id: str) -> tuple[bool, str | None]:
    """Ask the hub about `model_id` once, without retries: (reachable, problem). reachable=False means no
    network (or a hub outage); problem is set when the hub answered that the model cannot be used."""
    from huggingface_hub import model_info
    from huggingface_hub.errors import GatedRepoError, HFValidationError, RepositoryNotFoundError

    try:
        model_info(model_id, timeout=HUB_PROBE_TIMEOUT_S)
        return True, None
    except GatedRepoError:
        return True, "gated on the Hugging Face hub: accept its terms and log in (hf auth login)"
    except RepositoryNotFoundError:
        return True, ("not a local directory and not found on the Hugging Face hub "
                      "(private? log in with hf auth login)")
    except HFValidationError as e:
        return True, f"not a local directory and not a valid Hugging Face id ({_one_line(e)})"
    except Exception:  # connection refused, DNS failure, timeout, proxy error, 5xx
        return False, None


def _in_hub_cache(model_id: str) -> bool:
    """True if config.json of `model_id` is already in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except Exception:
        return False


def resolve_source(model_id: str) -> tuple[str, bool]:
    """(what to pass to from_pretrained, local_files_only). Local directories load offline; a hub id is
    probed once (short timeout, no retries) so that an offline machine fails in seconds, not minutes; if
    the hub cannot be reached, a copy in the local Hugging Face cache is used offline."""
    path = os.path.expanduser(model_id)
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "config.json")):
            raise MyqasrError(f"model {model_id!r}: directory has no config.json (not a saved model)")
        return path, True
    if os.path.exists(path):
        raise MyqasrError(f"model {model_id!r}: is a file; give the directory written by save_pretrained")
    if model_id.startswith(("/", "./", "../", "~", "\\")) or os.path.isabs(model_id) or model_id.count("/") > 1:
        raise MyqasrError(f"model {model_id!r}: no such directory (and not a Hugging Face id)")
    from huggingface_hub.constants import is_offline_mode

    if is_offline_mode() or any(os.environ.get(v, "").upper() in ("1", "ON", "YES", "TRUE")
                                for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        if _in_hub_cache(model_id):
            return model_id, True
        raise MyqasrError(f"model {model_id!r}: not a local directory and not in the Hugging Face cache "
                          "(HF_HUB_OFFLINE is set)")
    reachable, problem = _hub_problem(model_id)
    if problem:
        raise MyqasrError(f"model {model_id!r}: {problem}")
    if not reachable:
        if _in_hub_cache(model_id):
            return model_id, True
        raise MyqasrError(f"model {model_id!r}: not a local directory and could not be downloaded from "
                          "the Hugging Face hub (offline?)")
    return model_id, False


# --------------------------------------------------------------------------- loading

def _arch_of(config) -> str:
    """The myqasr arch ("whisper" | "wav2vec2") of a transformers config; ValueError for anything else."""
    if config.model_type in ARCHS:
        return config.model_type
    raise ValueError(f"architecture {config.model_type!r} is not supported (only whisper and wav2vec2 CTC)")


def _model_and_processor(source: str, arch: str, offline: bool):
    """from_pretrained the fp32 model (complete: no freshly initialised weights) and its processor."""
    import torch
    from transformers import Wav2Vec2ForCTC, Wav2Vec2Processor, WhisperForConditionalGeneration, WhisperProcessor

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()       # "Loading weights" bars would break the one-line-error output contract
    model_cls, proc_cls = {"whisper": (WhisperForConditionalGeneration, WhisperProcessor),
                           "wav2vec2": (Wav2Vec2ForCTC, Wav2Vec2Processor)}[arch]
    model, info = model_cls.from_pretrained(source, local_files_only=offline, dtype=torch.float32,
                                            output_loading_info=True)
    if info.get("missing_keys"):
        missing = sorted(info["missing_keys"])
        hint = "; a wav2vec2 model needs a fine-tuned CTC head" if arch == "wav2vec2" else ""
        raise ValueError(f"checkpoint lacks {len(missing)} {model_cls.__name__} weights "
                         f"(e.g. {missing[0]}){hint}")
    processor = proc_cls.from_pretrained(source, local_files_only=offline)
    return model.float().eval(), processor


def load_model(model_id: str | None = None) -> LoadedModel:
    """Load an ASR model by id: None / "embedded:whisper-tiny.en" (the embedded Whisper tiny.en), a local
    save_pretrained directory, or a Hugging Face hub id; Whisper or Wav2Vec2-CTC only."""
    if model_id is None or model_id == EMBEDDED_ID:
        model, processor = load_embedded_whisper()
        return LoadedModel(model, processor, "whisper", EMBEDDED_ID, weights_hash(model))
    model_id = str(model_id)
    if model_id.startswith("embedded:"):
        raise MyqasrError(f"model {model_id!r}: unknown embedded model (the only one is {EMBEDDED_ID!r})")
    source, offline = resolve_source(model_id)
    try:
        from transformers import AutoConfig

        arch = _arch_of(AutoConfig.from_pretrained(source, local_files_only=offline))
        model, processor = _model_and_processor(source, arch, offline)
    except MyqasrError:
        raise
    except Exception as e:  # download failure, corrupt files, unsupported architecture, missing processor
        raise MyqasrError(f"model {model_id!r}: {_one_line(e)}") from e
    return LoadedModel(model, processor, arch, model_id, weights_hash(model))


def tokenizer_json(loaded: LoadedModel) -> bytes:
    """The model's Hugging Face `tokenizer.json` (compact), as ExecuTorch's ASR runner loads it (--target
    asr-runner writes it beside the program; the size model counts its bytes)."""
    tok = getattr(loaded.processor, "tokenizer", None)
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is None:
        raise MyqasrError(f"{loaded.model_id}: its tokenizer has no tokenizer.json form (a fast tokenizer is needed "
                          "for --target asr-runner)")
    return backend.to_str().encode("utf-8")

