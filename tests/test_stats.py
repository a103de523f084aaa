"""Streaming statistics: exactness of the median, bounded memory, trimming of Whisper padding."""
import numpy as np
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
                       {"l": s.hist.numpy()})
    save_statistics(stats, tmp_path / "s.safetensors")
    back = load_statistics(tmp_path / "s.safetensors")
    assert back.layers == stats.layers and back.clips == stats.clips and back.weights_sha256 == "abc"
    assert np.array_equal(back.histograms["l"], stats.histograms["l"])
    assert back.metric("median") == {"l": s.summary()["median"]}
