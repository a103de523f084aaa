package org.myqasr.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.util.List;
import java.util.Map;

import org.junit.Test;

/**
 * The Java app reproduces the Python SDK on the fixtures tests/test_android_parity.py wrote: the CTC clip
 * goes WAV -> mono -> 16 kHz -> (the runtime's recorded logits) -> text through the app's own DemoSession,
 * and the Whisper greedy loop replays the logits the SDK's loop saw, call by call.
 */
public class ParityTest {
    /** A .pte stand-in that serves the logits ExecuTorch produced in Python, after checking the input. */
    static final class ReplayCtc implements LoadedModel {
        final float[] expectedInput;
        final Logits logits;
        int calls;

        ReplayCtc(float[] expectedInput, Logits logits) {
            this.expectedInput = expectedInput;
            this.logits = logits;
        }

        @Override
        public String[] methodNames() {
            return new String[] {"forward"};
        }

        @Override
        public void loadMethods(String[] names) {
            assertArrayEquals(new String[] {"forward"}, names);
        }

        @Override
        public WhisperMethods whisper() {
            throw new AssertionError("not a Whisper model");
        }

        @Override
        public CtcMethods ctc() {
            return new CtcMethods() {
                @Override
                public Logits forward(float[] waveform) {
                    calls++;
                    assertEquals("the padded input length", expectedInput.length, waveform.length);
                    assertEquals(0f, Fixtures.maxAbsDiff(expectedInput, waveform), 1e-6f);
                    return new Logits(logits.data.clone(), logits.rows, logits.vocab);
                }
            };
        }

        @Override
        public void close() {
        }
    }

    @Test
    public void ctcClipFromWavToTextMatchesTheSdk() throws Exception {
        Map<String, Object> exp = Fixtures.json("ctc/expected.json");
        float[] waveform = Fixtures.f32("ctc/" + exp.get("waveform"));
        assertEquals(Fixtures.integer(exp.get("waveform_samples")), waveform.length);
        float[] modelInput = java.util.Arrays.copyOf(waveform, Fixtures.integer(exp.get("model_input_samples")));
        int[] shape = Fixtures.ints(exp.get("logits_shape"));
        final ReplayCtc model = new ReplayCtc(modelInput,
                new Logits(Fixtures.f32("ctc/" + exp.get("logits")), shape[0], shape[1]));

        DemoSession session = new DemoSession();
        DemoSession.Loaded loaded = session.load(Fixtures.file("ctc/" + exp.get("pte")),
                Fixtures.file("ctc/" + exp.get("vocab")), new LoadedModel.Loader() {
                    @Override
                    public LoadedModel load(File pte) {
                        return model;
                    }
                });
        assertEquals("wav2vec2", loaded.arch);
        assertEquals(null, loaded.warning); // the sidecar's pte_sha256 is the fixture .pte's
        DemoSession.Clip clip = session.readClip(Fixtures.file("ctc/" + exp.get("wav")));
        assertEquals(0f, Fixtures.maxAbsDiff(waveform, clip.pcm), 1e-6f);
        DemoSession.Result r = session.transcribe(clip);
        assertEquals(exp.get("text"), r.transcript.text);
        assertArrayEquals(Fixtures.ints(exp.get("ids")), r.transcript.ids);
        assertEquals(1, model.calls);
        assertTrue(r.describe(), r.describe().startsWith("input.wav: \"" + exp.get("text") + "\"\n  audio 0.31 s"));
    }

    /** Replays one recorded decoder call per step, checking the token and position the loop feeds. */
    static final class ReplayWhisper implements WhisperMethods {
        final int[] fedTokens;
        final int[] positions;
        final float[] steps;
        final int vocab;
        final int nSamples;
        int calls;
        boolean encoded;

        ReplayWhisper(Map<String, Object> exp, float[] steps, int nSamples) {
            this.fedTokens = Fixtures.ints(exp.get("fed_tokens"));
            this.positions = Fixtures.ints(exp.get("positions"));
            this.vocab = Fixtures.ints(exp.get("logits_shape"))[1];
            this.steps = steps;
            this.nSamples = nSamples;
        }

        @Override
        public float[] preprocess(float[] pcm) {
            assertEquals("pcm is padded to n_samples", nSamples, pcm.length);
            return new float[] {1f};
        }

        @Override
        public Object encode(float[] features) {
            encoded = true;
            return "crossKv";
        }

        @Override
        public float[] decodeStep(long token, Object crossKv, long position) {
            assertTrue(encoded);
            assertEquals("the encoder's output is passed to every step", "crossKv", crossKv);
            assertTrue("more decoder calls than Python made", calls < fedTokens.length);
            assertEquals("token fed at call " + calls, fedTokens[calls], token);
            assertEquals("position at call " + calls, positions[calls], position);
            float[] out = java.util.Arrays.copyOfRange(steps, calls * vocab, (calls + 1) * vocab);
            calls++;
            return out;
        }
    }

    private static void whisperCase(String name) throws Exception {
        Map<String, Object> exp = Fixtures.json("whisper/" + name + "/expected.json");
        Vocab vocab = Vocab.load(Fixtures.file("whisper/" + name + "/" + exp.get("vocab")));
        ReplayWhisper methods = new ReplayWhisper(exp, Fixtures.f32("whisper/" + name + "/" + exp.get("logits")),
                vocab.whisper.nSamples);
        Transcript t = new WhisperTranscriber(methods, vocab).transcribe(new float[16000]);
        assertArrayEquals(name, Fixtures.ints(exp.get("ids")), t.ids);
        assertEquals(name, exp.get("text"), t.text);
        assertEquals(name + ": every recorded call was made", methods.fedTokens.length, methods.calls);
        assertEquals(Fixtures.integer(exp.get("decoder_calls")), t.steps);
        assertEquals(java.util.Arrays.asList("preprocess", "encode", "decode"),
                new java.util.ArrayList<String>(t.stageMs.keySet()));
    }

    @Test
    public void whisperStoppedByEosMatchesTheSdk() throws Exception {
        whisperCase("eos");
    }

    @Test
    public void whisperStoppedByMaxNewTokensMatchesTheSdk() throws Exception {
        whisperCase("max_new_tokens");
    }

    @Test
    public void fixturesExerciseTheRules() throws Exception {
        Map<String, Object> exp = Fixtures.json("whisper/eos/expected.json");
        String text = (String) exp.get("text");
        assertTrue("a repaired UTF-8 sequence", text.indexOf('\ufffd') >= 0);
        List<?> ids = (List<?>) Fixtures.json("ctc/expected.json").get("ids");
        assertTrue(ids.contains(12L)); // a skip id (<unk>) that the text leaves out
    }
}
