package org.myqasr.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;

import org.junit.Test;

/**
 * The app's marshalling ({@link PteModel}) and greedy loop against the ExecuTorch runtime: fixtures/whisper/ holds
 * every method call the Python runtime ({@code executorch.runtime} through myqasr_export.runner.PteModel) made on a
 * tiny random Whisper {@code .pte} (8 mels, 4 decoder layers, so 8 cross K/V tensors), two clips in a row on one
 * loaded program (tests/test_android_parity.py). The replay below stands where ExecuTorch's Module stands: it
 * checks that Java calls the same methods in the same order with inputs of the same dtype, shape and values
 * (token, position; the padded PCM by its sum and first values), hands the encoder's K/V back in the order the
 * runtime returned them, and answers with the runtime's own outputs (the preprocessor's features, each step's
 * logits [1, 1, V]). The K/V values themselves are not in the fixture (8 x 24,000 floats) and Java never reads
 * them: the replay gives them no data.
 */
public class PteModelParityTest {
    @SuppressWarnings("unchecked")
    static Map<String, Object> expected() throws IOException {
        return Fixtures.json("whisper/expected.json");
    }

    static float[] gzFloats(String relative) throws IOException {
        byte[] raw = Fixtures.readAll(new GZIPInputStream(new ByteArrayInputStream(
                Fixtures.bytes(Fixtures.file(relative)))));
        float[] out = new float[raw.length / 4];
        ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
        return out;
    }

    /** The fixture's clip: ((k * mult) mod 4001 - 2000) / 4096, exact in float32 on both sides. */
    static float[] pcm(Map<?, ?> spec) {
        int n = Fixtures.integer(spec.get("samples"));
        long mult = (Long) spec.get("mult");
        float[] x = new float[n];
        for (int k = 0; k < n; k++) {
            x[k] = ((k * mult) % 4001 - 2000) / 4096f;
        }
        return x;
    }

    static long[] longs(Object list) {
        List<?> l = (List<?>) list;
        long[] out = new long[l.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ((Number) l.get(i)).longValue();
        }
        return out;
    }

    /** The runtime's recorded calls, replayed in order. */
    static final class Replay implements PteProgram {
        final List<?> calls;
        final float[] logits;
        final float[] features;
        int call;
        int step;
        int featureOffset;
        PteTensor[] lastEncoderOutputs;

        @SuppressWarnings("unchecked")
        Replay() throws IOException {
            Map<String, Object> exp = expected();
            calls = (List<?>) ((Map<String, Object>) Json.parse(LongFormParityTest.gzText("whisper/"
                    + exp.get("calls")))).get("calls");
            logits = Fixtures.f32("whisper/" + exp.get("logits"));
            features = gzFloats("whisper/" + exp.get("features"));
        }

        @Override
        public String name() {
            return "tiny-whisper.pte";
        }

        @Override
        public String[] methodNames() {
            return new String[] {"encoder", "preprocessor", "text_decoder"};
        }

        @Override
        public void loadMethod(String method) {
        }

        @Override
        public PteTensor[] execute(String method, PteTensor... inputs) throws AsrException {
            assertTrue("Java makes more calls than the runtime did", call < calls.size());
            Map<?, ?> c = (Map<?, ?>) calls.get(call);
            String where = "call " + call + " (" + c.get("method") + ")";
            assertEquals(where, c.get("method"), method);
            List<?> specs = (List<?>) c.get("inputs");
            assertEquals(where + ": inputs", specs.size(), inputs.length);
            for (int i = 0; i < inputs.length; i++) {
                checkInput(where + " input " + i, (Map<?, ?>) specs.get(i), inputs[i]);
                if ("text_decoder".equals(method) && i >= 2) {
                    assertSame(where + " input " + i + " is encoder output " + (i - 2), lastEncoderOutputs[i - 2],
                            inputs[i]);
                }
            }
            call++;
            List<?> outs = (List<?>) c.get("outputs");
            PteTensor[] result = new PteTensor[outs.size()];
            for (int i = 0; i < result.length; i++) {
                Map<?, ?> spec = (Map<?, ?>) outs.get(i);
                long[] shape = longs(spec.get("shape"));
                int n = (int) PteTensor.numel(shape);
                if ("preprocessor".equals(method)) {
                    result[i] = PteTensor.floats(Arrays.copyOfRange(features, featureOffset, featureOffset + n), shape);
                    featureOffset += n;
                } else if ("text_decoder".equals(method)) {
                    result[i] = PteTensor.floats(Arrays.copyOfRange(logits, step * n, (step + 1) * n), shape);
                    step++;
                } else {
                    result[i] = PteTensor.fromRuntime((String) spec.get("dtype"), shape, "kv" + i, NO_DATA);
                }
            }
            if ("encoder".equals(method)) {
                lastEncoderOutputs = result;
            }
            return result;
        }

        @Override
        public void close() {
        }
    }

    static final PteTensor.Data NO_DATA = new PteTensor.Data() {
        @Override
        public float[] floats() {
            throw new AssertionError("Java read the cross K/V values; it must only pass them back");
        }

        @Override
        public long[] longs() {
            throw new AssertionError("Java read the cross K/V values");
        }

        @Override
        public double[] doubles() {
            throw new AssertionError("Java read the cross K/V values");
        }
    };

    static void checkInput(String where, Map<?, ?> spec, PteTensor t) throws AsrException {
        assertEquals(where + ": dtype", spec.get("dtype"), t.dtype);
        assertArrayEquals(where + ": shape", longs(spec.get("shape")), t.shape());
        if (t.handle != null) {
            return; // an encoder output passed back: its identity is checked by the caller
        }
        double sum = 0;
        double scale = 0;
        List<?> head = (List<?>) spec.get("head");
        if (PteTensor.INT64.equals(t.dtype)) {
            long[] v = t.longs(where);
            assertArrayEquals(where + ": values", longs(spec.get("values")), v);
            return;
        }
        float[] v = t.floats(where);
        for (int k = 0; k < head.size(); k++) {
            assertEquals(where + ": value " + k, ((Number) head.get(k)).doubleValue(), v[k], 0.0);
        }
        for (float x : v) {
            sum += x;
            scale += Math.abs(x);
        }
        assertEquals(where + ": sum", ((Number) spec.get("sum")).doubleValue(), sum, 1e-9 * Math.max(1, scale));
    }

    @Test
    public void twoClipsInARowMatchTheRuntime() throws Exception {
        Replay replay = new Replay();
        PteModel model = new PteModel(replay);
        WhisperMethods methods = model.whisper();
        List<?> clips = (List<?>) expected().get("clips");
        assertEquals(2, clips.size());
        List<String> texts = new ArrayList<String>();
        for (Object o : clips) {
            Map<?, ?> clip = (Map<?, ?>) o;
            Vocab vocab = Vocab.load(Fixtures.file("whisper/" + clip.get("vocab")));
            Transcript t = new WhisperTranscriber(methods, vocab).transcribe(pcm((Map<?, ?>) clip.get("pcm")));
            assertArrayEquals((String) clip.get("case"), Fixtures.ints(clip.get("ids")), t.ids);
            assertEquals((String) clip.get("case"), clip.get("text"), t.text);
            assertEquals(Fixtures.integer(clip.get("decoder_calls")), t.steps);
            texts.add(t.text);
        }
        assertEquals("every recorded call was made", replay.calls.size(), replay.call);
        assertEquals("every recorded step was used", Fixtures.ints(expected().get("logits_shape"))[0], replay.step);
        assertEquals(replay.features.length, replay.featureOffset);
        assertTrue("a repaired UTF-8 sequence", texts.get(0).indexOf('\ufffd') >= 0);
    }

    @Test
    public void theRuntimesEncoderOutputsAreTheContractsCrossKv() throws Exception {
        Replay replay = new Replay();
        Map<?, ?> encoderCall = (Map<?, ?>) replay.calls.get(1);
        assertEquals("encoder", encoderCall.get("method"));
        List<?> outs = (List<?>) encoderCall.get("outputs");
        PteTensor[] kv = new PteTensor[outs.size()];
        for (int i = 0; i < kv.length; i++) {
            Map<?, ?> spec = (Map<?, ?>) outs.get(i);
            kv[i] = PteTensor.fromRuntime((String) spec.get("dtype"), longs(spec.get("shape")), "kv" + i, NO_DATA);
        }
        PteModel.CrossKv cross = PteModel.crossKv("tiny.pte", kv, 0);
        assertEquals(4, cross.layers());
        PteTensor[] in = PteModel.decoderInputs(7, 3, cross);
        assertEquals(10, in.length);
        assertArrayEquals(new long[] {1, 1}, in[0].shape());
        assertArrayEquals(new long[] {7}, in[0].longs("token"));
        assertArrayEquals(new long[] {1}, in[1].shape());
        assertArrayEquals(new long[] {3}, in[1].longs("position"));
        for (int i = 0; i < 8; i++) {
            assertSame(kv[i], in[2 + i]);
        }
        // the same tensors with one layer's k and v swapped are refused: a swap cannot reach the decoder
        PteTensor[] swapped = kv.clone();
        swapped[2] = kv[3];
        swapped[3] = kv[2];
        try {
            PteModel.crossKv("tiny.pte", swapped, 0);
            fail("a swapped k/v pair must be refused");
        } catch (AsrException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("tiny.pte: encoder outputs 2 and 3 are float32[2, 8,"
                    + " 1500] and float32[2, 1500, 8]"));
        }
    }
}
