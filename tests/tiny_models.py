"""Tiny random-weight ASR checkpoints for tests, written with save_pretrained into a local directory
(no hub). Deterministic: the same seed gives the same weights, so `weights_hash` is stable."""
from __future__ import annotations

import json
import os

import torch

WAV2VEC2_VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|", *"ETAONIHSRDLUMWCFGYPBVK'XJQZ"]  # 32, wav2vec2-base-960h order
WHISPER_SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>",
                    "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]


def tiny_wav2vec2(tmp_dir, seed: int = 0) -> str:
    """Save a random `Wav2Vec2ForCTC` (hidden 64, 2 layers, 2 heads, FFN 128, 3 conv layers, vocab 32) and its
    `Wav2Vec2Processor` into <tmp_dir>/tiny-wav2vec2; returns that path."""
    from transformers import (Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC,
                              Wav2Vec2Processor)

    out = os.path.join(str(tmp_dir), "tiny-wav2vec2")
    os.makedirs(out, exist_ok=True)
    config = Wav2Vec2Config(
        vocab_size=len(WAV2VEC2_VOCAB), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, conv_dim=(32, 32, 32), conv_kernel=(10, 3, 3), conv_stride=(5, 2, 2),
        feat_extract_norm="group", do_stable_layer_norm=False, num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4, pad_token_id=0, bos_token_id=1, eos_token_id=2,
        ctc_loss_reduction="mean",
    )
    torch.manual_seed(seed)
    model = Wav2Vec2ForCTC(config).eval()
    model.save_pretrained(out)
    vocab_path = os.path.join(out, "vocab.json")
    with open(vocab_path, "w", encoding="utf-8") as f:
        json.dump({t: i for i, t in enumerate(WAV2VEC2_VOCAB)}, f)
    tokenizer = Wav2Vec2CTCTokenizer(vocab_path, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                     eos_token="</s>", word_delimiter_token="|")
    feature_extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                                 do_normalize=True, return_attention_mask=False)
    Wav2Vec2Processor(feature_extractor=feature_extractor, tokenizer=tokenizer).save_pretrained(out)
    return out


def _byte_level_alphabet() -> list[str]:
    """GPT-2's 256 byte-level symbols in GPT-2 id order (so id 220 is the space symbol, as in Whisper)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(others))]


def tiny_whisper_tokenizer():
    """Byte-level Whisper tokenizer without merges: 256 byte symbols + 9 specials (<|endoftext|> = 256,
    <|startoftranscript|> = 257, <|notimestamps|> = 264); 265 ids, no timestamp tokens."""
    from transformers import WhisperTokenizer

    vocab = {s: i for i, s in enumerate(_byte_level_alphabet())}
    vocab["<|endoftext|>"] = 256
    tok = WhisperTokenizer(vocab=vocab, merges=[], pad_token="<|endoftext|>",
                           additional_special_tokens=WHISPER_SPECIALS, model_max_length=448)
    return tok


def tiny_whisper(tmp_dir, seed: int = 0) -> str:
    """Save a random `WhisperForConditionalGeneration` (d_model 64, 2+2 layers, 2 heads, FFN 128, 80 mels,
    30 s windows, the 265-id byte-level `tiny_whisper_tokenizer`; ~1.5 MB) and its `WhisperProcessor` into
    <tmp_dir>/tiny-whisper; returns that path."""
    from transformers import GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration
    from transformers import WhisperProcessor

    out = os.path.join(str(tmp_dir), "tiny-whisper")
    tokenizer = tiny_whisper_tokenizer()
    eot, sot = tokenizer.convert_tokens_to_ids(["<|endoftext|>", "<|startoftranscript|>"])
    no_ts = tokenizer.convert_tokens_to_ids("<|notimestamps|>")
    suppress = tokenizer.convert_tokens_to_ids(WHISPER_SPECIALS[1:])  # random weights: never emit prompt tokens
    config = WhisperConfig(
        vocab_size=len(tokenizer), num_mel_bins=80, d_model=64, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128,
        max_source_positions=1500, max_target_positions=448, activation_function="gelu",
        scale_embedding=False, tie_word_embeddings=True, bos_token_id=eot, eos_token_id=eot, pad_token_id=eot,
        decoder_start_token_id=sot, suppress_tokens=suppress, begin_suppress_tokens=[220, eot],
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot, bos_token_id=eot, eos_token_id=eot, pad_token_id=eot,
        forced_decoder_ids=[[1, no_ts]], no_timestamps_token_id=no_ts, is_multilingual=False, max_length=448,
        suppress_tokens=suppress, begin_suppress_tokens=[220, eot], alignment_heads=[[1, 0]],
    )
    model.save_pretrained(out)
    feature_extractor = WhisperFeatureExtractor(feature_size=80, sampling_rate=16000, hop_length=160,
                                                chunk_length=30, n_fft=400, padding_value=0.0)
    WhisperProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer).save_pretrained(out)
    return out
