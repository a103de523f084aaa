package org.myqasr.demo.core;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * The parity fixtures written by tests/test_android_parity.py: the committed copy (src/test/resources/fixtures,
 * on the test classpath), or the folder named by -Dmyqasr.fixtures.
 */
final class Fixtures {
    private Fixtures() {
    }

    static File dir() {
        String override = System.getProperty("myqasr.fixtures");
        if (override != null && !override.isEmpty()) {
            return new File(override);
        }
        URL u = Fixtures.class.getClassLoader().getResource("fixtures/text.json");
        if (u != null && "file".equals(u.getProtocol())) {
            try {
                return new File(u.toURI()).getParentFile();
            } catch (URISyntaxException e) {
                throw new IllegalStateException(e);
            }
        }
        File moduleRelative = new File("src/test/resources/fixtures"); // Gradle runs unit tests in app/
        if (moduleRelative.isDirectory()) {
            return moduleRelative;
        }
        throw new IllegalStateException("fixtures/ is neither a folder on the test classpath nor " + moduleRelative);
    }

    static File file(String relative) {
        return new File(dir(), relative);
    }

    static byte[] bytes(File f) throws IOException {
        return readAll(new FileInputStream(f));
    }

    /** Every byte of `in`, which is closed afterwards. */
    static byte[] readAll(InputStream in) throws IOException {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[65536];
            int n;
            while ((n = in.read(buf)) > 0) {
                out.write(buf, 0, n);
            }
            return out.toByteArray();
        } finally {
            in.close();
        }
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> json(String relative) throws IOException {
        return (Map<String, Object>) Json.parse(new String(bytes(file(relative)), StandardCharsets.UTF_8));
    }

    /** Raw little-endian float32. */
    static float[] f32(String relative) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(bytes(file(relative))).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[b.remaining() / 4];
        b.asFloatBuffer().get(out);
        return out;
    }

    static int[] ints(Object list) {
        List<?> l = (List<?>) list;
        int[] out = new int[l.size()];
        for (int k = 0; k < out.length; k++) {
            out[k] = ((Long) l.get(k)).intValue();
        }
        return out;
    }

    static int integer(Object o) {
        return ((Long) o).intValue();
    }

    static float maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new AssertionError("lengths differ: " + a.length + " vs " + b.length);
        }
        float m = 0;
        for (int k = 0; k < a.length; k++) {
            m = Math.max(m, Math.abs(a[k] - b[k]));
        }
        return m;
    }
}
