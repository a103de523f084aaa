package org.myqasr.demo.core;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;

/** Stream helpers shared by the readers. */
final class Streams {
    private Streams() {
    }

    static void closeQuietly(Closeable c) {
        if (c == null) {
            return;
        }
        try {
            c.close();
        } catch (IOException ignored) {
            // nothing useful to do: the data was already read
        }
    }

    /** Reads len bytes, looping over short reads; returns how many were read (fewer only at end of stream). */
    static int readFully(InputStream in, byte[] buf, int len) throws IOException {
        int got = 0;
        while (got < len) {
            int n = in.read(buf, got, len - got);
            if (n < 0) {
                break;
            }
            got += n;
        }
        return got;
    }

    /** Skips exactly n bytes unless the stream ends first; returns how many were skipped. */
    static long skip(InputStream in, long n) throws IOException {
        long done = 0;
        byte[] scratch = null;
        while (done < n) {
            long k = in.skip(n - done);
            if (k <= 0) {
                if (scratch == null) {
                    scratch = new byte[8192];
                }
                int r = in.read(scratch, 0, (int) Math.min(scratch.length, n - done));
                if (r < 0) {
                    break;
                }
                k = r;
            }
            done += k;
        }
        return done;
    }
}
