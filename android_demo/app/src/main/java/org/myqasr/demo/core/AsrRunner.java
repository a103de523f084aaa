package org.myqasr.demo.core;

import java.io.File;

/**
 * One asr-runner export opened with ExecuTorch's {@code AsrModule} (C++ greedy loop, tokenizer, token callback):
 * the app's {@code ExecuTorchAsrRunner}, a fake in tests.
 */
public interface AsrRunner {
    /** Loads the program, its methods, the .ptd and the tokenizer now, so that load time is measured as such. */
    void load() throws AsrException;

    /**
     * Transcribes a mono 16 kHz WAV (see {@link RunnerWav}); {@code pieces} gets each decoded piece as the runner
     * generates it, on the calling thread. Returns the runner's whole text, special tokens included.
     */
    String transcribe(File wav, RunnerConfig config, Pieces pieces) throws AsrException;

    void close();

    /** The token callback. */
    interface Pieces {
        void onPiece(String piece);
    }

    /** Opens an export's files (does not load yet). */
    interface Opener {
        AsrRunner open(AsrRunnerFiles files) throws AsrException;
    }
}
