package org.myqasr.demo.core;

/**
 * Band-limited resampling with a Hann-windowed sinc, the kernel of {@code torchaudio.functional.resample}
 * (method "sinc_interp_hann", lowpass_filter_width 6, rolloff 0.99): rates are reduced by their gcd to
 * orig:new, output sample {@code new*k + i} is the dot product of the input around {@code orig*k} with phase
 * kernel i, and the output has {@code ceil(new * n / orig)} samples. Kernels are computed once per call in
 * double precision, over the taps where the window is non-zero.
 */
public final class Resampler {
    public static final int LOWPASS_FILTER_WIDTH = 6;
    public static final double ROLLOFF = 0.99;

    private Resampler() {
    }

    public static float[] resample(float[] x, int inRate, int outRate) {
        if (inRate <= 0 || outRate <= 0) {
            throw new IllegalArgumentException("sample rates must be positive");
        }
        if (inRate == outRate) {
            return x.clone();
        }
        int g = gcd(inRate, outRate);
        int orig = inRate / g;
        int neu = outRate / g;
        double base = Math.min(orig, neu) * ROLLOFF;
        int width = (int) Math.ceil(LOWPASS_FILTER_WIDTH * orig / base);
        int taps = 2 * width + orig;
        double scale = base / orig;
        // Phase i: kernel over j in [first[i], first[i] + k[i].length) of the window starting at orig*k - width.
        int[] first = new int[neu];
        double[][] k = new double[neu][];
        for (int i = 0; i < neu; i++) {
            int lo = -1;
            int hi = -1;
            double[] full = new double[taps];
            for (int j = 0; j < taps; j++) {
                double t = (-(double) i / neu + (double) (j - width) / orig) * base;
                if (t <= -LOWPASS_FILTER_WIDTH || t >= LOWPASS_FILTER_WIDTH) {
                    continue; // the window is zero there
                }
                double w = Math.cos(t * Math.PI / LOWPASS_FILTER_WIDTH / 2);
                double pt = t * Math.PI;
                full[j] = (pt == 0 ? 1.0 : Math.sin(pt) / pt) * w * w * scale;
                if (lo < 0) {
                    lo = j;
                }
                hi = j;
            }
            first[i] = lo;
            k[i] = java.util.Arrays.copyOfRange(full, lo, hi + 1);
        }
        long outLen = ((long) neu * x.length + orig - 1) / orig;
        float[] y = new float[(int) outLen];
        int n = x.length;
        for (int m = 0; m < y.length; m++) {
            int block = m / neu;
            int i = m - block * neu;
            double[] ki = k[i];
            int start = block * orig - width + first[i];
            int a = Math.max(0, -start);
            int b = Math.min(ki.length, n - start);
            double acc = 0;
            for (int j = a; j < b; j++) {
                acc += x[start + j] * ki[j];
            }
            y[m] = (float) acc;
        }
        return y;
    }

    static int gcd(int a, int b) {
        while (b != 0) {
            int t = a % b;
            a = b;
            b = t;
        }
        return a;
    }
}
