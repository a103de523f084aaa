package org.myqasr.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;
import java.util.Collections;
import java.util.List;

import org.junit.Test;

/**
 * The phone's statistics loop: the encoder sees the clip's length, every decoder call's statistics are added, and
 * the last token is fed once more at the next position (as the host's teacher-forced pass runs the decoder on it).
 */
public class PhoneStatsRunnerTest {
    static final int BINS = 40 * 256;
    static final List<String> ENC = Collections.singletonList("enc");
    static final List<String> DEC = Collections.singletonList("dec");

    /** Greedy follows `script` (one preferred id per decoder call); every call reports one element in bin = call. */
    static final class Scripted implements StatsMethods {
        final int[] script;
        final StringBuilder fed = new StringBuilder();
        long nSamples = -1;
        int calls;

        Scripted(int... script) {
            this.script = script;
        }

        static Call partial(Object kv, float[] logits, int bin) {
            float[] hist = new float[BINS];
            hist[bin] = 1;
            return new Call(kv, logits, hist, new double[] {1, 1, 1, 1, -1, 0.5});
        }

        @Override
        public float[] preprocess(float[] pcm) {
            return new float[] {pcm.length};
        }

        @Override
        public Call encode(float[] features, long n) {
            nSamples = n;
            return partial("kv", null, 0);
        }

        @Override
        public Call decodeStep(long token, Object crossKv, long position) {
            assertEquals("kv", crossKv);
            fed.append(token).append('@').append(position).append(' ');
            float[] logits = new float[6];
            logits[script[Math.min(calls, script.length - 1)]] = 10;
            calls++;
            return partial(crossKv, logits, calls);
        }
    }

    static PhoneStats stats() {
        return new PhoneStats(Arrays.asList("enc", "dec"), -24, 256, BINS);
    }

    @Test
    public void stoppedByEosFeedsEosOnceMore() throws AsrException {
        Scripted m = new Scripted(1, 0, 1, 3);          // prompt 4@0 5@1 -> a b then <|endoftext|> (3)
        PhoneStats s = stats();
        PhoneStatsRunner r = new PhoneStatsRunner(m, WhisperTranscriberTest.vocab(10, "[]", "[]"), s, ENC, DEC);
        Transcript t = r.addClip(new float[37]);
        assertArrayEquals(new int[] {0, 1}, t.ids);
        assertEquals("4@0 5@1 0@2 1@3 3@4 ", m.fed.toString());
        assertEquals(37, m.nSamples);
        assertEquals(5L, s.summary("dec").get("count"));   // prompt 2 + ids 2 + <|endoftext|>
        assertEquals(1L, s.summary("enc").get("count"));
        assertEquals(1, r.clips());
    }

    @Test
    public void stoppedByMaxNewTokensFeedsTheLastIdOnceMore() throws AsrException {
        Scripted m = new Scripted(1, 0, 1, 0, 1);
        PhoneStats s = stats();
        PhoneStatsRunner r = new PhoneStatsRunner(m, WhisperTranscriberTest.vocab(2, "[]", "[]"), s, ENC, DEC);
        Transcript t = r.addClip(new float[10]);
        assertArrayEquals(new int[] {0, 1}, t.ids);
        assertEquals("4@0 5@1 0@2 1@3 ", m.fed.toString());   // 1 fed at 3 by the extra call: 130 positions at most
        assertEquals(4L, s.summary("dec").get("count"));
        r.addClip(new float[10]);
        assertEquals(8L, s.summary("dec").get("count"));
        assertEquals(2, r.clips());
    }

    @Test
    public void refusesAClipLongerThanTheWindow() throws AsrException {
        PhoneStatsRunner r = new PhoneStatsRunner(new Scripted(3), WhisperTranscriberTest.vocab(10, "[]", "[]"),
                stats(), ENC, DEC);
        try {
            r.addClip(new float[101]);
            fail("a clip longer than n_samples must be refused");
        } catch (AsrException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("at most"));
        }
        assertEquals(0, r.clips());
    }
}
