package org.myqasr.demo.core;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * Checks a {@code .pte} before native code sees it: the ExecuTorch flatbuffer identifier ("ET" + 2 digits at
 * byte 4) and, when the extended header ("eh00" at byte 8) is there, that the file is as long as the header
 * says (program size, segment base offset + segment data size). A wrong or cut-off file then gets a sentence
 * instead of a native error.
 */
public final class PteFile {
    private PteFile() {
    }

    public static void check(File pte) throws AsrException {
        String name = pte.getName();
        if (!pte.isFile()) {
            throw new AsrException(name + ": model file not found");
        }
        long length = pte.length();
        byte[] h = new byte[40];
        int n;
        InputStream in = null;
        try {
            in = new FileInputStream(pte);
            n = Streams.readFully(in, h, h.length);
        } catch (IOException e) {
            throw new AsrException(name + ": cannot read the model file (" + e.getMessage() + ")");
        } finally {
            Streams.closeQuietly(in);
        }
        if (n < 8 || h[4] != 'E' || h[5] != 'T' || !Character.isDigit(h[6]) || !Character.isDigit(h[7])) {
            throw new AsrException(name + ": not an ExecuTorch program (no \"ET\" identifier); pick the .pte that"
                    + " myqasr exported");
        }
        if (n >= 32 && h[8] == 'e' && h[9] == 'h') {
            long headerLength = u32(h, 12);
            long programSize = u64(h, 16);
            long need = programSize;
            if (headerLength >= 32 && n >= 40) {
                long segmentBase = u64(h, 24);
                long segmentSize = u64(h, 32);
                if (segmentSize > 0) {
                    need = Math.max(need, segmentBase + segmentSize);
                }
            }
            if (programSize <= 0 || need < 0 || need > length) {
                throw new AsrException(name + ": the model file is truncated (" + length + " of " + need
                        + " bytes); copy it to the phone again");
            }
        }
    }

    /** Lower-case hex sha256 of a file. */
    public static String sha256(File file) throws AsrException {
        InputStream in = null;
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            in = new FileInputStream(file);
            byte[] buf = new byte[1 << 16];
            int r;
            while ((r = in.read(buf)) > 0) {
                md.update(buf, 0, r);
            }
            StringBuilder hex = new StringBuilder();
            for (byte b : md.digest()) {
                hex.append(String.format("%02x", b & 0xff));
            }
            return hex.toString();
        } catch (IOException e) {
            throw new AsrException(file.getName() + ": cannot read the file (" + e.getMessage() + ")");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        } finally {
            Streams.closeQuietly(in);
        }
    }

    private static long u32(byte[] b, int o) {
        return (b[o] & 0xffL) | (b[o + 1] & 0xffL) << 8 | (b[o + 2] & 0xffL) << 16 | (b[o + 3] & 0xffL) << 24;
    }

    private static long u64(byte[] b, int o) {
        return u32(b, o) | u32(b, o + 4) << 32;
    }
}
