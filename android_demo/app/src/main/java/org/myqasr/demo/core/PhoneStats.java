package org.myqasr.demo.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Streaming aggregation of the statistics program's outputs on the phone (the Java twin of
 * myqasr.stats.statistics_from_partials). Each call of the program's encoder / text_decoder returns, for its
 * layers, one histogram of |output| on FIXED log-spaced bins and six moments (count, sum |y|, sum y^2, max y,
 * min y, max |input|); adding a call is a sum, a max and a min per layer, so memory is fixed (about 80 KB per
 * layer) whatever the number of clips. {@link #summary} reads the median and percentiles from the histogram
 * exactly as the host's StreamingStats does.
 */
public final class PhoneStats {
    /** Column order of the program's moments output (myqasr.stats.PARTIAL_MOMENTS). */
    public static final List<String> MOMENTS = Collections.unmodifiableList(java.util.Arrays.asList(
            "count", "sum_abs", "sum_sq", "max", "min", "input_abs_max"));

    public final int log2Lo;
    public final int binsPerOctave;
    public final int nBins;
    private final List<String> layers;
    private final Map<String, Integer> index = new HashMap<>();
    private final double[][] hist;
    private final long[] count;
    private final double[] sumAbs;
    private final double[] sumSq;
    private final double[] max;
    private final double[] min;
    private final double[] inputAbsMax;

    public PhoneStats(List<String> layers, int log2Lo, int binsPerOctave, int nBins) {
        this.layers = new ArrayList<>(layers);
        this.log2Lo = log2Lo;
        this.binsPerOctave = binsPerOctave;
        this.nBins = nBins;
        int n = layers.size();
        for (int i = 0; i < n; i++) {
            if (index.put(layers.get(i), i) != null) {
                throw new IllegalArgumentException("layer listed twice: " + layers.get(i));
            }
        }
        hist = new double[n][nBins];
        count = new long[n];
        sumAbs = new double[n];
        sumSq = new double[n];
        max = new double[n];
        min = new double[n];
        inputAbsMax = new double[n];
        java.util.Arrays.fill(max, Double.NEGATIVE_INFINITY);
        java.util.Arrays.fill(min, Double.POSITIVE_INFINITY);
    }

    /** The statistics program's description (stats.layers.json, parsed): its layers and bins. */
    @SuppressWarnings("unchecked")
    public static PhoneStats forProgram(Map<String, Object> contract) {
        if (!"myqasr-stats-program".equals(contract.get("format")) || !"1".equals(contract.get("version"))) {
            throw new IllegalArgumentException("not a myqasr-stats-program version 1 description");
        }
        if (!MOMENTS.equals(contract.get("moments"))) {
            throw new IllegalArgumentException("the program's moments are " + contract.get("moments"));
        }
        Map<String, Object> bins = (Map<String, Object>) contract.get("bins");
        List<String> layers = new ArrayList<>();
        for (Object o : (List<Object>) contract.get("layers")) {
            layers.add((String) o);
        }
        return new PhoneStats(layers, ((Long) bins.get("log2_lo")).intValue(),
                ((Long) bins.get("bins_per_octave")).intValue(), ((Long) bins.get("n")).intValue());
    }

    public List<String> layers() {
        return Collections.unmodifiableList(layers);
    }

    /**
     * Adds one call's outputs: {@code hist} [rows.size() * nBins] (row-major, as the tensor's float data) and
     * {@code moments} [rows.size() * 6].
     */
    public void add(List<String> rows, float[] hist, double[] moments) {
        if (hist.length != rows.size() * nBins || moments.length != rows.size() * MOMENTS.size()) {
            throw new IllegalArgumentException("expected " + rows.size() + " rows of " + nBins + " bins and "
                    + MOMENTS.size() + " moments, got " + hist.length + " and " + moments.length + " values");
        }
        for (int r = 0; r < rows.size(); r++) {
            int l = layerIndex(rows.get(r));
            int m = r * MOMENTS.size();
            if (moments[m] <= 0) {
                continue;
            }
            double[] h = this.hist[l];
            for (int b = 0, o = r * nBins; b < nBins; b++) {
                h[b] += hist[o + b];
            }
            addMoments(l, moments, m);
        }
    }

    /** Adds one row given sparsely: the non-zero bins and their counts, and the row's six moments. */
    public void addRow(String layer, int[] bins, double[] counts, double[] moments) {
        if (bins.length != counts.length || moments.length != MOMENTS.size()) {
            throw new IllegalArgumentException("row " + layer + ": " + bins.length + " bins, " + counts.length
                    + " counts, " + moments.length + " moments");
        }
        int l = layerIndex(layer);
        if (moments[0] <= 0) {
            return;
        }
        for (int i = 0; i < bins.length; i++) {
            hist[l][bins[i]] += counts[i];
        }
        addMoments(l, moments, 0);
    }

    private int layerIndex(String layer) {
        Integer l = index.get(layer);
        if (l == null) {
            throw new IllegalArgumentException("not a layer of the statistics program: " + layer);
        }
        return l;
    }

    private void addMoments(int l, double[] m, int o) {
        count[l] += Math.round(m[o]);
        sumAbs[l] += m[o + 1];
        sumSq[l] += m[o + 2];
        max[l] = Math.max(max[l], m[o + 3]);
        min[l] = Math.min(min[l], m[o + 4]);
        inputAbsMax[l] = Math.max(inputAbsMax[l], m[o + 5]);
    }

    public double[] histogram(String layer) {
        return hist[layerIndex(layer)].clone();
    }

    /** The q-quantile of |y| from the histogram (log-linear inside the bin), as myqasr.stats.StreamingStats. */
    public double quantile(String layer, double q) {
        int l = layerIndex(layer);
        if (count[l] == 0) {
            return 0.0;
        }
        double[] h = hist[l];
        double target = q * count[l];
        double cum = 0;
        double before = 0;
        int i = 0;
        for (; i < nBins; i++) {
            before = cum;
            cum += h[i];
            if (cum >= target) {
                break;
            }
        }
        if (i >= nBins) {
            i = nBins - 1;
        }
        double frac = (target - before) / Math.max(h[i], 1.0);
        return Math.pow(2.0, log2Lo + (i + Math.min(Math.max(frac, 0.0), 1.0)) / binsPerOctave);
    }

    /** One layer's summary with the host's keys (myqasr.stats.StreamingStats.summary). */
    public Map<String, Object> summary(String layer) {
        int l = layerIndex(layer);
        long n = Math.max(count[l], 1);
        double mean = sumAbs[l] / n;
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("count", count[l]);
        s.put("median", quantile(layer, 0.5));
        s.put("mean", mean);
        s.put("std", Math.sqrt(Math.max(sumSq[l] / n - mean * mean, 0.0)));
        s.put("max", max[l]);
        s.put("min", min[l]);
        s.put("abs_max", count[l] > 0 ? Math.max(Math.abs(max[l]), Math.abs(min[l])) : 0.0);
        s.put("p90", quantile(layer, 0.90));
        s.put("p99", quantile(layer, 0.99));
        s.put("p999", quantile(layer, 0.999));
        s.put("input_abs_max", inputAbsMax[l]);
        return s;
    }

    /** Every layer's summary, in the program's layer order. */
    public Map<String, Object> summaries() {
        Map<String, Object> all = new LinkedHashMap<>();
        for (String layer : layers) {
            all.put(layer, summary(layer));
        }
        return all;
    }
}
