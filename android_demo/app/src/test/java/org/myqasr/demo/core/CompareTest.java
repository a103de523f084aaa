package org.myqasr.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** "Compare": two models on the same clips, the table's arithmetic, and cancellation inside a clip. */
public class CompareTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    @Test
    public void rtfLatencyAndMedians() {
        List<Comparison.Row> rows = new ArrayList<Comparison.Row>();
        rows.add(new Comparison.Row("a.wav", 2.0, Comparison.Side.ok("hello", 400), Comparison.Side.ok("hello", 800)));
        rows.add(new Comparison.Row("b.wav", 4.0, Comparison.Side.ok("world", 600), Comparison.Side.ok("word", 1000)));
        rows.add(new Comparison.Row("c.wav", 1.0, Comparison.Side.ok("x", 300),
                Comparison.Side.failed("c.wav: unsupported WAV encoding")));
        Comparison c = new Comparison("me.pte", "generic.pte", rows);
        assertEquals(0.2, Comparison.rtf(400, 2.0), 1e-12);
        assertEquals(400, c.medianLatencyMs(true), 0);       // 300, 400, 600
        assertEquals(900, c.medianLatencyMs(false), 0);      // 800, 1000 (the failed clip is left out)
        assertEquals(0.2, c.medianRtf(true), 1e-12);          // 0.2, 0.15, 0.3
        assertEquals(0.325, c.medianRtf(false), 1e-12);       // 0.4, 0.25
        assertEquals(1, c.sameTexts());
        String t = c.format();
        assertTrue(t, t.startsWith("A = me.pte\nB = generic.pte\n\na.wav (2.00 s)  [same text]\n"
                + "  A: 400 ms, RTF 0.200 | \"hello\"\n  B: 800 ms, RTF 0.400 | \"hello\""));
        assertTrue(t, t.contains("c.wav (1.00 s)\n  A: 300 ms, RTF 0.300 | \"x\"\n"
                + "  B: error: c.wav: unsupported WAV encoding"));
        assertTrue(t, t.endsWith("median latency: A 400 ms, B 900 ms | median RTF: A 0.200, B 0.325"
                + " | same text on 1 of 3 clips"));
        assertTrue(Double.isNaN(new Comparison("a", "b", new ArrayList<Comparison.Row>()).medianRtf(true)));
    }

    /** A Whisper stand-in that decodes the token {@code id} until max_new_tokens, counting its decoder calls. */
    static final class Fixed implements LoadedModel {
        final int id;
        int steps;
        boolean closed;
        Cancellation cancelAtStep;
        int cancelStep = -1;

        Fixed(int id) {
            this.id = id;
        }

        @Override
        public String[] methodNames() {
            return new String[] {"encoder", "preprocessor", "text_decoder"};
        }

        @Override
        public void loadMethods(String[] names) {
        }

        @Override
        public WhisperMethods whisper() {
            return new WhisperMethods() {
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
                    if (++steps == cancelStep) {
                        cancelAtStep.cancel();
                    }
                    float[] l = new float[6];
                    l[id] = 1;
                    return l;
                }
            };
        }

        @Override
        public CtcMethods ctc() {
            throw new AssertionError("a whisper model");
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    File write(String name, byte[] bytes) throws IOException {
        File f = new File(tmp.getRoot(), name);
        FileOutputStream out = new FileOutputStream(f);
        out.write(bytes);
        out.close();
        return f;
    }

    File wav(String name, int samples) throws IOException {
        byte[] head = WavWriter.pcmHeader(16000, 1, 16, 2L * samples);
        return write(name, Arrays.copyOf(head, head.length + 2 * samples));
    }

    static LoadedModel.Loader byName(final Fixed a, final Fixed b) {
        return new LoadedModel.Loader() {
            @Override
            public LoadedModel load(File pte) {
                return pte.getName().startsWith("a") ? a : b;
            }
        };
    }

    @Test
    public void bothModelsOnTheSameClipsOneAtATime() throws Exception {
        byte[] pte = Fixtures.bytes(Fixtures.file("ctc/model.pte"));
        File vocabFile = write("w.vocab.json", ("{\"format\": \"myqasr-vocab\", \"version\": 1, \"arch\": \"whisper\","
                + " \"tokens\": [\"\\u0120a\", \"b\", \"\\u0120\", \"<|endoftext|>\", \"<|sot|>\", \"<|nots|>\"],"
                + " \"whisper\": {\"n_samples\": 16000, \"decoder_start_ids\": [4, 5], \"eos_id\": 3,"
                + " \"max_new_tokens\": 3, \"suppress_tokens\": [], \"begin_suppress_tokens\": [],"
                + " \"first_special_id\": 3}}").getBytes("UTF-8"));
        CompareJob.Model a = new CompareJob.Model(write("a.pte", pte), vocabFile);
        CompareJob.Model b = new CompareJob.Model(write("b.pte", pte), vocabFile);
        List<File> clips = Arrays.asList(wav("one.wav", 8000), wav("two.wav", 16000));
        Fixed ma = new Fixed(0);
        Fixed mb = new Fixed(1);
        final List<String> progress = new ArrayList<String>();
        Comparison c = CompareJob.run(a, b, clips, byName(ma, mb), new Cancellation(), new CompareJob.Progress() {
            @Override
            public void update(int done, int total, String what) {
                progress.add(done + "/" + total + " " + what);
            }
        });
        assertEquals(Arrays.asList("0/4 a.pte: one.wav", "1/4 a.pte: two.wav", "2/4 a.pte: done",
                "2/4 b.pte: one.wav", "3/4 b.pte: two.wav", "4/4 b.pte: done"), progress);
        assertEquals(2, c.rows.size());
        assertEquals("a a a", c.rows.get(0).a.text);
        assertEquals("bbb", c.rows.get(0).b.text);
        assertEquals(0.5, c.rows.get(0).audioSeconds, 1e-12);
        assertEquals(1.0, c.rows.get(1).audioSeconds, 1e-12);
        assertEquals(8, ma.steps); // 2 clips x (2 prompt + 2 fed back)
        assertTrue("each model is closed after its pass", ma.closed && mb.closed);
        assertEquals(0, c.sameTexts());
    }

    @Test
    public void cancelStopsInsideAClipAndClosesTheModel() throws Exception {
        byte[] pte = Fixtures.bytes(Fixtures.file("ctc/model.pte"));
        File vocabFile = write("w.vocab.json", ("{\"format\": \"myqasr-vocab\", \"version\": 1, \"arch\": \"whisper\","
                + " \"tokens\": [\"a\", \"b\", \"c\", \"<|endoftext|>\", \"<|sot|>\", \"<|nots|>\"],"
                + " \"whisper\": {\"n_samples\": 16000, \"decoder_start_ids\": [4, 5], \"eos_id\": 3,"
                + " \"max_new_tokens\": 100, \"suppress_tokens\": [], \"begin_suppress_tokens\": [],"
                + " \"first_special_id\": 3}}").getBytes("UTF-8"));
        Cancellation cancel = new Cancellation();
        Fixed ma = new Fixed(0);
        ma.cancelAtStep = cancel;
        ma.cancelStep = 5;
        try {
            CompareJob.run(new CompareJob.Model(write("a.pte", pte), vocabFile),
                    new CompareJob.Model(write("b.pte", pte), vocabFile), Arrays.asList(wav("one.wav", 100)),
                    byName(ma, new Fixed(1)), cancel, new CompareJob.Progress() {
                        @Override
                        public void update(int done, int total, String what) {
                        }
                    });
            fail("cancelled");
        } catch (Cancellation.Cancelled e) {
            assertEquals("Cancelled.", e.getMessage());
        }
        assertEquals("stopped at the step after the cancel, not after 100 tokens", 5, ma.steps);
        assertTrue(ma.closed);
    }

    @Test
    public void noClipsIsASentence() throws Exception {
        try {
            CompareJob.run(null, null, new ArrayList<File>(), null, new Cancellation(), null);
            fail();
        } catch (AsrException e) {
            assertEquals("No clips to compare on: add or record WAV clips first.", e.getMessage());
        }
    }
}
