package org.myqasr.demo.core;

import java.io.BufferedOutputStream;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;

/**
 * The WAV that ExecuTorch's ASR runner reads. Its JNI layer takes a file path, and its loader
 * ({@code extension/llm/runner/wav_loader.h}) neither mixes channels nor resamples, reads only 16/32-bit PCM and
 * 32-bit float, and aborts the process on anything else. So the app hands it its own samples, already mono,
 * 16 kHz and cut to one window: IEEE float32, a plain 44-byte header, the data chunk right after it. The runner
 * then sees exactly the floats the Java path would use (float32 is copied, not rescaled).
 */
public final class RunnerWav {
    private static final int FORMAT_IEEE_FLOAT = 3;

    private RunnerWav() {
    }

    /** The 44-byte header of a mono float32 WAV holding {@code frames} samples. */
    public static byte[] header(int sampleRate, int frames) {
        byte[] h = WavWriter.pcmHeader(sampleRate, 1, 32, 4L * frames);
        h[20] = (byte) FORMAT_IEEE_FLOAT; // the format tag: 1 (PCM) -> 3 (IEEE float), same layout otherwise
        h[21] = 0;
        return h;
    }

    /** The whole file: header + little-endian float32 samples. */
    public static byte[] bytes(float[] pcm, int sampleRate) {
        byte[] out = new byte[44 + 4 * pcm.length];
        System.arraycopy(header(sampleRate, pcm.length), 0, out, 0, 44);
        for (int k = 0; k < pcm.length; k++) {
            int bits = Float.floatToRawIntBits(pcm[k]);
            int o = 44 + 4 * k;
            out[o] = (byte) bits;
            out[o + 1] = (byte) (bits >> 8);
            out[o + 2] = (byte) (bits >> 16);
            out[o + 3] = (byte) (bits >> 24);
        }
        return out;
    }

    /** Writes {@code pcm} to {@code file} (replacing it). */
    public static void write(File file, float[] pcm, int sampleRate) throws AsrException {
        OutputStream out = null;
        try {
            out = new BufferedOutputStream(new FileOutputStream(file), 1 << 16);
            out.write(bytes(pcm, sampleRate));
            out.close();
            out = null;
        } catch (IOException e) {
            throw new AsrException(file.getName() + ": cannot write the clip for the ASR runner ("
                    + e.getMessage() + ")");
        } finally {
            Streams.closeQuietly(out);
        }
    }
}
