package org.myqasr.demo.core;

import java.util.Arrays;
import java.util.List;

/** Checks that a {@code .pte} and a vocabulary belong together, with messages that say what to pick instead. */
public final class ModelCheck {
    public static final String[] WHISPER_METHODS = {"preprocessor", "encoder", "text_decoder"};
    public static final String[] CTC_METHODS = {"forward"};

    private ModelCheck() {
    }

    /** The methods the vocabulary's arch needs. */
    public static String[] requiredMethods(Vocab vocab) {
        return Vocab.ARCH_WHISPER.equals(vocab.arch) ? WHISPER_METHODS : CTC_METHODS;
    }

    /** The .pte must expose every method the vocabulary's arch needs. */
    public static void methods(String pteName, String[] methods, Vocab vocab) throws AsrException {
        List<String> have = Arrays.asList(methods);
        boolean whisper = Vocab.ARCH_WHISPER.equals(vocab.arch);
        String otherArch = whisper ? Vocab.ARCH_WAV2VEC2 : Vocab.ARCH_WHISPER;
        boolean looksLikeOther = have.containsAll(Arrays.asList(whisper ? CTC_METHODS : WHISPER_METHODS));
        for (String m : requiredMethods(vocab)) {
            if (!have.contains(m)) {
                throw new AsrException("Model/vocabulary mismatch: " + vocab.source + " is for a " + vocab.arch
                        + " model, which needs the method '" + m + "', but " + pteName + " has "
                        + Arrays.toString(methods) + (looksLikeOther ? " (a " + otherArch + " model)" : "")
                        + ". Pick the .vocab.json exported with this .pte.");
            }
        }
    }

    /** The model's output width must equal the number of tokens. */
    public static void vocabSize(int modelVocab, Vocab vocab) throws AsrException {
        if (modelVocab != vocab.tokens.length) {
            throw new AsrException("Model/vocabulary mismatch: the model outputs " + modelVocab + " logits per step but "
                    + vocab.source + " has " + vocab.tokens.length + " tokens. Pick the .vocab.json exported with"
                    + " this .pte.");
        }
    }

    /**
     * A warning (not an error: a re-export with another scheme keeps the same vocabulary) when the sidecar
     * names a different .pte; null when it matches or names none.
     */
    public static String shaWarning(String pteName, String pteSha256, Vocab vocab) {
        if (vocab.pteSha256 == null || vocab.pteSha256.isEmpty() || vocab.pteSha256.equalsIgnoreCase(pteSha256)) {
            return null;
        }
        return "Note: " + vocab.source + " was written for another .pte (sha256 " + abbrev(vocab.pteSha256)
                + ", " + pteName + " is " + abbrev(pteSha256) + ").";
    }

    private static String abbrev(String sha) {
        return sha.length() > 12 ? sha.substring(0, 12) + "…" : sha;
    }
}
