package org.myqasr.demo.core;

import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The files of one {@code --target asr-runner} export, all in one folder: {@code model.pte} (methods
 * {@code encoder}, {@code text_decoder}, {@code sampler}), {@code model.ptd} (its external data: the token table
 * once), {@code preprocessor.pte} (ExecuTorch's WhisperAudioProcessor: 16 kHz PCM to log-mel features) and
 * {@code tokenizer.json} (Hugging Face); plus, when the export wrote it, the {@code model.vocab.json} sidecar
 * (decoding settings and checksums).
 */
public final class AsrRunnerFiles {
    public static final String PREPROCESSOR = "preprocessor.pte";
    public static final String TOKENIZER = "tokenizer.json";
    public static final String DATA_SUFFIX = ".ptd";

    public final File model;
    public final File data;
    public final File preprocessor;
    public final File tokenizer;
    /** {@code model.vocab.json} beside the model, or null. */
    public final File sidecar;

    AsrRunnerFiles(File model, File data, File preprocessor, File tokenizer, File sidecar) {
        this.model = model;
        this.data = data;
        this.preprocessor = preprocessor;
        this.tokenizer = tokenizer;
        this.sidecar = sidecar;
    }

    /** {@code model.pte} keeps its external data in {@code model.ptd}. */
    public static String dataNameFor(String pteName) {
        String stem = ModelFiles.isPte(pteName) ? pteName.substring(0, pteName.length() - ModelFiles.PTE.length())
                : pteName;
        return stem + DATA_SUFFIX;
    }

    /** The audio front end of an asr-runner export is a .pte too, but never a model to load. */
    public static boolean isPreprocessor(String name) {
        return PREPROCESSOR.equals(name.toLowerCase(Locale.ROOT));
    }

    /** The .pte files that are models (list order kept): every preprocessor.pte left out. */
    public static List<File> modelCandidates(List<File> ptes) {
        List<File> out = new ArrayList<File>();
        for (File f : ptes) {
            if (!isPreprocessor(f.getName())) {
                out.add(f);
            }
        }
        return out;
    }

    /** The first model among files just picked or copied (a .pte that is not preprocessor.pte), or null. */
    public static File pickedModel(List<File> files) {
        for (File f : files) {
            if (ModelFiles.isPte(f.getName()) && !isPreprocessor(f.getName())) {
                return f;
            }
        }
        return null;
    }

    /**
     * The folders and their immediate subfolders, in that order: each export can live in its own folder
     * (an asr-runner export's names are fixed, so two of them cannot share one).
     */
    public static List<File> withSubfolders(List<File> dirs) {
        List<File> out = new ArrayList<File>();
        for (File d : dirs) {
            if (d != null) {
                out.add(d);
            }
        }
        int top = out.size();
        for (int k = 0; k < top; k++) {
            File[] subs = out.get(k).listFiles();
            if (subs == null) {
                continue;
            }
            Arrays.sort(subs);
            for (File s : subs) {
                if (s.isDirectory()) {
                    out.add(s);
                }
            }
        }
        return out;
    }

    /**
     * The asr-runner files of {@code pte}, or null when it is a single-file model for the generic Module path.
     * Throws when the folder holds part of an asr-runner export, naming the files to push.
     */
    public static AsrRunnerFiles find(File pte) throws AsrException {
        File dir = pte.getAbsoluteFile().getParentFile();
        String[] names = dir == null ? null : dir.list();
        ModelPath.Choice choice = ModelPath.choose(pte.getName(),
                names == null ? new ArrayList<String>() : Arrays.asList(names));
        if (choice.path == ModelPath.MODULE) {
            return null;
        }
        if (!choice.complete()) {
            throw new AsrException(pte.getName() + " is an asr-runner export (AsrModule), but " + dir.getPath()
                    + " lacks " + join(choice.missing) + ": push model.pte, model.ptd, preprocessor.pte and"
                    + " tokenizer.json of the same export into one folder.");
        }
        File sidecar = new File(dir, ModelFiles.vocabNameFor(pte.getName()));
        return new AsrRunnerFiles(pte, new File(dir, dataNameFor(pte.getName())), new File(dir, PREPROCESSOR),
                new File(dir, TOKENIZER), sidecar.isFile() ? sidecar : null);
    }

    /** Bytes the phone stores for this model: .pte + .ptd + preprocessor + tokenizer. */
    public long totalBytes() {
        return model.length() + data.length() + preprocessor.length() + tokenizer.length();
    }

    /** e.g. "model.pte 12.3 MB + model.ptd 11.2 MB + preprocessor.pte 0.1 MB + tokenizer.json 2.5 MB = 26.1 MB". */
    public String describeSizes() {
        StringBuilder b = new StringBuilder();
        for (File f : new File[] {model, data, preprocessor, tokenizer}) {
            b.append(b.length() == 0 ? "" : " + ").append(f.getName())
                    .append(String.format(Locale.ROOT, " %.1f MB", f.length() / 1e6));
        }
        return b.append(String.format(Locale.ROOT, " = %.1f MB", totalBytes() / 1e6)).toString();
    }

    private static String join(List<String> names) {
        StringBuilder b = new StringBuilder();
        for (int k = 0; k < names.size(); k++) {
            b.append(k == 0 ? "" : k == names.size() - 1 ? " and " : ", ").append(names.get(k));
        }
        return b.toString();
    }
}
