package org.myqasr.demo.core;

/**
 * The one method of a Wav2Vec2-CTC {@code .pte}: {@code forward(waveform float32 [1, N]) -> logits [1, T, V]}.
 * The app implements it with ExecuTorch; tests replay logits recorded from the Python runtime.
 */
public interface CtcMethods {
    Logits forward(float[] waveform) throws AsrException;
}
