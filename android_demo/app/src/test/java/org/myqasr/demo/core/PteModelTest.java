package org.myqasr.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.ArrayList;
import java.util.List;

import org.junit.Test;

/** The marshalling rules of {@link PteModel} and {@link PteStatsMethods} on hand-made tensors. */
public class PteModelTest {
    static PteTensor kv(long... shape) {
        return PteTensor.fromRuntime(PteTensor.FLOAT32, shape, new Object(), PteModelParityTest.NO_DATA);
    }

    @Test
    public void lastRowIsTheLastPosition() {
        float[] three = {1, 2, 3, 4, 5, 6};
        assertArrayEquals(new float[] {5, 6}, PteModel.lastRow(three, new long[] {1, 3, 2}), 0f);
        float[] one = {7, 8};
        assertSame(one, PteModel.lastRow(one, new long[] {1, 1, 2}));
        try {
            PteModel.lastRow(new float[5], new long[] {1, 1, 2});
            fail();
        } catch (IllegalArgumentException e) {
            assertEquals("logits [1, 1, 2] with 5 values have no last row", e.getMessage());
        }
    }

    @Test
    public void ctcLogitsNeedABatchOfOne() throws AsrException {
        Logits l = PteModel.ctcLogits("m.pte", new float[12], new long[] {1, 4, 3});
        assertEquals(4, l.rows);
        assertEquals(3, l.vocab);
        try {
            PteModel.ctcLogits("m.pte", new float[12], new long[] {2, 2, 3});
            fail();
        } catch (AsrException e) {
            assertEquals("m.pte: 'forward' returned shape [2, 2, 3], expected [1, frames, vocab]", e.getMessage());
        }
    }

    @Test
    public void crossKvRefusesTheOldContractAnOddCountAndAnotherLayout() {
        String[] messages = new String[3];
        PteTensor[][] cases = {
            {kv(1, 1500, 384)},
            {kv(6, 1500, 64), kv(6, 64, 1500), kv(6, 1500, 64)},
            {kv(6, 1500, 64), kv(6, 64, 1500), kv(6, 1500, 32), kv(6, 32, 1500)},
        };
        for (int i = 0; i < cases.length; i++) {
            try {
                PteModel.crossKv("m.pte", cases[i], 0);
                fail("case " + i);
            } catch (AsrException e) {
                messages[i] = e.getMessage();
            }
        }
        assertTrue(messages[0], messages[0].contains("returns hidden states, not the decoder's cross-attention K/V"));
        assertTrue(messages[1], messages[1].contains("returns 3 tensors"));
        assertTrue(messages[2], messages[2].startsWith("m.pte: encoder outputs 2 and 3 are float32[6, 1500, 32]"));
    }

    @Test
    public void encoderInputTakesThePreprocessorsShape() throws AsrException {
        final List<String> seen = new ArrayList<String>();
        PteProgram p = new Scripted(seen);
        WhisperMethods m = new PteModel(p).whisper();
        float[] f = m.preprocess(new float[10]);
        assertEquals(6, f.length);
        m.encode(f);
        assertEquals("preprocessor float32[10] -> 1", seen.get(0));
        assertEquals("encoder float32[1, 2, 3] -> 2", seen.get(1));
        try {
            m.encode(new float[5]);
            fail();
        } catch (AsrException e) {
            assertEquals("s.pte: encoder input of 5 values does not match the preprocessor's output [1, 2, 3]",
                    e.getMessage());
        }
    }

    @Test
    public void statsProgramCallsAndOutputs() throws AsrException {
        List<String> seen = new ArrayList<String>();
        PteStatsMethods m = new PteStatsMethods(new Scripted(seen));
        float[] f = m.preprocess(new float[10]);
        StatsMethods.Call enc = m.encode(f, 10);
        assertEquals("encoder float32[1, 2, 3] int64[1] -> 4", seen.get(1));
        assertArrayEquals(new float[] {1, 2}, enc.hist, 0f);
        assertArrayEquals(new double[] {3}, enc.moments, 0.0);
        StatsMethods.Call dec = m.decodeStep(5, enc.crossKv, 2);
        assertEquals("text_decoder int64[1, 1] int64[1] float32[2, 4, 3] float32[2, 3, 4] -> 3", seen.get(2));
        assertArrayEquals(new float[] {9, 9, 9}, dec.logits, 0f);
        assertSame(enc.crossKv, dec.crossKv);
    }

    @Test
    public void aProgramWithoutStatisticsOutputsIsNamed() throws AsrException {
        PteStatsMethods m = new PteStatsMethods(new Scripted(new ArrayList<String>()) {
            @Override
            public PteTensor[] execute(String method, PteTensor... inputs) throws AsrException {
                PteTensor[] all = super.execute(method, inputs);
                return "encoder".equals(method) ? java.util.Arrays.copyOf(all, 2) : all;
            }
        });
        try {
            m.encode(m.preprocess(new float[10]), 10);
            fail();
        } catch (AsrException e) {
            assertEquals("s.pte: method 'encoder' returned 2 outputs: not a statistics program (export it with"
                    + " `myqasr export-stats`)", e.getMessage());
        }
    }

    /** preprocessor -> [1, 2, 3]; encoder -> k [2, 4, 3], v [2, 3, 4] (+ hist, moments for 2 inputs). */
    static class Scripted implements PteProgram {
        final List<String> seen;

        Scripted(List<String> seen) {
            this.seen = seen;
        }

        @Override
        public String name() {
            return "s.pte";
        }

        @Override
        public String[] methodNames() {
            return new String[0];
        }

        @Override
        public void loadMethod(String method) {
        }

        @Override
        public PteTensor[] execute(String method, PteTensor... inputs) throws AsrException {
            PteTensor[] out;
            if ("preprocessor".equals(method)) {
                out = new PteTensor[] {PteTensor.floats(new float[6], 1, 2, 3)};
            } else if ("encoder".equals(method)) {
                PteTensor k = kv(2, 4, 3);
                PteTensor v = kv(2, 3, 4);
                out = inputs.length == 1 ? new PteTensor[] {k, v} : new PteTensor[] {k, v,
                    PteTensor.floats(new float[] {1, 2}, 1, 2), PteTensor.doubles(new double[] {3}, 1, 1)};
            } else {
                out = new PteTensor[] {PteTensor.floats(new float[] {0, 0, 0, 9, 9, 9}, 1, 2, 3),
                    PteTensor.floats(new float[] {1}, 1, 1), PteTensor.doubles(new double[] {1}, 1, 1)};
            }
            StringBuilder b = new StringBuilder(method);
            for (PteTensor t : inputs) {
                b.append(' ').append(t);
            }
            seen.add(b.append(" -> ").append(out.length).toString());
            return out;
        }

        @Override
        public void close() {
        }
    }
}
