"""Fixture sets of the on-phone statistics (android_demo/app/src/test/resources/fixtures/phonestats/, and the live
set tests/test_phone_stats.py makes on a tiny random Whisper).

A set holds what the phone's aggregation reads and what it must reproduce:
  stats.layers.json        the statistics program's description (`myqasr export-stats`)
  clip<i>.encoder.json.gz  the clip's encoder call as the ExecuTorch runtime returned it (sparse histograms)
  clip<i>.decoder.json.gz  the clip's decoder calls (greedy steps + the last token), summed by the aggregation rules
  host.json                the HOST pass on the same clips (`myqasr.stats.collect_statistics`): per-layer summaries

Refresh the committed tiny.en set (the sample user's first 2 calibration clips; ~4 min: one export, two clips):

    flock /tmp/myqasr-heavy.lock env OMP_NUM_THREADS=2 PYTHONPATH=sdk:export python tests/phone_stats_fixtures.py
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "android_demo" / "app" / "src" / "test" / "resources" / "fixtures" / "phonestats"
SAMPLE_CLIPS = 2
BUDGETS = 5                  # budgets at which the default plan must allocate identically


def host_pass(loaded, clips):
    """The host's statistics pass alone (no cost pass): what the phone's statistics must reproduce."""
    from myqasr.adapters import adapter_for, own_transcripts
    from myqasr.longform import calibration_segments
    from myqasr.plan import clips_info
    from myqasr.stats import collect_statistics

    adapter = adapter_for(loaded.arch, loaded.processor)
    audios = [s.audio for s in calibration_segments(clips)]
    ids = own_transcripts(loaded.model, adapter, audios, batch_size=4)
    return collect_statistics(loaded.model, adapter, audios, adapter.layers(loaded.model), model_id=loaded.model_id,
                              weights_sha256=loaded.weights_sha256, clips=clips_info(clips), progress=False,
                              decoder_ids=ids)


def write_set(pte: Path, clips, host, out: Path):
    """Run the statistics program on `clips` with the host runtime, write the set; returns the Python twin's
    statistics of the same run."""
    from myqasr_export.phonestats import phone_statistics, write_call_fixtures
    from myqasr_export.statsprogram import layers_path_for

    out.mkdir(parents=True, exist_ok=True)
    twin = phone_statistics(pte, clips, threads=2, progress=False,
                            on_clip=lambda i, calls: write_call_fixtures(out, i, calls))
    shutil.copy(layers_path_for(pte), out / "stats.layers.json")
    (out / "host.json").write_text(json.dumps({"clips": host.clips["count"], "seconds": host.clips["seconds"],
                                               "layers": host.layers}, indent=0) + "\n")
    return twin


def default_allocations(loaded, stats, budgets) -> list[dict]:
    """{layer: format} of the allocation a phone's statistics get by default (no costs, so `auto` is the paper's walk
    on the medians) at each budget (MB)."""
    from myqasr.allocate import allocate_round_robin
    from myqasr.config import PlanConfig
    from myqasr.plan import model_parts
    from myqasr.size import MB

    config = PlanConfig()
    layers, ladder, rest, profile = model_parts(loaded, config)
    return [{k: f.name for k, f in allocate_round_robin(layers, stats.metric(config.metric), round(b * MB), ladder,
                                                          rest, profile, config.order, config.seed).items()}
            for b in budgets]


def budgets_mb(loaded) -> list[float]:
    """BUDGETS budgets from the all-int4 to the all-int8 size of the model (MB, just above each end)."""
    from myqasr.plan import uniform_bytes
    from myqasr.size import MB

    lo, hi = uniform_bytes(loaded, 2), uniform_bytes(loaded, 1)
    return [round((lo + (hi - lo) * i / (BUDGETS - 1)) / MB + 0.01, 3) for i in range(BUDGETS)]


def main(out: Path = COMMITTED) -> None:
    import tempfile

    from myqasr.audio import SAMPLE_USER_DIR, load_clips
    from myqasr.models import load_model
    from myqasr_export.statsprogram import export_statistics_program

    loaded = load_model()
    clips = load_clips(SAMPLE_USER_DIR / "calib")[:SAMPLE_CLIPS]
    with tempfile.TemporaryDirectory() as tmp:
        pte = Path(tmp) / "stats.pte"
        print(export_statistics_program(loaded, pte).summary())
        if out.exists():
            shutil.rmtree(out)
        write_set(pte, clips, host_pass(loaded, clips), out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else COMMITTED)
