package org.myqasr.demo.core;

import java.util.Arrays;

/**
 * A myqasr {@code .pte} as the app calls it, over any {@link PteProgram} (ExecuTorch in the app, the runtime's
 * recorded calls in JUnit). All tensor marshalling of the contract (myqasr_export.whisper, .wav2vec2) is here:
 * <pre>
 *   preprocessor(pcm float32 [n_samples])                  -> features float32 [1, n_mels, frames]
 *   encoder(features [as the preprocessor returned them])  -> k_0, v_0, ..., k_{L-1}, v_{L-1}
 *                                                             k_l float32 [H, T, D], v_l float32 [H, D, T]
 *   text_decoder(token int64 [1, 1], position int64 [1], k_0, v_0, ...) -> logits float32 [1, 1, V] (last row used)
 *   forward(waveform float32 [1, N])                       -> logits float32 [1, T, V]            (CTC)
 * </pre>
 */
public final class PteModel implements LoadedModel {
    private final PteProgram program;

    public PteModel(PteProgram program) {
        this.program = program;
    }

    @Override
    public String[] methodNames() throws AsrException {
        return program.methodNames();
    }

    @Override
    public void loadMethods(String[] names) throws AsrException {
        for (String m : names) {
            program.loadMethod(m);
        }
    }

    @Override
    public WhisperMethods whisper() {
        final Features features = new Features(program);
        return new WhisperMethods() {
            @Override
            public float[] preprocess(float[] pcm) throws AsrException {
                return features.preprocess(pcm);
            }

            @Override
            public Object encode(float[] f) throws AsrException {
                return crossKv(program.name(), program.execute("encoder", features.input(f)), 0);
            }

            @Override
            public float[] decodeStep(long token, Object crossKv, long position) throws AsrException {
                PteTensor[] out = program.execute("text_decoder", decoderInputs(token, position, (CrossKv) crossKv));
                return lastRow(out[0].floats(what(program, "text_decoder")), out[0].shape());
            }
        };
    }

    @Override
    public CtcMethods ctc() {
        return new CtcMethods() {
            @Override
            public Logits forward(float[] waveform) throws AsrException {
                PteTensor[] out = program.execute("forward", PteTensor.floats(waveform, 1, waveform.length));
                return ctcLogits(program.name(), out[0].floats(what(program, "forward")), out[0].shape());
            }
        };
    }

    @Override
    public void close() {
        program.close();
    }

    static String what(PteProgram p, String method) {
        return p.name() + ": the output of '" + method + "'";
    }

    /** The preprocessor call, and the encoder input built from its output with the shape it had. */
    static final class Features {
        private final PteProgram program;
        private long[] shape;

        Features(PteProgram program) {
            this.program = program;
        }

        float[] preprocess(float[] pcm) throws AsrException {
            PteTensor t = program.execute("preprocessor", pcmInput(pcm))[0];
            shape = t.shape();
            return t.floats(what(program, "preprocessor"));
        }

        PteTensor input(float[] features) throws AsrException {
            if (shape == null || PteTensor.numel(shape) != features.length) {
                throw new AsrException(program.name() + ": encoder input of " + features.length
                        + " values does not match the preprocessor's output " + Arrays.toString(shape));
            }
            return PteTensor.floats(features, shape);
        }
    }

    /** The preprocessor's input: the window of 16 kHz samples, 1-D. */
    public static PteTensor pcmInput(float[] pcm) {
        return PteTensor.floats(pcm, pcm.length);
    }

    /** The encoder's cross-attention K/V, in the order text_decoder takes them. */
    public static final class CrossKv {
        private final PteTensor[] tensors;

        CrossKv(PteTensor[] tensors) {
            this.tensors = tensors;
        }

        public int layers() {
            return tensors.length / 2;
        }

        public PteTensor get(int i) {
            return tensors[i];
        }

        public int size() {
            return tensors.length;
        }
    }

    /**
     * The encoder's outputs {@code [from, from + 2L)} as cross K/V, checked against the contract's layouts: pairs
     * (k [H, T, D], v [H, D, T]) of float32, the same H, T and D in every layer. A program of the old contract (one
     * hidden-states output) or a swapped pair is refused with a sentence.
     */
    public static CrossKv crossKv(String name, PteTensor[] outputs, int trailing) throws AsrException {
        int n = outputs.length - trailing;
        if (n < 2) {
            throw new AsrException(name + ": its encoder returns hidden states, not the decoder's cross-attention K/V"
                    + " (exported by an older myqasr): export it again");
        }
        if (n % 2 != 0) {
            throw new AsrException(name + ": its encoder returns " + n + " tensors; the decoder's cross-attention"
                    + " K/V come in pairs (k_l, v_l)");
        }
        long[] first = outputs[0].shape();
        for (int i = 0; i < n; i += 2) {
            long[] k = outputs[i].shape();
            long[] v = outputs[i + 1].shape();
            boolean ok = PteTensor.FLOAT32.equals(outputs[i].dtype) && PteTensor.FLOAT32.equals(outputs[i + 1].dtype)
                    && k.length == 3 && v.length == 3 && Arrays.equals(k, first)
                    && v[0] == k[0] && v[1] == k[2] && v[2] == k[1];
            if (!ok) {
                throw new AsrException(name + ": encoder outputs " + i + " and " + (i + 1) + " are " + outputs[i]
                        + " and " + outputs[i + 1] + "; layer " + i / 2 + "'s cross K/V must be float32 [H, T, D]"
                        + " and [H, D, T] (" + Arrays.toString(first) + " like layer 0)");
            }
        }
        return new CrossKv(Arrays.copyOf(outputs, n));
    }

    /** text_decoder's inputs: the token [1, 1] and its position [1] (int64), then every K/V in encoder order. */
    public static PteTensor[] decoderInputs(long token, long position, CrossKv kv) {
        PteTensor[] in = new PteTensor[2 + kv.size()];
        in[0] = PteTensor.longs(new long[] {token}, 1, 1);
        in[1] = PteTensor.longs(new long[] {position}, 1);
        for (int i = 0; i < kv.size(); i++) {
            in[2 + i] = kv.get(i);
        }
        return in;
    }

    /** The logits of the last position of a [..., T, V] output: its last V values. */
    public static float[] lastRow(float[] data, long[] shape) {
        if (shape.length == 0 || shape[shape.length - 1] <= 0 || data.length % shape[shape.length - 1] != 0) {
            throw new IllegalArgumentException("logits " + Arrays.toString(shape) + " with " + data.length
                    + " values have no last row");
        }
        int v = (int) shape[shape.length - 1];
        return data.length == v ? data : Arrays.copyOfRange(data, data.length - v, data.length);
    }

    /** CTC logits [1, T, V] or [T, V] as a T x V matrix. */
    public static Logits ctcLogits(String name, float[] data, long[] shape) throws AsrException {
        long v = shape.length == 0 ? 0 : shape[shape.length - 1];
        boolean batchOfOne = shape.length == 2 || shape.length == 3 && shape[0] == 1;
        if (!batchOfOne || v <= 0 || data.length % v != 0) {
            throw new AsrException(name + ": 'forward' returned shape " + Arrays.toString(shape)
                    + ", expected [1, frames, vocab]");
        }
        return new Logits(data, (int) (data.length / v), (int) v);
    }
}
