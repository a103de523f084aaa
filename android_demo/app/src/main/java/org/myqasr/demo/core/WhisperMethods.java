package org.myqasr.demo.core;

/**
 * The three methods of a myqasr Whisper {@code .pte}. The app implements them with ExecuTorch; tests use
 * fixtures recorded in Python, so the greedy loop is checked without a runtime.
 */
public interface WhisperMethods {
    /** {@code preprocessor(pcm float32 [n_samples]) -> features [1, n_mels, 3000]}, flattened. */
    float[] preprocess(float[] pcm) throws AsrException;

    /** {@code encoder(features) -> hidden [1, 1500, d]}, kept opaque (it goes straight back to the model). */
    Object encode(float[] features) throws AsrException;

    /**
     * {@code text_decoder(input_ids int64 [1,1], hidden, cache_position int64 [1]) -> logits [1, 1, V]},
     * flattened to V values. Position 0 starts a new clip (the KV cache lives inside the model).
     */
    float[] decodeStep(long token, Object hidden, long position) throws AsrException;
}
