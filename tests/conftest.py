"""Shared fixtures: the real embedded Whisper tiny.en (loaded once per session) and synthesized user clips."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def embedded():
    """The real converted Whisper tiny.en as a LoadedModel (converted once into the per-user cache)."""
    from myqasr.models import load_model
    return load_model(None)


SENTENCES = [
    "The meeting starts at three o'clock tomorrow.",
    "Please send me the report before Friday.",
    "It will rain in the afternoon, so take an umbrella.",
    "My sister lives in a small house near the river.",
]


def synthesize(out_dir: Path, voice: str = "awb", sentences=SENTENCES) -> Path:
    """flite speech at 16 kHz mono with .txt transcripts: a real-sounding test user made offline."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(sentences):
        raw = out_dir / f"raw{i}.wav"
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(raw)], check=True)
        subprocess.run(["sox", "-G", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out_dir / f"{i:02d}.wav"),
                        "rate", "-v"], check=True)
        raw.unlink()
        (out_dir / f"{i:02d}.txt").write_text(text + "\n")
    return out_dir


@pytest.fixture(scope="session")
def user_clips_dir(tmp_path_factory):
    assert shutil.which("flite") and shutil.which("sox"), "make test installs flite and sox"
    return synthesize(tmp_path_factory.mktemp("user_awb"))
