package org.myqasr.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import org.junit.Test;

/** The greedy loop's rules on hand-made logits (tokens: a b c <|endoftext|> <|sot|> <|nots|>). */
public class WhisperTranscriberTest {
    static Vocab vocab(int maxNew, String suppress, String begin) throws AsrException {
        return Vocab.parse("{\"format\": \"myqasr-vocab\", \"version\": 1, \"arch\": \"whisper\","
                + " \"tokens\": [\"Ġa\", \"b\", \"Ġ\", \"<|endoftext|>\", \"<|sot|>\", \"<|nots|>\"],"
                + " \"whisper\": {\"n_samples\": 100, \"decoder_start_ids\": [4, 5], \"eos_id\": 3,"
                + " \"max_new_tokens\": " + maxNew + ", \"suppress_tokens\": " + suppress + ","
                + " \"begin_suppress_tokens\": " + begin + ", \"first_special_id\": 3}}", "t.vocab.json");
    }

    /** Each call returns logits whose argmax is the next id of a script, the runner-up the one after it. */
    static final class Scripted implements WhisperMethods {
        final int[][] preferences; // per decoder call: ids from best to worse
        final int vocab;
        int calls;
        final StringBuilder fed = new StringBuilder();

        Scripted(int vocab, int[]... preferences) {
            this.vocab = vocab;
            this.preferences = preferences;
        }

        @Override
        public float[] preprocess(float[] pcm) {
            return new float[0];
        }

        @Override
        public Object encode(float[] features) {
            return null;
        }

        @Override
        public float[] decodeStep(long token, Object crossKv, long position) {
            fed.append(token).append('@').append(position).append(' ');
            float[] l = new float[vocab];
            int[] pref = preferences[Math.min(calls, preferences.length - 1)];
            for (int k = 0; k < pref.length; k++) {
                l[pref[k]] = 10 - k;
            }
            calls++;
            return l;
        }
    }

    @Test
    public void promptThenGreedyUntilEos() throws AsrException {
        // call 0 (sot@0) is ignored; call 1 (nots@1) gives the first output.
        Scripted m = new Scripted(6, new int[] {1}, new int[] {0}, new int[] {1}, new int[] {5}, new int[] {3});
        Transcript t = new WhisperTranscriber(m, vocab(10, "[]", "[]")).transcribe(new float[5]);
        assertArrayEquals(new int[] {0, 1, 5}, t.ids); // the special 5 is generated but not printed
        assertEquals("ab", t.text);
        assertEquals("4@0 5@1 0@2 1@3 5@4 ", m.fed.toString());
        assertEquals(5, t.steps);
    }

    @Test
    public void suppressionAtEveryStepAndBeginSuppressionAtTheFirst() throws AsrException {
        // first step prefers " " (2) then eos (3) then a (0): both begin-suppressed -> a.
        // later steps prefer b (1, suppressed) then " " (2).
        Scripted m = new Scripted(6, new int[] {0}, new int[] {2, 3, 0}, new int[] {1, 2}, new int[] {1, 3});
        Transcript t = new WhisperTranscriber(m, vocab(10, "[1]", "[2, 3]")).transcribe(new float[5]);
        assertArrayEquals(new int[] {0, 2}, t.ids);
        assertEquals("a", t.text); // " a" + " " stripped
    }

    @Test
    public void stopsAfterMaxNewTokensWithoutAnExtraCall() throws AsrException {
        Scripted m = new Scripted(6, new int[] {0}, new int[] {0});
        Transcript t = new WhisperTranscriber(m, vocab(3, "[]", "[]")).transcribe(new float[5]);
        assertArrayEquals(new int[] {0, 0, 0}, t.ids);
        assertEquals("a a a", t.text);
        assertEquals(4, m.calls); // 2 prompt calls + 2 fed back; the 3rd id is not fed
    }

    @Test
    public void wrongOutputWidthIsAMismatch() throws AsrException {
        try {
            new WhisperTranscriber(new Scripted(7, new int[] {0}), vocab(3, "[]", "[]")).transcribe(new float[1]);
            fail();
        } catch (AsrException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("Model/vocabulary mismatch: the model outputs 7"));
        }
    }

    @Test
    public void argmaxIsTorchs() {
        assertEquals(1, new Logits(new float[] {1, 3, 3}, 1, 3).argmax(0)); // first maximum
        assertEquals(2, new Logits(new float[] {1, 3, Float.NaN}, 1, 3).argmax(0)); // NaN wins, as in torch
        assertEquals(0, new Logits(new float[] {Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY}, 1, 2).argmax(0));
    }

    @Test
    public void ctcCollapsesDropsAndPads() throws AsrException {
        Vocab v = Vocab.parse("{\"format\": \"myqasr-vocab\", \"version\": 1, \"arch\": \"wav2vec2\","
                + " \"tokens\": [\"<pad>\", \"|\", \"A\", \"B\", \"<unk>\"], \"ctc\": {\"blank_id\": 0,"
                + " \"word_delimiter\": \"|\", \"skip_ids\": [0, 4], \"input_multiple\": 4, \"min_frames\": 3}}", "c");
        // frames: A A _ A | | B <unk> B _ |
        int[] path = {2, 2, 0, 2, 1, 1, 3, 4, 3, 0, 1};
        float[] data = new float[path.length * 5];
        for (int t = 0; t < path.length; t++) {
            data[t * 5 + path[t]] = 1;
        }
        int[] ids = CtcTranscriber.greedyIds(new Logits(data, path.length, 5), 0);
        assertArrayEquals(new int[] {2, 2, 1, 3, 4, 3, 1}, ids);
        assertEquals("AA BB", CtcTranscriber.text(ids, v));
        assertEquals(12, CtcTranscriber.padded(new float[5], v.ctc).length); // 3 frames of 4 at least
        assertEquals(16, CtcTranscriber.padded(new float[13], v.ctc).length);
        float[] exact = new float[16];
        assertTrue(CtcTranscriber.padded(exact, v.ctc) == exact);
    }
}
