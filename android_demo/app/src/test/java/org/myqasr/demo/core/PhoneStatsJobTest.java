package org.myqasr.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;

import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** The "Personalize on this phone" job: clips in, statistics file out; cancel leaves no file. */
public class PhoneStatsJobTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    static final String PROGRAM = "{\"format\": \"myqasr-stats-program\", \"version\": \"1\", \"model_id\": \"m\","
            + " \"weights_sha256\": \"w\", \"pte_sha256\": \"p\", \"layers\": [\"enc\", \"dec\"],"
            + " \"encoder_layers\": [\"enc\"], \"decoder_layers\": [\"dec\"],"
            + " \"moments\": [\"count\", \"sum_abs\", \"sum_sq\", \"max\", \"min\", \"input_abs_max\"],"
            + " \"bins\": {\"log2_lo\": -24, \"log2_hi\": 16, \"bins_per_octave\": 256, \"n\": 10240}}";

    File wav(String name, int samples) throws IOException {
        File f = tmp.newFile(name);
        FileOutputStream out = new FileOutputStream(f);
        try {
            out.write(WavWriter.pcmHeader(16000, 1, 16, 2L * samples));
            out.write(new byte[2 * samples]);
        } finally {
            out.close();
        }
        return f;
    }

    static final class Listener implements PhoneStatsJob.Listener {
        final int cancelAfter;
        int done;

        Listener(int cancelAfter) {
            this.cancelAfter = cancelAfter;
        }

        @Override
        public void clipDone(int d, int total, String clip) {
            done = d;
        }

        @Override
        public boolean cancelled() {
            return done >= cancelAfter;
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    public void writesTheFileForAllClips() throws Exception {
        List<File> clips = Arrays.asList(wav("a.wav", 40), wav("b.wav", 80));
        File out = new File(tmp.getRoot(), "phone.stats");
        Listener l = new Listener(Integer.MAX_VALUE);
        PhoneStatsJob.Result r = PhoneStatsJob.run(new PhoneStatsRunnerTest.Scripted(1, 0, 3), PROGRAM,
                WhisperTranscriberTest.vocab(10, "[]", "[]"), clips, out,
                Collections.<String, Object>singletonMap("app", "test"), l);
        assertEquals(2, l.done);
        assertEquals(2, r.clips);
        assertEquals(120 / 16000.0, r.seconds, 1e-12);
        assertEquals(out.length(), r.bytes);
        byte[] b = java.nio.file.Files.readAllBytes(out.toPath());
        long len = ByteBuffer.wrap(b, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        Map<String, Object> meta = (Map<String, Object>) ((Map<String, Object>) Json.parse(
                new String(b, 8, (int) len, StandardCharsets.UTF_8))).get("__metadata__");
        Map<String, Object> prov = (Map<String, Object>) Json.parse((String) meta.get("provenance"));
        assertEquals("phone", prov.get("computed_on"));
        assertEquals("test", prov.get("app"));
        assertEquals(2L, prov.get("clips"));
        assertTrue(r.describe(), r.describe().contains("No audio, no text"));
    }

    @Test
    public void cancelWritesNothing() throws Exception {
        List<File> clips = Arrays.asList(wav("a.wav", 40), wav("b.wav", 80));
        File out = new File(tmp.getRoot(), "phone.stats");
        assertNull(PhoneStatsJob.run(new PhoneStatsRunnerTest.Scripted(1, 0, 3), PROGRAM,
                WhisperTranscriberTest.vocab(10, "[]", "[]"), clips, out,
                Collections.<String, Object>emptyMap(), new Listener(1)));
        assertFalse(out.exists());
    }
}
