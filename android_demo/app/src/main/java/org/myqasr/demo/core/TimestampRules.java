package org.myqasr.demo.core;

import java.util.List;

/**
 * Whisper's timestamp rules on one step's logits, the same as the SDK's {@code myqasr.longform.timestamp_rules}
 * (transformers {@code WhisperTimeStampLogitsProcessor}), applied after suppress_tokens / begin_suppress_tokens:
 * timestamps come in pairs except right before end-of-text, never decrease, the first id of a window is a
 * timestamp of at most {@code maxInitial} steps, and when the timestamps together are more probable than any one
 * text token the step must pick a timestamp (compared in logit space: log-sum-exp of the timestamps' logits
 * against the largest text logit, in double precision).
 */
public final class TimestampRules {
    private TimestampRules() {
    }

    /** @param generated the window's ids so far, prompt excluded. Changes {@code scores} in place. */
    public static void apply(float[] scores, List<Integer> generated, int timestampBegin, int eosId,
                             int noTimestampsId, int maxInitial) {
        int tb = timestampBegin;
        int v = scores.length;
        scores[noTimestampsId] = Float.NEGATIVE_INFINITY;
        int n = generated.size();
        boolean lastTs = n >= 1 && generated.get(n - 1) >= tb;
        boolean penultimateTs = n < 2 || generated.get(n - 2) >= tb;
        if (lastTs) {
            if (penultimateTs) {
                fill(scores, tb, v);
            } else {
                fill(scores, 0, eosId);
            }
        }
        int lastStamp = -1;
        for (int id : generated) {
            if (id >= tb) {
                lastStamp = id;
            }
        }
        if (lastStamp >= 0) {
            int floor = (lastTs && !penultimateTs) ? lastStamp : lastStamp + 1;
            fill(scores, tb, Math.min(floor, v));
        }
        if (n == 0) {
            fill(scores, 0, tb);
            fill(scores, Math.min(v, tb + maxInitial + 1), v);
        }
        double textMax = Double.NEGATIVE_INFINITY;
        for (int k = 0; k < tb; k++) {
            textMax = Math.max(textMax, scores[k]);
        }
        if (logSumExp(scores, tb, v) > textMax) {
            fill(scores, 0, tb);
        }
    }

    /** log(sum(exp(x[from..to)))) in double precision; -infinity when empty or all -infinity. */
    static double logSumExp(float[] x, int from, int to) {
        double m = Double.NEGATIVE_INFINITY;
        for (int k = from; k < to; k++) {
            m = Math.max(m, x[k]);
        }
        if (m == Double.NEGATIVE_INFINITY) {
            return m;
        }
        double s = 0;
        for (int k = from; k < to; k++) {
            s += Math.exp(x[k] - m);
        }
        return m + Math.log(s);
    }

    private static void fill(float[] x, int from, int to) {
        for (int k = from; k < to; k++) {
            x[k] = Float.NEGATIVE_INFINITY;
        }
    }
}
