package org.myqasr.demo.core;

import java.util.Arrays;

/**
 * A tensor crossing the runtime boundary, in plain Java: its dtype (numpy's names, as the Python fixtures record
 * them), its shape and its values. An input built here holds its values; a runtime output keeps the runtime's own
 * object ({@link #handle}: an ExecuTorch EValue in the app) and reads its values only when asked, so the encoder's
 * cross K/V go back to every decoder call without being copied into Java.
 */
public final class PteTensor {
    public static final String FLOAT32 = "float32";
    public static final String INT64 = "int64";
    public static final String FLOAT64 = "float64";

    /** Reads a runtime output's values on demand (the app's ExecuTorch binding). */
    public interface Data {
        float[] floats();

        long[] longs();

        double[] doubles();
    }

    public final String dtype;
    private final long[] shape;
    /** The runtime's own object for this tensor, passed back to it as is; null for a tensor built in Java. */
    public final Object handle;
    private final Object values;
    private final Data data;

    private PteTensor(String dtype, long[] shape, Object handle, Object values, Data data) {
        this.dtype = dtype;
        this.shape = shape.clone();
        this.handle = handle;
        this.values = values;
        this.data = data;
    }

    public static PteTensor floats(float[] values, long... shape) {
        return new PteTensor(FLOAT32, checked(values.length, shape), null, values, null);
    }

    public static PteTensor longs(long[] values, long... shape) {
        return new PteTensor(INT64, checked(values.length, shape), null, values, null);
    }

    public static PteTensor doubles(double[] values, long... shape) {
        return new PteTensor(FLOAT64, checked(values.length, shape), null, values, null);
    }

    /** A runtime output: dtype and shape now, values through {@code data} when read. */
    public static PteTensor fromRuntime(String dtype, long[] shape, Object handle, Data data) {
        return new PteTensor(dtype, shape, handle, null, data);
    }

    private static long[] checked(int n, long[] shape) {
        if (numel(shape) != n) {
            throw new IllegalArgumentException(n + " values do not make shape " + Arrays.toString(shape));
        }
        return shape;
    }

    public static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    public long[] shape() {
        return shape.clone();
    }

    public long numel() {
        return numel(shape);
    }

    /** The values of a float32 tensor; {@code what} names it in the message when it is another dtype. */
    public float[] floats(String what) throws AsrException {
        require(FLOAT32, what);
        return values != null ? (float[]) values : data.floats();
    }

    public long[] longs(String what) throws AsrException {
        require(INT64, what);
        return values != null ? (long[]) values : data.longs();
    }

    public double[] doubles(String what) throws AsrException {
        require(FLOAT64, what);
        return values != null ? (double[]) values : data.doubles();
    }

    private void require(String want, String what) throws AsrException {
        if (!want.equals(dtype)) {
            throw new AsrException(what + " is " + dtype + " " + Arrays.toString(shape) + ", not " + want);
        }
    }

    @Override
    public String toString() {
        return dtype + Arrays.toString(shape);
    }
}
