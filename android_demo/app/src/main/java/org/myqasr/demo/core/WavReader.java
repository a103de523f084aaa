package org.myqasr.demo.core;

import java.io.BufferedInputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * Reads a RIFF/WAVE (or RF64) file into mono float samples in [-1, 1]: PCM 8-bit (unsigned), 16, 24 and 32-bit
 * (signed), IEEE float 32/64, plain or WAVE_FORMAT_EXTENSIBLE, any number of channels (averaged). Integer
 * samples are scaled by 2^(bits-1) (8-bit: (v-128)/128), as libsndfile and soundfile do, so the result equals
 * {@code soundfile.read(path, dtype="float64").mean(axis=1)} cast to float32.
 * The data chunk is streamed, so a long recording costs only its mono floats, and at most {@code maxSeconds}.
 */
public final class WavReader {
    private static final int TAG_PCM = 1;
    private static final int TAG_FLOAT = 3;
    private static final int TAG_EXTENSIBLE = 0xfffe;

    /** One decoded clip. */
    public static final class Audio {
        /** Mono samples, at most maxSeconds long. */
        public final float[] samples;
        public final int sampleRate;
        public final int channels;
        public final int bitsPerSample;
        /** "pcm" or "float". */
        public final String encoding;
        /** Frames in the file (known only when the data chunk states its size; else the frames read). */
        public final long framesInFile;

        Audio(float[] samples, int sampleRate, int channels, int bitsPerSample, String encoding, long framesInFile) {
            this.samples = samples;
            this.sampleRate = sampleRate;
            this.channels = channels;
            this.bitsPerSample = bitsPerSample;
            this.encoding = encoding;
            this.framesInFile = framesInFile;
        }

        public double seconds() {
            return samples.length / (double) sampleRate;
        }

        public boolean truncated() {
            return framesInFile > samples.length;
        }

        /** e.g. "22050 Hz, 2 ch, 24-bit pcm, 0.40 s". */
        public String describe() {
            return String.format(java.util.Locale.ROOT, "%d Hz, %d ch, %d-bit %s, %.2f s", sampleRate, channels,
                    bitsPerSample, encoding, framesInFile / (double) sampleRate);
        }
    }

    private WavReader() {
    }

    public static Audio read(File file, double maxSeconds) throws AsrException {
        if (!file.isFile()) {
            throw new AsrException(file.getName() + ": audio file not found");
        }
        InputStream in = null;
        try {
            in = new BufferedInputStream(new FileInputStream(file), 1 << 16);
            return read(in, file.getName(), maxSeconds);
        } catch (IOException e) {
            throw new AsrException(file.getName() + ": cannot read the file (" + e.getMessage() + ")");
        } finally {
            Streams.closeQuietly(in);
        }
    }

    /** Parses a WAV stream; {@code name} labels messages; maxSeconds <= 0 reads everything. */
    public static Audio read(InputStream in, String name, double maxSeconds) throws AsrException, IOException {
        byte[] h = new byte[12];
        if (Streams.readFully(in, h, 12) < 12) {
            throw new AsrException(name + ": not a WAV file (too short)");
        }
        String riff = ascii(h, 0);
        if (riff.equals("RIFX")) {
            throw new AsrException(name + ": big-endian WAV (RIFX) is not supported; save it as standard PCM WAV");
        }
        if (!(riff.equals("RIFF") || riff.equals("RF64")) || !ascii(h, 8).equals("WAVE")) {
            throw new AsrException(name + ": not a WAV file (no RIFF/WAVE header); record or convert it to WAV");
        }
        int tag = -1;
        int channels = 0;
        int rate = 0;
        int bits = 0;
        byte[] ch = new byte[8];
        while (true) {
            if (Streams.readFully(in, ch, 8) < 8) {
                throw new AsrException(name + ": WAV file has no " + (tag < 0 ? "fmt" : "data") + " chunk");
            }
            String id = ascii(ch, 0);
            long size = u32(ch, 4);
            if (id.equals("fmt ")) {
                if (size < 16 || size > 1024) {
                    throw new AsrException(name + ": corrupt WAV header (fmt chunk of " + size + " bytes)");
                }
                byte[] f = new byte[(int) size];
                if (Streams.readFully(in, f, f.length) < f.length) {
                    throw new AsrException(name + ": WAV file ends inside its header");
                }
                tag = u16(f, 0);
                channels = u16(f, 2);
                rate = (int) Math.min(u32(f, 4), Integer.MAX_VALUE);
                bits = u16(f, 14);
                if (tag == TAG_EXTENSIBLE) {
                    if (size < 40) {
                        throw new AsrException(name + ": corrupt WAV header (short WAVE_FORMAT_EXTENSIBLE)");
                    }
                    tag = u16(f, 24); // the sub-format GUID starts with the plain format tag
                }
                skipPad(in, size);
            } else if (id.equals("data")) {
                if (tag < 0) {
                    throw new AsrException(name + ": WAV data chunk comes before its fmt chunk; re-save the file");
                }
                String encoding = checkFormat(name, tag, channels, rate, bits);
                boolean sizeKnown = size != 0 && size != 0xffffffffL;
                return readData(in, name, encoding, channels, rate, bits, sizeKnown ? size : -1, maxSeconds);
            } else {
                if (Streams.skip(in, size + (size & 1)) < size) {
                    throw new AsrException(name + ": WAV file has no data chunk");
                }
            }
        }
    }

    private static String checkFormat(String name, int tag, int channels, int rate, int bits) throws AsrException {
        if (channels < 1 || channels > 64 || rate < 1000 || rate > 768000) {
            throw new AsrException(name + ": corrupt WAV header (" + channels + " channels, " + rate + " Hz)");
        }
        if (tag == TAG_PCM && (bits == 8 || bits == 16 || bits == 24 || bits == 32)) {
            return "pcm";
        }
        if (tag == TAG_FLOAT && (bits == 32 || bits == 64)) {
            return "float";
        }
        throw new AsrException(name + ": unsupported WAV encoding (" + formatName(tag) + ", " + bits
                + "-bit); convert it to 16-bit PCM, e.g. ffmpeg -i in.wav -ac 1 -ar 16000 -c:a pcm_s16le out.wav");
    }

    private static String formatName(int tag) {
        switch (tag) {
            case TAG_PCM: return "PCM";
            case 2: return "MS ADPCM";
            case TAG_FLOAT: return "IEEE float";
            case 6: return "A-law";
            case 7: return "mu-law";
            case 0x11: return "IMA ADPCM";
            case 0x55: return "MP3";
            default: return "format tag " + tag;
        }
    }

    private static Audio readData(InputStream in, String name, String encoding, int channels, int rate, int bits,
                                  long dataBytes, double maxSeconds) throws AsrException, IOException {
        int bytesPerSample = bits / 8;
        int frameBytes = bytesPerSample * channels;
        long framesInFile = dataBytes >= 0 ? dataBytes / frameBytes : -1;
        long limit = maxSeconds > 0 ? (long) Math.ceil(maxSeconds * rate) : Long.MAX_VALUE;
        if (limit > Integer.MAX_VALUE - 8) {
            limit = Integer.MAX_VALUE - 8;
        }
        long want = framesInFile >= 0 ? Math.min(framesInFile, limit) : limit;
        float[] out = new float[(int) Math.min(want, 1 << 20)];
        int frames = 0;
        boolean isFloat = encoding.equals("float");
        byte[] buf = new byte[frameBytes * 4096];
        int carry = 0; // bytes read but not yet converted, kept at the start of buf
        while (frames < want) {
            int n = in.read(buf, carry, buf.length - carry);
            if (n < 0) {
                break;
            }
            int avail = carry + n;
            int use = (int) Math.min(avail / frameBytes, want - frames);
            for (int f = 0; f < use; f++) {
                int off = f * frameBytes;
                double sum = 0;
                for (int c = 0; c < channels; c++) {
                    sum += sample(buf, off + c * bytesPerSample, bits, isFloat);
                }
                if (frames == out.length) {
                    out = java.util.Arrays.copyOf(out, (int) Math.min(want, (long) out.length * 2));
                }
                out[frames++] = (float) (sum / channels);
            }
            carry = avail - use * frameBytes;
            System.arraycopy(buf, use * frameBytes, buf, 0, carry);
        }
        if (frames == 0) {
            throw new AsrException(name + ": WAV file contains no audio samples");
        }
        if (framesInFile < 0) {
            // no size in the header: count what follows the part that was read
            framesInFile = frames == want ? frames + (carry + countRest(in)) / frameBytes : frames;
        } else if (frames < want) {
            framesInFile = frames; // the file is shorter than its header says (a cut-off recording)
        }
        float[] samples = frames == out.length ? out : java.util.Arrays.copyOf(out, frames);
        return new Audio(samples, rate, channels, bits, encoding, framesInFile);
    }

    private static long countRest(InputStream in) throws IOException {
        long bytes = 0;
        byte[] scratch = new byte[65536];
        int n;
        while ((n = in.read(scratch)) > 0) {
            bytes += n;
        }
        return bytes;
    }

    private static double sample(byte[] b, int o, int bits, boolean isFloat) {
        if (isFloat) {
            if (bits == 32) {
                return Float.intBitsToFloat((b[o] & 0xff) | (b[o + 1] & 0xff) << 8 | (b[o + 2] & 0xff) << 16
                        | b[o + 3] << 24);
            }
            long lo = (b[o] & 0xffL) | (b[o + 1] & 0xffL) << 8 | (b[o + 2] & 0xffL) << 16 | (b[o + 3] & 0xffL) << 24;
            long hi = (b[o + 4] & 0xffL) | (b[o + 5] & 0xffL) << 8 | (b[o + 6] & 0xffL) << 16 | (long) b[o + 7] << 24;
            return Double.longBitsToDouble(lo | hi << 32);
        }
        switch (bits) {
            case 8:
                return ((b[o] & 0xff) - 128) / 128.0;
            case 16:
                return ((b[o] & 0xff) | b[o + 1] << 8) / 32768.0;
            case 24:
                return ((b[o] & 0xff) | (b[o + 1] & 0xff) << 8 | b[o + 2] << 16) / 8388608.0;
            default:
                return ((b[o] & 0xff) | (b[o + 1] & 0xff) << 8 | (b[o + 2] & 0xff) << 16 | b[o + 3] << 24)
                        / 2147483648.0;
        }
    }

    private static void skipPad(InputStream in, long size) throws IOException {
        if ((size & 1) == 1) {
            Streams.skip(in, 1);
        }
    }

    private static String ascii(byte[] b, int o) {
        char[] c = new char[4];
        for (int k = 0; k < 4; k++) {
            c[k] = (char) (b[o + k] & 0xff);
        }
        return new String(c);
    }

    private static int u16(byte[] b, int o) {
        return (b[o] & 0xff) | (b[o + 1] & 0xff) << 8;
    }

    private static long u32(byte[] b, int o) {
        return (b[o] & 0xffL) | (b[o + 1] & 0xffL) << 8 | (b[o + 2] & 0xffL) << 16 | (b[o + 3] & 0xffL) << 24;
    }
}
