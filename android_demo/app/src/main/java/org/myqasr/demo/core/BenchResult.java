package org.myqasr.demo.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The benchmark's numbers and its JSON file ({@code bench.json}). Every timed transcription is a {@link Sample};
 * the samples of warm-up passes are listed in the file (with {@code "warmup": true}) but left out of every statistic.
 * Statistics are over all measured (pass, clip) samples: latency and RTF by {@link Percentiles} (median; p90 by
 * nearest rank); decoder ms per step = the measured samples' decoder ms summed / their decoder steps summed.
 */
public final class BenchResult {
    public static final String SCHEMA = "myqasr-bench/1";

    /** One timed transcription of one clip. */
    public static final class Sample {
        /** 0-based pass over all clips; passes below the warm-up count are warm-up. */
        public final int pass;
        public final String clip;
        public final double audioSeconds;
        /** Wall time of the whole transcription (System.nanoTime around it), ms. */
        public final double totalMs;
        /** Decoder calls (Whisper: prompt + generated tokens; 0 for a model without a step-wise decoder). */
        public final int decoderSteps;
        /** Time in those decoder calls, ms. */
        public final double decoderMs;
        public final String text;

        public Sample(int pass, String clip, double audioSeconds, double totalMs, int decoderSteps, double decoderMs,
                      String text) {
            if (!(audioSeconds > 0)) {
                throw new IllegalArgumentException(clip + ": audio length must be positive to compute an RTF");
            }
            this.pass = pass;
            this.clip = clip;
            this.audioSeconds = audioSeconds;
            this.totalMs = totalMs;
            this.decoderSteps = decoderSteps;
            this.decoderMs = decoderMs;
            this.text = text;
        }

        /** Real-time factor: processing seconds per second of audio (below 1 is faster than real time). */
        public double rtf() {
            return totalMs / 1000.0 / audioSeconds;
        }
    }

    public final String model;
    public final long modelBytes;
    public final String arch;
    public final int runs;
    public final int warmup;
    public final int threads;
    public final double loadMs;
    /** Peak resident memory (VmHWM) in kB, -1 when unknown. */
    public final long peakRssKb;
    /** Native heap allocated at the end (android.os.Debug), bytes, -1 when unknown. */
    public final long nativeHeapBytes;
    public final List<Sample> samples;

    public final int measuredCount;
    public final double latencyMedianMs;
    public final double latencyP90Ms;
    public final double rtfMedian;
    public final double rtfP90;
    /** NaN when the measured samples made no decoder steps (CTC). */
    public final double decoderMsPerStep;

    public BenchResult(String model, long modelBytes, String arch, int runs, int warmup, int threads, double loadMs,
                       long peakRssKb, long nativeHeapBytes, List<Sample> samples) {
        if (runs < 1 || warmup < 0) {
            throw new IllegalArgumentException("runs must be at least 1 and warmup 0 or more (got " + runs + ", "
                    + warmup + ")");
        }
        List<Sample> measured = new ArrayList<Sample>();
        for (Sample s : samples) {
            if (s.pass >= warmup) {
                measured.add(s);
            }
        }
        if (measured.isEmpty()) {
            throw new IllegalArgumentException("no measured samples: every one of the " + samples.size()
                    + " samples is a warm-up (warmup " + warmup + ")");
        }
        this.model = model;
        this.modelBytes = modelBytes;
        this.arch = arch;
        this.runs = runs;
        this.warmup = warmup;
        this.threads = threads;
        this.loadMs = loadMs;
        this.peakRssKb = peakRssKb;
        this.nativeHeapBytes = nativeHeapBytes;
        this.samples = Collections.unmodifiableList(new ArrayList<Sample>(samples));
        this.measuredCount = measured.size();
        double[] ms = new double[measured.size()];
        double[] rtf = new double[measured.size()];
        double decMs = 0;
        long steps = 0;
        for (int i = 0; i < ms.length; i++) {
            Sample s = measured.get(i);
            ms[i] = s.totalMs;
            rtf[i] = s.rtf();
            decMs += s.decoderMs;
            steps += s.decoderSteps;
        }
        this.latencyMedianMs = Percentiles.median(ms);
        this.latencyP90Ms = Percentiles.nearestRank(ms, 90);
        this.rtfMedian = Percentiles.median(rtf);
        this.rtfP90 = Percentiles.nearestRank(rtf, 90);
        this.decoderMsPerStep = steps > 0 ? decMs / steps : Double.NaN;
    }

    /** The JSON document (keys in a fixed order; unknown numbers are null). */
    public Map<String, Object> toJson() {
        Map<String, Object> m = new LinkedHashMap<String, Object>();
        m.put("schema", SCHEMA);
        m.put("status", "ok");
        m.put("model", model);
        m.put("model_bytes", modelBytes);
        m.put("arch", arch);
        m.put("threads", (long) threads);
        m.put("runs", (long) runs);
        m.put("warmup", (long) warmup);
        m.put("percentile_rule", "median: middle value (mean of the two middle ones for an even count);"
                + " p90: nearest rank, the ceil(0.9 n)-th smallest");
        m.put("load_ms", loadMs);
        m.put("measured_samples", (long) measuredCount);
        m.put("warmup_samples", (long) (samples.size() - measuredCount));
        Map<String, Object> latency = new LinkedHashMap<String, Object>();
        latency.put("median", latencyMedianMs);
        latency.put("p90", latencyP90Ms);
        m.put("latency_ms", latency);
        Map<String, Object> rtf = new LinkedHashMap<String, Object>();
        rtf.put("median", rtfMedian);
        rtf.put("p90", rtfP90);
        m.put("rtf", rtf);
        m.put("decoder_ms_per_step", Double.isNaN(decoderMsPerStep) ? null : (Object) decoderMsPerStep);
        m.put("peak_rss_kb", peakRssKb < 0 ? null : (Object) peakRssKb);
        m.put("native_heap_bytes", nativeHeapBytes < 0 ? null : (Object) nativeHeapBytes);
        List<Object> list = new ArrayList<Object>();
        for (Sample s : samples) {
            Map<String, Object> e = new LinkedHashMap<String, Object>();
            e.put("pass", (long) s.pass);
            e.put("warmup", s.pass < warmup);
            e.put("clip", s.clip);
            e.put("audio_seconds", s.audioSeconds);
            e.put("total_ms", s.totalMs);
            e.put("rtf", s.rtf());
            e.put("decoder_steps", (long) s.decoderSteps);
            e.put("decoder_ms", s.decoderMs);
            e.put("text", s.text);
            list.add(e);
        }
        m.put("samples", list);
        return m;
    }

    /** What the app writes when the benchmark could not run: the same schema, status "error" and the sentence. */
    public static Map<String, Object> errorJson(String message) {
        Map<String, Object> m = new LinkedHashMap<String, Object>();
        m.put("schema", SCHEMA);
        m.put("status", "error");
        m.put("error", message);
        return m;
    }
}
