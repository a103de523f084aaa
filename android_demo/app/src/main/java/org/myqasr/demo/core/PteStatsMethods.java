package org.myqasr.demo.core;

/**
 * The statistics program ({@code myqasr export-stats}, myqasr_export.statsprogram) over a {@link PteProgram}:
 * <pre>
 *   preprocessor(pcm float32 [n_samples])                 -> features
 *   encoder(features, n_samples int64 [1])                -> k_0, v_0, ..., hist float32 [rows, bins],
 *                                                            moments float64 [rows, 6]
 *   text_decoder(token [1, 1], position [1], k_0, v_0, ...) -> logits [1, 1, V], hist, moments
 * </pre>
 */
public final class PteStatsMethods implements StatsMethods {
    private final PteProgram program;
    private final PteModel.Features features;

    public PteStatsMethods(PteProgram program) {
        this.program = program;
        this.features = new PteModel.Features(program);
    }

    @Override
    public float[] preprocess(float[] pcm) throws AsrException {
        return features.preprocess(pcm);
    }

    @Override
    public Call encode(float[] f, long nSamples) throws AsrException {
        PteTensor[] out = outputs("encoder", 4, features.input(f), PteTensor.longs(new long[] {nSamples}, 1));
        int n = out.length;
        return new Call(PteModel.crossKv(program.name(), out, 2), null, hist(out[n - 2], "encoder"),
                moments(out[n - 1], "encoder"));
    }

    @Override
    public Call decodeStep(long token, Object crossKv, long position) throws AsrException {
        PteModel.CrossKv kv = (PteModel.CrossKv) crossKv;
        PteTensor[] out = outputs("text_decoder", 3, PteModel.decoderInputs(token, position, kv));
        float[] logits = PteModel.lastRow(out[0].floats(PteModel.what(program, "text_decoder")), out[0].shape());
        return new Call(kv, logits, hist(out[1], "text_decoder"), moments(out[2], "text_decoder"));
    }

    private PteTensor[] outputs(String method, int atLeast, PteTensor... inputs) throws AsrException {
        PteTensor[] out = program.execute(method, inputs);
        if (out.length < atLeast) {
            throw new AsrException(program.name() + ": method '" + method + "' returned " + out.length
                    + " outputs: not a statistics program (export it with `myqasr export-stats`)");
        }
        return out;
    }

    private float[] hist(PteTensor t, String method) throws AsrException {
        return t.floats(program.name() + ": the histogram output of '" + method + "'");
    }

    private double[] moments(PteTensor t, String method) throws AsrException {
        return t.doubles(program.name() + ": the moments output of '" + method + "'");
    }

    public void close() {
        program.close();
    }
}
