package org.myqasr.demo.core;

import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;

/** Which files in the app's folders are models, vocabularies and clips, and which vocabulary goes with a model. */
public final class ModelFiles {
    public static final String PTE = ".pte";
    public static final String VOCAB = ".vocab.json";
    public static final String WAV = ".wav";

    private ModelFiles() {
    }

    public static boolean isPte(String name) {
        return name.toLowerCase(java.util.Locale.ROOT).endsWith(PTE);
    }

    public static boolean isVocab(String name) {
        return name.toLowerCase(java.util.Locale.ROOT).endsWith(VOCAB);
    }

    public static boolean isWav(String name) {
        return name.toLowerCase(java.util.Locale.ROOT).endsWith(WAV);
    }

    /** The sidecar myqasr writes for {@code model.pte} is {@code model.vocab.json}. */
    public static String vocabNameFor(String pteName) {
        return pteName.substring(0, pteName.length() - PTE.length()) + VOCAB;
    }

    /** The files of one kind (PTE, VOCAB or WAV) in the folders (missing ones skipped), newest first. */
    public static List<File> list(List<File> dirs, String kind) {
        List<File> out = new ArrayList<File>();
        for (File d : dirs) {
            File[] files = d == null ? null : d.listFiles();
            if (files == null) {
                continue;
            }
            for (File f : files) {
                String n = f.getName();
                boolean match = PTE.equals(kind) ? isPte(n) : VOCAB.equals(kind) ? isVocab(n) : isWav(n);
                if (f.isFile() && match) {
                    out.add(f);
                }
            }
        }
        Collections.sort(out, new Comparator<File>() {
            @Override
            public int compare(File a, File b) {
                int byTime = Long.valueOf(b.lastModified()).compareTo(a.lastModified());
                return byTime != 0 ? byTime : a.getName().compareTo(b.getName());
            }
        });
        return out;
    }

    /** The vocabulary for {@code pte}: its own sidecar if present, else the only candidate, else null. */
    public static File vocabFor(File pte, List<File> vocabs) {
        String want = vocabNameFor(pte.getName());
        for (File v : vocabs) {
            if (v.getName().equals(want) && v.getParentFile() != null && v.getParentFile().equals(pte.getParentFile())) {
                return v;
            }
        }
        for (File v : vocabs) {
            if (v.getName().equals(want)) {
                return v;
            }
        }
        return vocabs.size() == 1 ? vocabs.get(0) : null;
    }

    public static List<File> dirs(File... dirs) {
        return new ArrayList<File>(Arrays.asList(dirs));
    }
}
