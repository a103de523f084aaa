package org.myqasr.demo.core;

/** One opened {@code .pte}: ExecuTorch in the app, a fake or a fixture replay in tests. */
public interface LoadedModel {
    String[] methodNames() throws AsrException;

    /** Loads (plans, packs weights for) the named methods now, so that load time is measured as such. */
    void loadMethods(String[] names) throws AsrException;

    WhisperMethods whisper();

    CtcMethods ctc();

    void close();

    /** Opens a {@code .pte}. */
    interface Loader {
        LoadedModel load(java.io.File pte) throws AsrException;
    }
}
