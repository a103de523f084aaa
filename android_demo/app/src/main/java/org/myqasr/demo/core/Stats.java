package org.myqasr.demo.core;

import java.util.Arrays;

/** Summary of repeated timings (milliseconds). */
public final class Stats {
    public final int n;
    public final double first;
    public final double median;
    public final double mean;
    public final double min;
    public final double max;

    public Stats(double[] values) {
        if (values.length == 0) {
            throw new IllegalArgumentException("no values");
        }
        double[] s = values.clone();
        Arrays.sort(s);
        double sum = 0;
        for (double v : s) {
            sum += v;
        }
        this.n = s.length;
        this.first = values[0];
        this.median = s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
        this.mean = sum / s.length;
        this.min = s[0];
        this.max = s[s.length - 1];
    }
}
