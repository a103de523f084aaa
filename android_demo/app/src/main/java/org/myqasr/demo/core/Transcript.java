package org.myqasr.demo.core;

import java.util.LinkedHashMap;
import java.util.Map;

/** What one transcription produced: the text, the ids it came from, and where the time went. */
public final class Transcript {
    public final String text;
    /** CTC: the collapsed non-blank ids; Whisper: the generated ids before the special-token filter. */
    public final int[] ids;
    /** Milliseconds per stage, in order (e.g. preprocess, encode, decode). */
    public final Map<String, Double> stageMs;
    /** Model calls made for this clip (Whisper decoder steps; 1 for CTC). */
    public final int steps;

    public Transcript(String text, int[] ids, Map<String, Double> stageMs, int steps) {
        this.text = text;
        this.ids = ids;
        this.stageMs = stageMs;
        this.steps = steps;
    }

    public double totalMs() {
        double t = 0;
        for (Double v : stageMs.values()) {
            t += v;
        }
        return t;
    }

    static Map<String, Double> stages() {
        return new LinkedHashMap<String, Double>();
    }

    static double msSince(long startNanos) {
        return (System.nanoTime() - startNanos) / 1e6;
    }
}
