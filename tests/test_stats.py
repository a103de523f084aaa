"""Streaming statistics: exactness of the median, bounded memory, trimming of Whisper padding."""
import numpy as np
import pytest
import torch

from myqasr.stats import N_BINS, StreamingStats, Statistics, load_statistics, save_statistics


def test_median_and_percentiles_within_one_percent_of_exact():
    g = torch.Generator().manual_seed(0)
    chunks = [torch.randn(1000, 37, generator=g) * s for s in (0.01, 1.0, 30.0)] + \
             [torch.distributions.Laplace(0.0, 2.0).sample((5000,))]
    s = StreamingStats()
    for c in chunks:
        s.update(c)
    allv = torch.cat([c.reshape(-1) for c in chunks]).abs().double()
    for q, key in ((0.5, "median"), (0.9, "p90"), (0.99, "p99"), (0.999, "p999")):
        exact = float(torch.quantile(allv, q))
        assert abs(s.summary()[key] - exact) / exact < 0.01, (key, s.summary()[key], exact)
    summ = s.summary()
    assert summ["count"] == allv.numel()
    assert abs(summ["mean"] - float(allv.mean())) < 1e-6 * float(allv.mean()) + 1e-9
    assert abs(summ["std"] - float(allv.std(unbiased=False))) / float(allv.std()) < 1e-6
    assert summ["abs_max"] == float(allv.max())


def test_memory_does_not_grow_with_data():
    s = StreamingStats()
    s.update(torch.randn(10))
    size = s.hist.numel()
    for _ in range(50):
        s.update(torch.randn(20000) * 100)
    assert s.hist.numel() == size == N_BINS
    assert s.count == 10 + 50 * 20000


def test_zeros_and_tiny_values_do_not_break_median():
    s = StreamingStats()
    s.update(torch.zeros(100))
    s.update(torch.full((300,), 3.0))
    assert abs(s.quantile(0.5) - 3.0) / 3.0 < 0.005
    assert s.summary()["min"] == 0.0


def test_statistics_file_roundtrip(tmp_path):
    s = StreamingStats()
    s.update(torch.arange(100.0))
    stats = Statistics("m", "abc", {"count": 1, "seconds": 1.0, "sha256": "x"}, {"l": s.summary()},
                       {"l": s.hist.numpy()}, {"l": {"int8_pc_da8": 1e-6, "int4_g32_da8": 3e-4}})
    save_statistics(stats, tmp_path / "s.safetensors")
    back = load_statistics(tmp_path / "s.safetensors")
    assert back.layers == stats.layers and back.clips == stats.clips and back.weights_sha256 == "abc"
    assert back.costs == stats.costs and back.provenance == {"computed_on": "host"}
    assert np.array_equal(back.histograms["l"], stats.histograms["l"])
    assert back.metric("median") == {"l": s.summary()["median"]}


def test_partials_of_split_data_add_up_to_the_whole(tmp_path):
    """The phone's contract: per-call partials (fixed bins, sums, extremes) merged give the one-pass statistics;
    a phone file (version 4) has provenance and no costs, and a version 3 host file still reads."""
    from myqasr.stats import PARTIAL_MOMENTS, statistics_from_partials

    y = torch.randn(5000) * 3
    whole = StreamingStats()
    whole.update(y)
    calls = []
    for part in (y[:1234], y[1234:]):
        s = StreamingStats()
        s.update(part)
        calls.append((["l"], s.hist.numpy()[None], np.array([[s.count, s.sum_abs, s.sum_sq, s.max, s.min, 0.0]])))
    assert len(PARTIAL_MOMENTS) == 6
    merged = statistics_from_partials(["l"], calls, model_id="m", weights_sha256="w", clips={"count": 2, "seconds": 1},
                                      provenance={"computed_on": "phone", "app": "test"})
    assert merged.layers["l"]["median"] == whole.summary()["median"]
    assert merged.layers["l"]["count"] == 5000 and merged.layers["l"]["abs_max"] == whole.summary()["abs_max"]
    assert abs(merged.layers["l"]["std"] - whole.summary()["std"]) < 1e-9
    save_statistics(merged, tmp_path / "phone.safetensors")
    back = load_statistics(tmp_path / "phone.safetensors")
    assert back.provenance == {"computed_on": "phone", "app": "test"} and back.costs == {}
    from myqasr.errors import MyqasrError
    with pytest.raises(MyqasrError, match="computed_on must be one of host, phone"):
        statistics_from_partials(["l"], calls, model_id="m", weights_sha256="w", clips={}, provenance={})
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file
    with safe_open(str(tmp_path / "phone.safetensors"), "np") as f:
        meta = dict(f.metadata())
    meta.pop("provenance")
    save_file(load_file(str(tmp_path / "phone.safetensors")), str(tmp_path / "v3.safetensors"),
              metadata={**meta, "version": "3", "costs": "{}"})
    assert load_statistics(tmp_path / "v3.safetensors").provenance == {"computed_on": "host"}


# ---- statistics files: what they record, and the files that are refused ------------------------------------------

def _stats_of(clips, weights="w" * 64):
    from myqasr.plan import clips_info
    s = StreamingStats()
    s.update(torch.arange(1.0, 101.0))
    return Statistics("m", weights, clips_info(clips), {"l": s.summary()}, {"l": s.hist.numpy()})


def _clips(*seeds):
    from myqasr.audio import Clip
    return [Clip(f"c{s}.wav", np.random.default_rng(s).standard_normal(1600).astype(np.float32)) for s in seeds]


def test_exact_median_of_a_known_set():
    """|y| = 1..1001: the median is 501 (within the histogram's 0.14 %), never a scaled value."""
    s = StreamingStats()
    s.update(-torch.arange(1.0, 1002.0))
    assert abs(s.summary()["median"] - 501.0) / 501.0 < 0.0014
    assert abs(s.summary()["p90"] - 901.0) / 901.0 < 0.0014


def _write_safetensors(path, metadata):
    from safetensors.numpy import save_file
    save_file({"l": np.zeros(3)}, str(path), metadata=metadata)


@pytest.mark.parametrize("name,make,words", [
    ("missing.safetensors", None, "not found"),
    ("garbage.safetensors", lambda p: p.write_bytes(b"\x00\x01 not a safetensors file"), "not a readable"),
    ("truncated.safetensors", "truncate", "not a readable"),
    ("other.safetensors", lambda p: _write_safetensors(p, {"format": "pt"}), "not a myqasr statistics file"),
    ("nometa.safetensors", lambda p: _write_safetensors(p, None), "not a myqasr statistics file"),
    ("v1.safetensors", "version1", "recompute them with `myqasr stats`"),
    ("nolayers.safetensors", lambda p: _write_safetensors(p, {"format": "myqasr-stats", "version": "3"}),
     "not a readable"),
    ("v2.safetensors", lambda p: _write_safetensors(p, {"format": "myqasr-stats", "version": "2"}),
     "recompute them with `myqasr stats`"),
    ("badcost.safetensors", "badcost", "costs of layer l"),
])
def test_bad_statistics_files_are_one_line_errors(tmp_path, name, make, words):
    from myqasr.errors import MyqasrError
    path = tmp_path / name
    if make == "truncate":
        save_statistics(_stats_of(_clips(0)), path)
        path.write_bytes(path.read_bytes()[:-100])
    elif make == "version1":
        save_statistics(_stats_of(_clips(0)), path)
        from safetensors import safe_open
        from safetensors.numpy import load_file, save_file
        with safe_open(str(path), "np") as f:
            meta = f.metadata()
        save_file(load_file(str(path)), str(path), metadata={**meta, "version": "1"})
    elif make == "badcost":
        stats = _stats_of(_clips(0))
        stats.costs = {"l": {"int4_g32_da8": -1.0}}
        save_statistics(stats, path)
    elif make is not None:
        make(path)
    with pytest.raises(MyqasrError) as e:
        load_statistics(path)
    msg = str(e.value)
    assert name in msg and words in msg and "\n" not in msg, msg


class _Loaded:
    model_id, weights_sha256 = "m", "w" * 64


def test_statistics_file_is_reused_only_for_its_own_clips_and_weights(tmp_path, capsys):
    """The explicit rule of issue 16: a statistics file records its clip set (sha256 of the audio) and the model's
    weights; `statistics_for` reuses it for exactly those, and refuses anything else in one line."""
    from myqasr.errors import MyqasrError
    from myqasr.plan import statistics_for

    clips = _clips(0, 1)
    path = tmp_path / "s.safetensors"
    save_statistics(_stats_of(clips), path)
    capsys.readouterr()
    assert statistics_for(_Loaded(), clips, path).layers == _stats_of(clips).layers
    assert "reusing statistics" in capsys.readouterr().out
    for other in (_clips(0), _clips(1, 0), _clips(0, 2), [_clips(0)[0], type(clips[1])("c1.wav", clips[1].audio * 2)]):
        with pytest.raises(MyqasrError) as e:
            statistics_for(_Loaded(), other, path)
        msg = str(e.value)
        assert "computed on another clip set (2 clips" in msg and "s.safetensors" in msg and "\n" not in msg
    save_statistics(_stats_of(clips, weights="v" * 64), path)
    with pytest.raises(MyqasrError, match="computed on other weights than model 'm'"):
        statistics_for(_Loaded(), clips, path)
    renamed = [type(c)(f"renamed{i}.wav", c.audio) for i, c in enumerate(clips)]
    save_statistics(_stats_of(clips), path)
    assert statistics_for(_Loaded(), renamed, path).clips["count"] == 2      # the audio names the set, not paths


def test_a_large_tensor_is_counted_in_chunks_exactly():
    """update() walks a tensor larger than UPDATE_CHUNK in pieces (flat memory for long transcripts' logits); the
    histogram, count and extremes are those of one pass over the whole tensor."""
    from myqasr.stats import UPDATE_CHUNK

    y = torch.randn(3, UPDATE_CHUNK + 12345, generator=torch.Generator().manual_seed(3)) * 5
    whole, chunked = StreamingStats(), StreamingStats()
    whole.update_chunk(y.reshape(-1))
    chunked.update(y)
    assert torch.equal(whole.hist, chunked.hist) and whole.count == chunked.count == y.numel()
    assert (whole.max, whole.min) == (chunked.max, chunked.min)
    assert abs(whole.sum_abs - chunked.sum_abs) < 1e-9 * whole.sum_abs
