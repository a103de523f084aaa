package org.myqasr.demo.core;

/** A row-major [rows, vocab] float matrix: CTC frames, or one Whisper step (rows = 1). */
public final class Logits {
    public final float[] data;
    public final int rows;
    public final int vocab;

    public Logits(float[] data, int rows, int vocab) {
        if ((long) rows * vocab != data.length) {
            throw new IllegalArgumentException(data.length + " values do not make " + rows + " x " + vocab);
        }
        this.data = data;
        this.rows = rows;
        this.vocab = vocab;
    }

    /** torch.argmax over row r: the first maximum, where NaN counts as the maximum. */
    public int argmax(int r) {
        int off = r * vocab;
        int best = 0;
        float bestValue = data[off];
        if (bestValue != bestValue) {
            return 0;
        }
        for (int j = 1; j < vocab; j++) {
            float v = data[off + j];
            if (v != v) {
                return j;
            }
            if (v > bestValue) {
                bestValue = v;
                best = j;
            }
        }
        return best;
    }
}
