package org.myqasr.demo.core;

/** The 44-byte header of a PCM WAV file; the recorder writes it first and again, with sizes, at the end. */
public final class WavWriter {
    private WavWriter() {
    }

    public static byte[] pcmHeader(int sampleRate, int channels, int bitsPerSample, long dataBytes) {
        int blockAlign = channels * bitsPerSample / 8;
        byte[] h = new byte[44];
        put(h, 0, "RIFF");
        le32(h, 4, 36 + dataBytes);
        put(h, 8, "WAVE");
        put(h, 12, "fmt ");
        le32(h, 16, 16);
        le16(h, 20, 1);
        le16(h, 22, channels);
        le32(h, 24, sampleRate);
        le32(h, 28, (long) sampleRate * blockAlign);
        le16(h, 32, blockAlign);
        le16(h, 34, bitsPerSample);
        put(h, 36, "data");
        le32(h, 40, dataBytes);
        return h;
    }

    private static void put(byte[] b, int o, String s) {
        for (int k = 0; k < 4; k++) {
            b[o + k] = (byte) s.charAt(k);
        }
    }

    private static void le16(byte[] b, int o, int v) {
        b[o] = (byte) v;
        b[o + 1] = (byte) (v >> 8);
    }

    private static void le32(byte[] b, int o, long v) {
        for (int k = 0; k < 4; k++) {
            b[o + k] = (byte) (v >> (8 * k));
        }
    }
}
