package org.myqasr.demo.core;

import java.util.Arrays;

/**
 * The two order statistics the benchmark reports, with their rules fixed here:
 * <ul>
 * <li>median: the middle value of the sorted values; for an even count, the mean of the two middle values;</li>
 * <li>p-th percentile (0 &lt; p &le; 100): nearest rank, the {@code ceil(p / 100 * n)}-th smallest value (1-based),
 * so it is always a value that was measured (p90 of 10 values is the 9th smallest, of 5 values the 5th).</li>
 * </ul>
 * The input may be in any order and is not modified.
 */
public final class Percentiles {
    private Percentiles() {
    }

    public static double median(double[] values) {
        double[] s = sorted(values);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    public static double nearestRank(double[] values, double p) {
        if (!(p > 0 && p <= 100)) {
            throw new IllegalArgumentException("percentile must be in (0, 100], got " + p);
        }
        double[] s = sorted(values);
        int rank = (int) Math.ceil(p / 100.0 * s.length);
        return s[Math.max(rank, 1) - 1];
    }

    private static double[] sorted(double[] values) {
        if (values.length == 0) {
            throw new IllegalArgumentException("no values to take a percentile of");
        }
        double[] s = values.clone();
        Arrays.sort(s);
        return s;
    }
}
