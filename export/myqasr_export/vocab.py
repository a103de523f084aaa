"""The vocabulary side file `<model>.vocab.json` next to every `.pte` (read by the host runner and the Android app).

Format "myqasr-vocab", version 1:
  {"format": "myqasr-vocab", "version": 1, "arch": "whisper" | "wav2vec2", "model_id": str, "scheme": str | null,
   "pte_sha256": hex, "ptd_sha256": hex | null, "sample_rate": 16000,
   "tokens": [str, ...],                       # index = token id
   "whisper": {"n_samples": 480000, "decoder_start_ids": [50257, 50362], "eos_id": 50256, "max_new_tokens": 128,
               "suppress_tokens": [...], "begin_suppress_tokens": [220, 50256], "first_special_id": 50256,
               "token_encoding": "gpt2_bytes"},
   "ctc": {"blank_id": int, "word_delimiter": "|", "input_multiple": 320, "normalized_in_graph": bool}}
Whisper tokens are GPT-2 byte-level BPE strings (specials and timestamps verbatim): text = the tokens of ids below
`first_special_id` concatenated, each character mapped back to its byte (GPT-2 `bytes_to_unicode`), UTF-8 decoded.
CTC tokens are characters; `word_delimiter` becomes a space.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from myqasr.constants import SAMPLE_RATE, WHISPER_EN_PROMPT, WHISPER_N_SAMPLES
from myqasr.errors import MyqasrError

VOCAB_FORMAT = "myqasr-vocab"
VOCAB_VERSION = 1


def vocab_path_for(pte: str | os.PathLike) -> Path:
    p = Path(pte)
    return p.with_name((p.name[:-4] if p.name.endswith(".pte") else p.name) + ".vocab.json")


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's bytes_to_unicode."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


@dataclass
class Vocab:
    arch: str
    tokens: list[str]
    sample_rate: int = SAMPLE_RATE
    whisper: dict = field(default_factory=dict)
    ctc: dict = field(default_factory=dict)
    model_id: str = ""
    scheme: str | None = None
    pte_sha256: str | None = None
    ptd_sha256: str | None = None

    def to_dict(self) -> dict:
        d = {"format": VOCAB_FORMAT, "version": VOCAB_VERSION, "arch": self.arch, "model_id": self.model_id,
             "scheme": self.scheme, "pte_sha256": self.pte_sha256, "ptd_sha256": self.ptd_sha256,
             "sample_rate": self.sample_rate, "tokens": self.tokens}
        if self.arch == "whisper":
            d["whisper"] = self.whisper
        else:
            d["ctc"] = self.ctc
        return d

    def decode(self, ids: list[int]) -> str:
        if self.arch != "whisper":
            return self.decode_ctc(ids)
        first = int(self.whisper.get("first_special_id", len(self.tokens)))
        dec = _byte_decoder()
        text = "".join(self.tokens[i] for i in ids if 0 <= i < first)
        return bytes(dec.get(c, ord("?")) for c in text).decode("utf-8", errors="replace")

    def no_timestamps_id(self) -> int:
        """<|notimestamps|>'s id; the timestamps <|0.00|> ... <|30.00|> follow it (Whisper's long-form method)."""
        try:
            return self.tokens.index("<|notimestamps|>")
        except ValueError:
            raise MyqasrError("vocabulary: no <|notimestamps|> token, so no timestamps for long recordings") from None

    def decode_ctc(self, ids: list[int]) -> str:
        delim = self.ctc.get("word_delimiter", "|")
        skip = set(self.ctc.get("skip_ids", []))
        text = "".join(self.tokens[i] for i in ids if i not in skip and 0 <= i < len(self.tokens))
        return " ".join(text.replace(delim, " ").split())


def whisper_vocab(tokenizer, generation_config, max_new_tokens: int, n_samples: int = WHISPER_N_SAMPLES,
                  prompt=WHISPER_EN_PROMPT) -> Vocab:
    n = len(tokenizer)
    tokens = tokenizer.convert_ids_to_tokens(list(range(n)))
    eos = int(generation_config.eos_token_id if not isinstance(generation_config.eos_token_id, list)
              else generation_config.eos_token_id[0])
    return Vocab("whisper", [t if t is not None else "" for t in tokens], SAMPLE_RATE, {
        "n_samples": n_samples, "decoder_start_ids": [int(t) for t in prompt], "eos_id": eos,
        "max_new_tokens": int(max_new_tokens),
        "suppress_tokens": [int(t) for t in (generation_config.suppress_tokens or [])],
        "begin_suppress_tokens": [int(t) for t in (generation_config.begin_suppress_tokens or [])],
        "first_special_id": eos, "token_encoding": "gpt2_bytes"})


def ctc_vocab(tokenizer, vocab_size: int, normalized_in_graph: bool) -> Vocab:
    tokens = tokenizer.convert_ids_to_tokens(list(range(vocab_size)))
    tokens = [t if t is not None else "" for t in tokens]
    specials = {tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id, tokenizer.pad_token_id}
    blank = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return Vocab("wav2vec2", tokens, SAMPLE_RATE, ctc={
        "blank_id": int(blank), "word_delimiter": getattr(tokenizer, "word_delimiter_token", "|") or "|",
        "skip_ids": sorted(int(i) for i in specials if i is not None and i < vocab_size),
        "input_multiple": 320, "normalized_in_graph": bool(normalized_in_graph)})


def load_vocab(pte: str | os.PathLike) -> Vocab:
    path = vocab_path_for(pte)
    if not path.is_file():
        raise MyqasrError(f"{path}: vocabulary side file missing (expected next to {Path(pte).name})")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        if d.get("format") != VOCAB_FORMAT or d.get("version") != VOCAB_VERSION:
            raise ValueError(f"not a {VOCAB_FORMAT} v{VOCAB_VERSION} file")
        return Vocab(d["arch"], list(d["tokens"]), int(d.get("sample_rate", SAMPLE_RATE)), d.get("whisper", {}),
                     d.get("ctc", {}), d.get("model_id", ""), d.get("scheme"), d.get("pte_sha256"),
                     d.get("ptd_sha256"))
    except (ValueError, KeyError, TypeError) as e:
        raise MyqasrError(f"{path}: corrupted vocabulary file ({e})") from None
