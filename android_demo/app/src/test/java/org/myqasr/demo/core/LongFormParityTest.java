package org.myqasr.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;

import org.junit.Test;

/**
 * A 64 s recording, transcribed by the real tiny.en {@code .pte} through the SDK's long-form runner
 * (fixtures/longform, written by tests/test_android_parity.py): the Java transcriber must cut the same windows,
 * feed the same tokens at the same positions, keep the same ids and print the same text. The decoder replays the
 * runtime's logits as the fixture stores them (the values the decoding rules read; the Python side checks that its
 * own loop decides the same on them). The recording itself is a sample counter, so each window the Java code cuts
 * shows where it starts and where its zero padding begins.
 */
public class LongFormParityTest {
    @SuppressWarnings("unchecked")
    static Map<String, Object> gzJson(String relative) throws IOException {
        return (Map<String, Object>) Json.parse(gzText(relative));
    }

    static String gzText(String relative) throws IOException {
        byte[] gz = Fixtures.bytes(Fixtures.file(relative));
        return new String(Fixtures.readAll(new GZIPInputStream(new ByteArrayInputStream(gz))), StandardCharsets.UTF_8);
    }

    /** Replays the recorded decoder calls window by window, checking what Java feeds and cuts. */
    static final class Replay implements WhisperMethods {
        final List<Object> windows;
        final int vocabSize;
        final int timestampBegin;
        final int nSamples;
        int window = -1;
        int call;

        Replay(List<Object> windows, int vocabSize, int timestampBegin, int nSamples) {
            this.windows = windows;
            this.vocabSize = vocabSize;
            this.timestampBegin = timestampBegin;
            this.nSamples = nSamples;
        }

        Map<?, ?> current() {
            return (Map<?, ?>) windows.get(window);
        }

        @Override
        public float[] preprocess(float[] pcm) {
            window++;
            call = 0;
            assertTrue("Java decodes more windows than the SDK", window < windows.size());
            int start = Fixtures.integer(current().get("start"));
            int samples = Fixtures.integer(current().get("samples"));
            assertEquals("window length", nSamples, pcm.length);
            for (int k = 0; k < pcm.length; k++) {
                float want = k < samples ? (float) (start + k) : 0f;
                if (pcm[k] != want) {
                    throw new AssertionError("window " + window + " sample " + k + ": " + pcm[k] + " != " + want);
                }
            }
            return new float[0];
        }

        @Override
        public Object encode(float[] features) {
            return Integer.valueOf(window);
        }

        @Override
        public float[] decodeStep(long token, Object crossKv, long position) {
            assertEquals(Integer.valueOf(window), crossKv);
            int[] fed = Fixtures.ints(current().get("fed"));
            int[] positions = Fixtures.ints(current().get("positions"));
            assertTrue("window " + window + ": more decoder calls than the SDK", call < fed.length);
            assertEquals("window " + window + " call " + call + ": fed token", fed[call], token);
            assertEquals("window " + window + " call " + call + ": position", positions[call], position);
            Map<?, ?> step = (Map<?, ?>) ((List<?>) current().get("steps")).get(call);
            call++;
            float[] logits = new float[vocabSize];
            java.util.Arrays.fill(logits, 0, timestampBegin, Float.NEGATIVE_INFINITY);
            java.util.Arrays.fill(logits, timestampBegin, vocabSize, value(step.get("fill")));
            for (String key : new String[] {"text", "ts"}) {
                for (Object pair : (List<?>) step.get(key)) {
                    List<?> p = (List<?>) pair;
                    logits[Fixtures.integer(p.get(0))] = value(p.get(1));
                }
            }
            return logits;
        }

        static float value(Object text) {
            String s = (String) text;
            return "-inf".equals(s) ? Float.NEGATIVE_INFINITY : Float.parseFloat(s);
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    public void longRecordingMatchesTheSdk() throws Exception {
        Map<String, Object> exp = gzJson("longform/expected.json.gz");
        Vocab vocab = Vocab.parse(gzText("longform/model.vocab.json.gz"), "longform/model.vocab.json");
        int n = Fixtures.integer(exp.get("n_samples"));
        assertTrue("the fixture should be longer than 60 s", n > 60 * 16000);
        float[] pcm = new float[n];
        for (int k = 0; k < n; k++) {
            pcm[k] = k; // exact in float32 up to 2^24 samples (17 min)
        }
        List<Object> windows = (List<Object>) exp.get("windows");
        int tb = Fixtures.integer(exp.get("timestamp_begin"));
        assertEquals(tb, LongForm.noTimestampsId(vocab) + 1);
        Replay replay = new Replay(windows, vocab.tokens.length, tb, vocab.whisper.nSamples);
        WhisperTranscriber transcriber = new WhisperTranscriber(replay, vocab);
        Transcript t = transcriber.transcribe(pcm);
        assertEquals("windows", windows.size(), replay.window + 1);
        assertEquals(windows.size(), transcriber.lastWindows());
        assertTrue(windows.size() >= 3);
        assertEquals("every call of the last window was made", ((List<?>) ((Map<?, ?>) windows.get(replay.window))
                .get("fed")).size(), replay.call);
        assertArrayEquals(Fixtures.ints(exp.get("ids")), t.ids);
        assertEquals(exp.get("text"), t.text);
        assertEquals(Fixtures.integer(exp.get("decoder_calls")), t.steps);
    }

    /** The window rule itself on hand-made sequences (ids >= 10 are timestamps, 10 = 0.00 s). */
    @Test
    public void windowSegmentsFollowTheSdk() {
        // a complete segment, then an unfinished one: keep up to the pair, move to its first timestamp
        LongForm.Step s = LongForm.windowSegments(new int[] {10, 1, 2, 60, 60, 3, 4}, 480000, 10);
        assertArrayEquals(new int[] {10, 1, 2, 60, 60}, s.kept);
        assertEquals(50 * LongForm.SAMPLES_PER_TIMESTAMP, s.advance);
        // a lone final timestamp: no speech after it, keep everything, move past the window
        s = LongForm.windowSegments(new int[] {10, 1, 2, 60, 60, 3, 70}, 480000, 10);
        assertArrayEquals(new int[] {10, 1, 2, 60, 60, 3, 70}, s.kept);
        assertEquals(480000, s.advance);
        // no pair: one segment, the whole window
        s = LongForm.windowSegments(new int[] {10, 1, 2, 3}, 123456, 10);
        assertEquals(4, s.kept.length);
        assertEquals(123456, s.advance);
    }
}
