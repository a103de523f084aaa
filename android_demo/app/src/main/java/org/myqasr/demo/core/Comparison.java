package org.myqasr.demo.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * "Compare": the personalized {@code .pte} (A) and a generic one (B) on the same clips, side by side: transcript,
 * latency and RTF per clip, then each model's median latency and RTF and how many transcripts agree.
 * Latency is the model time of one clip (Whisper preprocess + encode + greedy decode, CTC forward + decode; reading
 * and resampling the WAV are outside), RTF = latency / audio duration (below 1 is faster than real time).
 */
public final class Comparison {
    /** One model's result on one clip: a transcript with its latency, or the sentence of a failure. */
    public static final class Side {
        public final String text;
        public final double latencyMs;
        public final String error;

        private Side(String text, double latencyMs, String error) {
            this.text = text;
            this.latencyMs = latencyMs;
            this.error = error;
        }

        public static Side ok(String text, double latencyMs) {
            return new Side(text, latencyMs, null);
        }

        public static Side failed(String error) {
            return new Side(null, Double.NaN, error);
        }

        public boolean ok() {
            return error == null;
        }
    }

    /** One clip: its audio length and both sides. */
    public static final class Row {
        public final String clip;
        public final double audioSeconds;
        public final Side a;
        public final Side b;

        public Row(String clip, double audioSeconds, Side a, Side b) {
            this.clip = clip;
            this.audioSeconds = audioSeconds;
            this.a = a;
            this.b = b;
        }

        public boolean sameText() {
            return a.ok() && b.ok() && a.text.equals(b.text);
        }
    }

    public final String nameA;
    public final String nameB;
    public final List<Row> rows;

    public Comparison(String nameA, String nameB, List<Row> rows) {
        this.nameA = nameA;
        this.nameB = nameB;
        this.rows = Collections.unmodifiableList(new ArrayList<Row>(rows));
    }

    /** Real-time factor: model seconds per second of audio. */
    public static double rtf(double latencyMs, double audioSeconds) {
        return latencyMs / 1000.0 / audioSeconds;
    }

    /** Median latency (ms) of one side over the clips it transcribed; NaN when none. */
    public double medianLatencyMs(boolean sideA) {
        List<Double> v = new ArrayList<Double>();
        for (Row r : rows) {
            Side s = sideA ? r.a : r.b;
            if (s.ok()) {
                v.add(s.latencyMs);
            }
        }
        return median(v);
    }

    /** Median RTF of one side over the clips it transcribed; NaN when none. */
    public double medianRtf(boolean sideA) {
        List<Double> v = new ArrayList<Double>();
        for (Row r : rows) {
            Side s = sideA ? r.a : r.b;
            if (s.ok()) {
                v.add(rtf(s.latencyMs, r.audioSeconds));
            }
        }
        return median(v);
    }

    public int sameTexts() {
        int n = 0;
        for (Row r : rows) {
            n += r.sameText() ? 1 : 0;
        }
        return n;
    }

    private static double median(List<Double> v) {
        if (v.isEmpty()) {
            return Double.NaN;
        }
        double[] a = new double[v.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = v.get(i);
        }
        return Percentiles.median(a);
    }

    /** The side-by-side table the screen shows. */
    public String format() {
        StringBuilder b = new StringBuilder();
        b.append("A = ").append(nameA).append("\nB = ").append(nameB);
        for (Row r : rows) {
            b.append(String.format(Locale.ROOT, "%n%n%s (%.2f s)%s", r.clip, r.audioSeconds,
                    r.sameText() ? "  [same text]" : ""));
            b.append("\n  A: ").append(side(r.a, r.audioSeconds));
            b.append("\n  B: ").append(side(r.b, r.audioSeconds));
        }
        b.append(String.format(Locale.ROOT, "%n%nmedian latency: A %.0f ms, B %.0f ms | median RTF: A %.3f, B %.3f"
                + " | same text on %d of %d clips", medianLatencyMs(true), medianLatencyMs(false), medianRtf(true),
                medianRtf(false), sameTexts(), rows.size()));
        return b.toString();
    }

    private static String side(Side s, double seconds) {
        if (!s.ok()) {
            return "error: " + s.error;
        }
        return String.format(Locale.ROOT, "%.0f ms, RTF %.3f | \"%s\"", s.latencyMs, rtf(s.latencyMs, seconds),
                s.text);
    }
}
