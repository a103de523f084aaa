package org.myqasr.demo.core;

/**
 * The three methods of a myqasr Whisper {@code .pte}. The app implements them with ExecuTorch; tests use
 * fixtures recorded in Python, so the greedy loop is checked without a runtime.
 */
public interface WhisperMethods {
    /** {@code preprocessor(pcm float32 [n_samples]) -> features [1, n_mels, 3000]}, flattened. */
    float[] preprocess(float[] pcm) throws AsrException;

    /**
     * {@code encoder(features) -> k_0, v_0, ..., k_{L-1}, v_{L-1}}: the cross-attention keys and values of every
     * decoder layer, computed once per clip. Kept opaque: they go straight back to every {@link #decodeStep}.
     */
    Object encode(float[] features) throws AsrException;

    /**
     * {@code text_decoder(input_ids int64 [1,1], cache_position int64 [1], k_0, v_0, ...) -> logits [1, 1, V]},
     * flattened to V values; {@code crossKv} is what {@link #encode} returned. Positions count up from 0; position 0
     * starts a new clip (the self-attention cache lives inside the model).
     */
    float[] decodeStep(long token, Object crossKv, long position) throws AsrException;
}
