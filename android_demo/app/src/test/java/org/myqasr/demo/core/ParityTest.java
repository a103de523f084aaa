package org.myqasr.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.util.Map;

import org.junit.Test;

/**
 * The Java app reproduces the Python SDK on the fixtures tests/test_android_parity.py wrote: the CTC clip
 * goes WAV -> mono -> 16 kHz -> (the runtime's recorded logits) -> text through the app's own DemoSession and
 * PteModel (the Whisper calls: PteModelParityTest).
 */
public class ParityTest {
    /**
     * Stands where ExecuTorch's Module stands: serves the logits the runtime produced in Python, [1, T, V] as the
     * runtime returned them, after checking the input {@link PteModel} built.
     */
    static final class ReplayCtc implements PteProgram {
        final float[] expectedInput;
        final float[] logits;
        final long[] shape;
        int calls;

        ReplayCtc(float[] expectedInput, float[] logits, long[] shape) {
            this.expectedInput = expectedInput;
            this.logits = logits;
            this.shape = shape;
        }

        @Override
        public String name() {
            return "model.pte";
        }

        @Override
        public String[] methodNames() {
            return new String[] {"forward"};
        }

        @Override
        public void loadMethod(String method) {
            assertEquals("forward", method);
        }

        @Override
        public PteTensor[] execute(String method, PteTensor... inputs) throws AsrException {
            calls++;
            assertEquals("forward", method);
            assertEquals(1, inputs.length);
            assertArrayEquals("waveform [1, N]", new long[] {1, expectedInput.length}, inputs[0].shape());
            assertEquals(0f, Fixtures.maxAbsDiff(expectedInput, inputs[0].floats("waveform")), 1e-6f);
            return new PteTensor[] {PteTensor.floats(logits.clone(), shape)};
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
        ReplayCtc program = new ReplayCtc(modelInput, Fixtures.f32("ctc/" + exp.get("logits")),
                new long[] {1, shape[0], shape[1]});
        final PteModel model = new PteModel(program);

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
        assertEquals(1, program.calls);
        assertTrue(r.describe(), r.describe().startsWith("input.wav: \"" + exp.get("text") + "\"\n  audio 0.31 s"));
    }
}
