package org.myqasr.demo.core;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;

/**
 * Which ExecuTorch door a model goes through, decided from the files beside its {@code .pte}:
 * <ul>
 * <li>{@link #ASR_RUNNER}: a {@code myqasr personalize --target asr-runner} export, {@code model.pte} +
 * {@code model.ptd} (the token table, stored once) + {@code preprocessor.pte} + {@code tokenizer.json}, run by
 * ExecuTorch's own C++ Whisper loop through {@code AsrModule};</li>
 * <li>{@link #MODULE}: one self-contained {@code .pte} + {@code .vocab.json} ({@code --target module}), run by the
 * app's Java loop ({@link WhisperTranscriber}, {@link CtcTranscriber}) through the generic {@code Module}.</li>
 * </ul>
 * A {@code .ptd} beside the model decides: only the asr-runner export writes one, and the generic
 * {@code Module.load} could not use it.
 */
public enum ModelPath {
    ASR_RUNNER,
    MODULE;

    /** The decision for one model and what its path still lacks. */
    public static final class Choice {
        public final ModelPath path;
        /** File names the chosen path needs but the folder lacks (empty when complete). */
        public final List<String> missing;

        Choice(ModelPath path, List<String> missing) {
            this.path = path;
            this.missing = Collections.unmodifiableList(missing);
        }

        public boolean complete() {
            return missing.isEmpty();
        }
    }

    /**
     * The path for {@code pteName}, given the names of the files in its folder (the .pte itself may be among
     * them). The .ptd decides; preprocessor.pte + tokenizer.json without the .ptd and without a .vocab.json also
     * mean an asr-runner export (one that lost its .ptd), so the user is told what to push instead of seeing the
     * generic path fail on a missing vocabulary.
     */
    public static Choice choose(String pteName, Collection<String> folderNames) {
        boolean hasData = folderNames.contains(AsrRunnerFiles.dataNameFor(pteName));
        boolean hasPreprocessor = folderNames.contains(AsrRunnerFiles.PREPROCESSOR);
        boolean hasTokenizer = folderNames.contains(AsrRunnerFiles.TOKENIZER);
        boolean hasVocab = folderNames.contains(ModelFiles.vocabNameFor(pteName));
        List<String> missing = new ArrayList<String>();
        if (hasData) {
            if (!hasPreprocessor) {
                missing.add(AsrRunnerFiles.PREPROCESSOR);
            }
            if (!hasTokenizer) {
                missing.add(AsrRunnerFiles.TOKENIZER);
            }
            return new Choice(ASR_RUNNER, missing);
        }
        if (hasPreprocessor && hasTokenizer && !hasVocab) {
            missing.add(AsrRunnerFiles.dataNameFor(pteName));
            return new Choice(ASR_RUNNER, missing);
        }
        return new Choice(MODULE, missing);
    }
}
