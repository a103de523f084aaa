package org.myqasr.demo.core;

/**
 * The methods of the statistics program ({@code myqasr export-stats}, myqasr_export.statsprogram): a Whisper
 * {@code .pte} whose encoder and text_decoder also return one call's partial statistics of their layers. The app
 * implements them with ExecuTorch; tests script them.
 */
public interface StatsMethods {
    /** {@code preprocessor(pcm float32 [n_samples]) -> features [1, n_mels, 3000]}, flattened. */
    float[] preprocess(float[] pcm) throws AsrException;

    /** {@code encoder(features, n_samples int64 [1]) -> k_0, v_0, ..., hist, moments}. */
    Call encode(float[] features, long nSamples) throws AsrException;

    /** {@code text_decoder(token, position, k_0, v_0, ...) -> logits, hist, moments}. */
    Call decodeStep(long token, Object crossKv, long position) throws AsrException;

    /** One call's outputs: the cross K/V (encoder) or the logits (decoder), and the partial statistics. */
    final class Call {
        public final Object crossKv;
        public final float[] logits;
        public final float[] hist;
        public final double[] moments;

        public Call(Object crossKv, float[] logits, float[] hist, double[] moments) {
            this.crossKv = crossKv;
            this.logits = logits;
            this.hist = hist;
            this.moments = moments;
        }
    }
}
