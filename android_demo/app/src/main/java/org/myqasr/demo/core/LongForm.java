package org.myqasr.demo.core;

import java.util.ArrayList;
import java.util.List;

/**
 * Recordings longer than Whisper's 30 s window, by the same rule as the SDK ({@code myqasr.longform}): decode the
 * window at {@code seek} (30 s or what is left) with timestamps, keep its complete segments, and move on by
 * {@link #windowSegments}: to the end of the window when it ended with one lone timestamp or had no segment
 * boundary, otherwise to the start timestamp of its unfinished last segment (decoded again from there).
 */
public final class LongForm {
    /** One timestamp step (0.02 s) in 16 kHz samples. */
    public static final int SAMPLES_PER_TIMESTAMP = 320;
    /** The first timestamp of a window is at most this many steps (1.00 s), as in Whisper's generation config. */
    public static final int MAX_INITIAL_TIMESTAMP = 50;
    /**
     * The app records and transcribes at most this long: 20 min are 38 MB of 16-bit WAV on disk and 77 MB of float
     * samples in memory while transcribing (about 50 windows).
     */
    public static final double MAX_RECORDING_SECONDS = 20 * 60;

    private LongForm() {
    }

    /** What one decoded window keeps and how far the next one starts. */
    public static final class Step {
        public final int[] kept;
        public final int advance;

        Step(int[] kept, int advance) {
            this.kept = kept;
            this.advance = advance;
        }
    }

    /**
     * {@code tokens}: the window's generated ids (no prompt, no end-of-text); {@code windowSamples}: its length.
     * The same as the SDK's {@code window_segments} (transformers {@code _retrieve_segment}).
     */
    public static Step windowSegments(int[] tokens, int windowSamples, int timestampBegin) {
        int n = tokens.length;
        boolean singleEnding = n >= 2 && tokens[n - 2] < timestampBegin && tokens[n - 1] >= timestampBegin;
        int lastPair = -1;
        for (int i = 0; i + 1 < n; i++) {
            if (tokens[i] >= timestampBegin && tokens[i + 1] >= timestampBegin) {
                lastPair = i + 1;
            }
        }
        if (lastPair < 0 || singleEnding) {
            return new Step(tokens.clone(), windowSamples);
        }
        int end = lastPair + 1;
        int advance = (tokens[end - 2] - timestampBegin) * SAMPLES_PER_TIMESTAMP;
        int[] kept = new int[end];
        System.arraycopy(tokens, 0, kept, 0, end);
        return new Step(kept, Math.max(advance, SAMPLES_PER_TIMESTAMP));
    }

    /** The id of {@code <|notimestamps|>}; the timestamps follow it. */
    public static int noTimestampsId(Vocab vocab) throws AsrException {
        for (int k = 0; k < vocab.tokens.length; k++) {
            if ("<|notimestamps|>".equals(vocab.tokens[k])) {
                return k;
            }
        }
        throw new AsrException(vocab.source + ": no <|notimestamps|> token, so no timestamps for long recordings");
    }

    static int[] toArray(List<Integer> ids) {
        int[] out = new int[ids.size()];
        for (int k = 0; k < out.length; k++) {
            out[k] = ids.get(k);
        }
        return out;
    }

    static List<Integer> toList(int[] ids) {
        List<Integer> out = new ArrayList<Integer>(ids.length);
        for (int id : ids) {
            out.add(id);
        }
        return out;
    }
}
